"""`alertflow ingest`, `alertflow ingest-file` and `alertflow policy load`."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from alertflow.cli import app
from alertmodel import Alert, AuditEntry, DeadLetter, dead_letter_key, migrate
from alertmodel.engine import make_engine
from ingest.checkpoint import load_position
from ingest.policy import DEFAULT_POLICY_PATH
from ingest.policy_source import DatabasePolicy
from ingest.sources.file import checkpoint_key
from tests.ingest.events import BAD_LINES, count_alerts, suricata_alerts, wait_for
from tests.integration.ingest_kit import WorkerProcess

runner = CliRunner()


@pytest.fixture
def store(sqlite_database: str, monkeypatch: pytest.MonkeyPatch) -> str:
    migrate.upgrade(sqlite_database)
    monkeypatch.setenv("ALERTFLOW_DATABASE_URL", sqlite_database)
    return sqlite_database


def _write(path: Path, lines: list[bytes]) -> Path:
    with path.open("ab") as fh:
        fh.write(b"".join(line + b"\n" for line in lines))
    return path


def test_ingest_file_imports_once_and_prints_a_summary(store: str, tmp_path: Path) -> None:
    events = _write(tmp_path / "eve.json", [*suricata_alerts(30, "cli"), *BAD_LINES])
    result = runner.invoke(app, ["ingest-file", str(events)])
    assert result.exit_code == 0, result.output
    assert "stored: 31" in result.stderr  # 30 + the one good line among the bad ones
    assert "dead-lettered: 3" in result.stderr

    again = runner.invoke(app, ["ingest-file", str(events)])
    assert "stored: 0" in again.stderr and "already stored: 31" in again.stderr
    engine = make_engine(store)
    assert count_alerts(engine) == (31, 31)
    engine.dispose()


def test_ingest_file_applies_a_policy_file(store: str, tmp_path: Path) -> None:
    events = _write(tmp_path / "eve.json", suricata_alerts(3, "policy"))
    result = runner.invoke(app, ["ingest-file", str(events), "--policy", str(DEFAULT_POLICY_PATH)])
    assert result.exit_code == 0, result.output
    engine = make_engine(store)
    with engine.connect() as conn:
        assert set(conn.execute(select(Alert.__table__.c.filter)).scalars()) == {"alertflow-default"}
    engine.dispose()


def test_ingest_file_caps_stored_raw_events_at_the_configured_sizes(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERTFLOW_JSON_EVENT_MAX_BYTES", "2048")
    monkeypatch.setenv("ALERTFLOW_DEAD_LETTER_MAX_BYTES", "1024")
    big = b'{"source": "Big", "event": 1, "info": "' + b"i" * 5000 + b'"}'
    events = _write(tmp_path / "big.json", [big, b"{broken " + b"b" * 5000])
    result = runner.invoke(app, ["ingest-file", str(events)])
    assert result.exit_code == 0, result.output
    engine = make_engine(store)
    with engine.connect() as conn:
        (event,) = conn.execute(select(Alert.__table__.c.json_event)).scalars()
        (raw,) = conn.execute(select(DeadLetter.__table__.c.raw)).scalars()
    engine.dispose()
    assert orjson.loads(event)["truncated"] is True and len(event) <= 2048
    assert len(raw) <= 1024 and raw.endswith(b" bytes]")


def test_ingest_refuses_an_unknown_source_and_an_http_source_without_token(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = runner.invoke(app, ["ingest", "--source", "ftp://x"])
    assert result.exit_code == 2 and "unknown source" in result.output
    monkeypatch.delenv("ALERTFLOW_INGEST_TOKEN", raising=False)
    result = runner.invoke(app, ["ingest", "--source", "http://127.0.0.1:9"])
    assert result.exit_code == 2 and "ALERTFLOW_INGEST_TOKEN" in result.output


def test_a_taken_metrics_port_is_refused_naming_it(store: str, tmp_path: Path) -> None:
    import socket

    events = _write(tmp_path / "eve.json", suricata_alerts(1, "port"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(
            app, ["ingest", "--no-dispatch", "--source", f"file:{events}", "--metrics-port", str(port)]
        )
    assert result.exit_code == 2, result.output
    assert f"cannot serve metrics on 127.0.0.1:{port}" in result.output


def test_ingest_refuses_a_short_token_naming_the_setting_and_how_to_make_one(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERTFLOW_INGEST_TOKEN", "guessable-token")
    result = runner.invoke(app, ["ingest", "--source", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "ALERTFLOW_INGEST_TOKEN is 15 bytes long" in result.stderr
    assert "secrets.token_urlsafe(32)" in result.stderr and "guessable-token" not in result.output


def test_policy_load_stores_and_activates_a_version_for_the_node(store: str) -> None:
    result = runner.invoke(app, ["policy", "load", str(DEFAULT_POLICY_PATH), "--node", "sensor-1"])
    assert result.exit_code == 0, result.output
    assert "version 1 of node 'sensor-1'" in result.output
    engine = make_engine(store)
    changed, policy = DatabasePolicy(engine, "sensor-1").poll()
    with engine.connect() as conn:  # the API's rollback reads activations from the audit log
        entry = conn.execute(select(AuditEntry.__table__)).one()
    engine.dispose()
    assert changed and policy is not None and policy.filter_name == "alertflow-default"
    assert (entry.action, entry.target, entry.before) == (
        "filter_policy.upload",
        "filter-policy/sensor-1",
        {"active_version": None},
    )
    assert entry.actor.startswith("cli:") and entry.after["active_version"] == 1


def test_policy_load_refuses_an_invalid_file(store: str, tmp_path: Path) -> None:
    bad = tmp_path / "filters.json"
    bad.write_text('{"sources": {"nids": {"severity": "high"}}}')
    result = runner.invoke(app, ["policy", "load", str(bad), "--node", "n"])
    assert result.exit_code == 1
    assert f"{bad}: sources.nids.severity" in result.stderr


def test_sigterm_drains_the_tailing_worker_and_its_checkpoint_covers_every_stored_line(
    store: str, tmp_path: Path
) -> None:
    events = _write(tmp_path / "eve.json", suricata_alerts(500, "term"))
    engine = make_engine(store)
    proc = WorkerProcess(
        ["--source", f"file:{events}", "--batch-wait", "0.05"],
        {"ALERTFLOW_DATABASE_URL": store},
        tmp_path / "worker.log",
    )
    try:
        wait_for(lambda: count_alerts(engine)[0] >= 500, timeout=120, what="the first 500 alerts")
        _write(events, suricata_alerts(500, "term", start=500))
        wait_for(lambda: count_alerts(engine)[0] >= 600, timeout=120, what="the appended alerts")
    finally:
        code = proc.terminate()
    assert code == 0, proc.tail()
    assert "SIGTERM received" in proc.tail()
    stored, _ = count_alerts(engine)
    with engine.connect() as conn:
        position = load_position(conn, checkpoint_key(events))
    engine.dispose()
    assert position is not None and position.inode == os.stat(events).st_ino
    # the checkpoint ends exactly after the last stored line: nothing skipped, nothing stored twice
    lines_before = events.read_bytes()[: position.offset].count(b"\n")
    assert lines_before == stored


def test_an_https_source_serves_tls_with_the_given_certificate(store: str, tmp_path: Path) -> None:
    import ssl
    import subprocess
    import sys

    import httpx

    from alertflow.up.prefect_server import free_port
    from tests.tls_files import self_signed

    cert, key = self_signed(tmp_path)
    port = free_port()
    env = {**os.environ, "ALERTFLOW_DATABASE_URL": store, "ALERTFLOW_INGEST_TOKEN": "t" * 32}
    args = ["--source", f"https://127.0.0.1:{port}", "--tls-certfile", str(cert), "--tls-keyfile", str(key)]
    worker = subprocess.Popen(
        [sys.executable, "-m", "alertflow", "ingest", "--no-dispatch", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    verify = ssl.create_default_context(cafile=str(cert))
    answers: list[httpx.Response] = []

    def answered() -> bool:
        try:
            answers.append(
                httpx.post(
                    f"https://127.0.0.1:{port}/ingest",
                    content=b"\n".join(suricata_alerts(2, "tls")),
                    headers={"Authorization": f"Bearer {'t' * 32}"},
                    verify=verify,
                    timeout=30,
                )
            )
        except httpx.ConnectError:
            return False
        return True

    try:
        wait_for(answered, timeout=60, what="the HTTPS endpoint")
        assert answers[-1].status_code == 202, answers[-1].text
        with pytest.raises(httpx.HTTPError):  # no plain HTTP on that port
            httpx.post(f"http://127.0.0.1:{port}/ingest", content=b"", timeout=10)
    finally:
        worker.terminate()
        worker.wait(60)


def test_an_https_source_without_its_certificate_is_refused(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERTFLOW_INGEST_TOKEN", "t" * 32)
    monkeypatch.setenv("COLUMNS", "200")
    result = runner.invoke(app, ["ingest", "--no-dispatch", "--source", "https://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "an https:// source needs --tls-certfile and --tls-keyfile" in result.output


def test_the_worker_applies_the_retention_settings_when_asked(store: str, tmp_path: Path) -> None:
    engine = make_engine(store)
    with engine.begin() as conn:
        conn.execute(
            DeadLetter.__table__.insert(),
            [
                {
                    "source": "wazuh",
                    "origin": "old",
                    "raw": b"{old",
                    "reason": "r",
                    "content_key": dead_letter_key("wazuh", b"{old"),
                    "received_at": datetime.now(UTC) - timedelta(days=10),
                }
            ],
        )
    events = _write(tmp_path / "eve.json", [*suricata_alerts(5, "prune"), b"{new and bad"])
    proc = WorkerProcess(
        ["--source", f"file:{events}", "--batch-wait", "0.05", "--prune-every", "0.2"],
        {"ALERTFLOW_DATABASE_URL": store, "ALERTFLOW_RETAIN_DEAD_LETTERS_DAYS": "7"},
        tmp_path / "worker.log",
    )
    try:
        wait_for(lambda: count_alerts(engine)[0] >= 5, timeout=120, what="the alerts")

        def origins() -> list[str]:
            with engine.connect() as conn:
                return list(conn.execute(select(DeadLetter.__table__.c.origin)).scalars())

        wait_for(
            lambda: len(origins()) == 1 and origins()[0] != "old",
            timeout=60,
            what="the old dead letter pruned",
        )
    finally:
        code = proc.terminate()
        engine.dispose()
    assert code == 0, proc.tail()
