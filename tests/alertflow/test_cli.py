from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from typer.testing import CliRunner

from alertflow import __version__
from alertflow.cli import app
from alertmodel import migrate

HEAD = ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_current_head()

runner = CliRunner()


def test_help_lists_the_command_groups() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("version", "db", "config"):
        assert command in result.output


def test_console_script_prints_the_installed_version() -> None:
    script = Path(sys.executable).with_name("alertflow")
    out = subprocess.run([str(script), "version"], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == __version__ != "0.0.0+unknown"


def test_config_show_masks_the_database_password(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ALERTFLOW_DATABASE_URL", "mysql+pymysql://alert:s3cr%40t-pw@db.example:3306/alerts")
    monkeypatch.setenv("ALERTFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ALERTFLOW_LOG_LEVEL", "debug")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 0, result.output
    assert "s3cr" not in result.output
    assert "ALERTFLOW_DATABASE_URL=mysql+pymysql://alert:***@db.example:3306/alerts" in result.output
    assert f"ALERTFLOW_DATA_DIR={tmp_path}" in result.output
    assert "ALERTFLOW_LOG_LEVEL=DEBUG" in result.output


def test_config_show_defaults_to_sqlite_in_the_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("ALERTFLOW_DATABASE_URL", raising=False)
    monkeypatch.setenv("ALERTFLOW_DATA_DIR", str(tmp_path))
    result = runner.invoke(app, ["config", "show"])
    assert f"ALERTFLOW_DATABASE_URL=sqlite:///{tmp_path}/alertflow.db" in result.output


def test_an_unknown_log_level_is_refused_with_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTFLOW_LOG_LEVEL", "loud")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code != 0
    assert "DEBUG, INFO, WARNING, ERROR or CRITICAL" in str(result.exception)


def test_db_upgrade_creates_the_default_sqlite_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ALERTFLOW_DATABASE_URL", raising=False)
    monkeypatch.setenv("ALERTFLOW_DATA_DIR", str(tmp_path / "data"))
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "alertflow.db").is_file()
    assert migrate.current(f"sqlite:///{tmp_path / 'data' / 'alertflow.db'}") == HEAD


def test_db_upgrade_and_downgrade_on_mariadb(monkeypatch: pytest.MonkeyPatch, mariadb_database: str) -> None:
    monkeypatch.setenv("ALERTFLOW_DATABASE_URL", mariadb_database)
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert f"is at revision {HEAD}" in result.output
    assert runner.invoke(app, ["db", "current"]).output.strip() == HEAD
    result = runner.invoke(app, ["db", "downgrade", "base"])
    assert result.exit_code == 0, result.output
    assert migrate.current(mariadb_database) is None


def test_loading_the_cli_does_not_import_prefect() -> None:
    """Prefect adds ~40 MB to every process: the ingest worker's memory budget has no room for it."""
    code = "import sys, alertflow.cli.main; print(sorted(m for m in sys.modules if m.split('.')[0] == 'prefect'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
