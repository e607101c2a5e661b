"""Fixtures shared by the whole suite: alert stores on SQLite and on a real MariaDB, a Prefect
server, loopback SSH hosts and an SMTP sink."""

from __future__ import annotations

import email
import email.message
import email.policy
import json
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPProtocol
from aiosmtpd.smtp import Envelope, Session

from alertflow.up.prefect_server import LocalPrefectServer, free_port
from alertmodel import migrate

MARIADB_HOST = os.environ.get("ALERTFLOW_TEST_MARIADB_HOST", "127.0.0.1")
MARIADB_PORT = int(os.environ.get("ALERTFLOW_TEST_MARIADB_PORT", "3306"))


def _mariadb_admin() -> pymysql.Connection:
    try:
        return pymysql.connect(
            host=MARIADB_HOST, port=MARIADB_PORT, user="root", password="", connect_timeout=5
        )
    except pymysql.MySQLError as exc:
        pytest.fail(
            f"MariaDB is not reachable at {MARIADB_HOST}:{MARIADB_PORT} ({exc}); "
            "start it with `bash scripts/services.sh up`",
            pytrace=False,
        )


@pytest.fixture
def mariadb_database() -> Iterator[str]:
    """A fresh, empty MariaDB database (URL), dropped afterwards."""
    with fresh_mariadb_database() as url:
        yield url


@contextmanager
def fresh_mariadb_database() -> Iterator[str]:
    """A fresh, empty MariaDB database (URL) for the block, dropped afterwards (for wider-scoped fixtures)."""
    name = f"alertflow_test_{uuid.uuid4().hex[:12]}"
    admin = _mariadb_admin()
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    try:
        yield f"mysql+pymysql://root@{MARIADB_HOST}:{MARIADB_PORT}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


@pytest.fixture
def sqlite_database(tmp_path: Path) -> str:
    """A URL of a new SQLite file."""
    return f"sqlite:///{tmp_path / 'alertflow.db'}"


@pytest.fixture(params=["sqlite", "mariadb"])
def database_url(request: pytest.FixtureRequest) -> str:
    """An empty database of each supported kind."""
    return request.getfixturevalue(f"{request.param}_database")


@pytest.fixture
def migrated_url(database_url: str) -> str:
    """An alert store of each supported kind, migrated to head."""
    migrate.upgrade(database_url)
    return database_url


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPrefectServer]:
    """One real Prefect server (SQLite, loopback, free port) for the whole test session.

    Also points this process's Prefect client at it (PREFECT_API_URL), so flows and
    `get_client()` in tests talk to it; subprocesses get `server.client_env()`.
    """
    from prefect.settings import PREFECT_API_URL, temporary_settings

    server = LocalPrefectServer(home=tmp_path_factory.mktemp("prefect-home"), port=free_port())
    try:
        server.start()
    except (RuntimeError, TimeoutError) as exc:
        pytest.fail(f"the test Prefect server did not start: {exc}", pytrace=False)
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            yield server
            # Send the runs' queued logs while the server still answers.
            from prefect.logging.handlers import APILogHandler

            APILogHandler().flush()
    finally:
        server.stop()


REPO = Path(__file__).resolve().parent.parent


@dataclass
class SshHosts:
    """OpenSSH servers started by scripts/test-hosts.sh; `inventory` is its inventory.json."""

    dir: Path
    inventory: dict[str, Any]

    @property
    def hosts(self) -> list[dict[str, Any]]:
        return self.inventory["hosts"]

    def profile(self, index: int = 0, **overrides: Any) -> Any:
        """A HostProfile block for host number `index`, with its pinned key and test login."""
        from blocks.credentials import CredentialProfile
        from blocks.host import HostProfile

        host = self.hosts[index]
        credential = CredentialProfile(username=host["user"], private_key=Path(host["key_path"]).read_text())
        fields: dict[str, Any] = {
            "name": host["name"],
            "address": host["address"],
            "port": host["port"],
            "credential": credential,
            "known_host_keys": [host["host_public_key"]],
        }
        return HostProfile(**{**fields, **overrides})

    def profiles(self) -> list[Any]:
        return [self.profile(i) for i in range(len(self.hosts))]


def start_ssh_hosts(directory: Path, count: int) -> SshHosts:
    """Run `scripts/test-hosts.sh start`; fail the test run loudly if sshd cannot start."""
    if not Path("/usr/sbin/sshd").exists() and shutil.which("sshd") is None:
        pytest.fail("sshd is missing: run `bash scripts/services.sh up`", pytrace=False)
    proc = subprocess.run(
        ["bash", str(REPO / "scripts/test-hosts.sh"), "start", str(directory), str(count)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        pytest.fail(f"scripts/test-hosts.sh start failed: {proc.stderr.strip()}", pytrace=False)
    return SshHosts(directory, json.loads((directory / "inventory.json").read_text()))


def stop_ssh_hosts(hosts: SshHosts) -> None:
    subprocess.run(["bash", str(REPO / "scripts/test-hosts.sh"), "stop", str(hosts.dir)], timeout=60)


@pytest.fixture(scope="session")
def ssh_hosts() -> Iterator[SshHosts]:
    """Five real OpenSSH servers on random loopback addresses, for the whole session.

    The directory is outside pytest's private tmp dir because the test user must read it.
    """
    directory = Path(tempfile.mkdtemp(prefix="alertflow-hosts-"))
    hosts = start_ssh_hosts(directory, 5)
    try:
        yield hosts
    finally:
        stop_ssh_hosts(hosts)
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class SmtpSink:
    """An in-process SMTP server on loopback that keeps every message it accepts."""

    host: str
    port: int
    messages: list[email.message.EmailMessage] = field(default_factory=list)
    envelopes: list[Envelope] = field(default_factory=list)

    async def handle_DATA(self, server: SMTPProtocol, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A real SMTP server (aiosmtpd) on a free loopback port; `.messages` are parsed EmailMessages."""
    sink = SmtpSink(host="127.0.0.1", port=free_port())
    controller = Controller(sink, hostname=sink.host, port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()
