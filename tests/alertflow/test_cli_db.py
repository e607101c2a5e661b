"""`alertflow db stats | backup | restore` on the configured store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from alertflow.cli import app
from alertmodel import DeadLetter, dead_letter_key, migrate
from alertmodel.engine import make_engine
from alertmodel.types import utcnow
from tests.alertfactory import make_alert, store_batch

runner = CliRunner()


def _fill(engine: Engine, alerts: int, dead_letters: int) -> None:
    store_batch(engine, [make_alert(json_event="x" * 2000) for _ in range(alerts)])
    with engine.begin() as conn:
        conn.execute(
            DeadLetter.__table__.insert(),
            [
                {
                    "source": "wazuh",
                    "origin": "/var/log/a.json",
                    "raw": f"{{bad {i}".encode(),
                    "reason": "line 1: not JSON",
                    "content_key": dead_letter_key("wazuh", f"{{bad {i}".encode()),
                    "received_at": utcnow(),
                }
                for i in range(dead_letters)
            ],
        )


def test_stats_shows_rows_and_sizes_per_table(migrated_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTFLOW_DATABASE_URL", migrated_url)
    engine = make_engine(migrated_url)
    try:
        _fill(engine, alerts=300, dead_letters=7)
        if engine.dialect.name != "sqlite":
            with engine.connect() as conn:  # InnoDB's statistics catch up with the new rows
                conn.exec_driver_sql("ANALYZE TABLE alert, dead_letter")
    finally:
        engine.dispose()

    result = runner.invoke(app, ["db", "stats", "--json", "--exact"])

    assert result.exit_code == 0, result.output
    tables = {t["name"]: t for t in map(json.loads, result.output.splitlines())}
    assert (tables["alert"]["rows"], tables["dead_letter"]["rows"], tables["incident"]["rows"]) == (300, 7, 0)
    assert tables["alert"]["data_bytes"] >= 300 * 2000  # the json_events are in there
    assert tables["alert"]["index_bytes"] > 0
    assert next(iter(tables)) == "alert"  # largest first

    text = runner.invoke(app, ["db", "stats"])
    assert text.exit_code == 0, text.output
    alert_line = next(line for line in text.output.splitlines() if line.startswith("alert ")).split()
    if migrated_url.startswith("sqlite"):
        assert alert_line[1] == "300"
        assert text.output.splitlines()[-1].startswith("file ")  # and the file with its WAL
    else:
        assert alert_line[1].startswith("~")  # InnoDB's estimate unless --exact
    assert alert_line[-1] in ("KiB", "MiB")


def test_backup_and_restore_from_the_command_line(
    sqlite_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERTFLOW_DATABASE_URL", sqlite_database)
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    engine = make_engine(sqlite_database)
    try:
        _fill(engine, alerts=3, dead_letters=1)
        result = runner.invoke(app, ["db", "backup", str(tmp_path / "copy.db")])
        assert result.exit_code == 0, result.output
        store_batch(engine, [make_alert()])
    finally:
        engine.dispose()

    again = runner.invoke(app, ["db", "backup", str(tmp_path / "copy.db")])
    assert again.exit_code == 1 and "exists already" in again.output
    result = runner.invoke(app, ["db", "restore", str(tmp_path / "copy.db")])
    assert result.exit_code == 0, result.output
    stats = runner.invoke(app, ["db", "stats", "--json"]).output.splitlines()
    assert {t["name"]: t["rows"] for t in map(json.loads, stats)}["alert"] == 3


def test_backup_on_mariadb_points_to_mariadb_dump(
    mariadb_database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    migrate.upgrade(mariadb_database)
    monkeypatch.setenv("ALERTFLOW_DATABASE_URL", mariadb_database)
    result = runner.invoke(app, ["db", "backup", str(tmp_path / "never-written.db")])
    assert result.exit_code == 1 and "mariadb-dump --single-transaction" in result.output
    assert not (tmp_path / "never-written.db").exists()
