"""Fixtures shared by the whole suite: alert stores on SQLite and on a real MariaDB."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from alertflow.local_prefect import LocalPrefectServer, free_port
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
    finally:
        server.stop()
