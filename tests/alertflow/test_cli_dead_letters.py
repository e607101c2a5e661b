"""`alertflow dead-letters list|show|reingest` on a SQLite store: the same re-ingest as the API's."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from alertflow.cli import app
from alertmodel import Alert, AuditEntry, migrate
from alertmodel.engine import make_engine
from tests.alertflow.api.ops import dead_letter

runner = CliRunner()


@pytest.fixture
def db_url(monkeypatch: pytest.MonkeyPatch, sqlite_database: str) -> str:
    migrate.upgrade(sqlite_database)
    monkeypatch.setenv("ALERTFLOW_DATABASE_URL", sqlite_database)
    return sqlite_database


def test_a_dead_letter_is_listed_shown_and_re_ingested_once_from_the_command_line(
    db_url: str, tmp_path: Path
) -> None:
    engine = make_engine(db_url)
    dead_id, whole = dead_letter(engine)
    fixed = tmp_path / "fixed.json"
    fixed.write_bytes(whole + b"\n")

    listed = runner.invoke(app, ["dead-letters", "list", "--pending"])
    shown = runner.invoke(app, ["dead-letters", "show", str(dead_id)])
    done = runner.invoke(app, ["dead-letters", "reingest", str(dead_id), "--content", str(fixed)])
    again = runner.invoke(app, ["dead-letters", "reingest", str(dead_id), "--content", str(fixed)])

    assert listed.exit_code == 0 and listed.stdout.startswith(f"{dead_id}\t")
    assert shown.stdout_bytes == whole[: len(whole) // 2] + b"\n"
    assert done.exit_code == 0, done.output
    assert f"dead letter {dead_id}: 1 stored, 0 already stored" in done.output
    assert again.exit_code == 1 and "re-ingested already" in again.output
    with engine.connect() as conn:
        assert len(conn.execute(select(Alert.__table__)).all()) == 1
        [entry] = conn.execute(select(AuditEntry.__table__)).all()
    assert entry.action == "dead_letter.reingest" and entry.actor.startswith("cli:")
    assert runner.invoke(app, ["dead-letters", "list", "--pending"]).stdout == ""
    engine.dispose()
