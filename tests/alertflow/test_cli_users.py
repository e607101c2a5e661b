"""`alertflow users`: add, list, disable, passwd, and tokens, against a real store."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from alertflow.api import accounts
from alertflow.cli import app
from alertmodel import migrate
from alertmodel.engine import make_engine

runner = CliRunner()


@pytest.fixture
def db_url(monkeypatch: pytest.MonkeyPatch, sqlite_database: str) -> str:
    migrate.upgrade(sqlite_database)
    monkeypatch.setenv("ALERTFLOW_DATABASE_URL", sqlite_database)
    return sqlite_database


def test_users_add_reads_the_password_from_stdin_and_list_shows_role_and_tenants(db_url: str) -> None:
    result = runner.invoke(
        app,
        [
            "users",
            "add",
            "ana",
            "--role",
            "analyst",
            "--tenant",
            "t-a",
            "--tenant",
            "t-b",
            "--password-stdin",
        ],
        input="correct horse\n",
    )
    assert result.exit_code == 0, result.output
    assert accounts.sign_in_with_password(make_engine(db_url), "ana", "correct horse") is not None
    listed = runner.invoke(app, ["users", "list"])
    assert listed.output.split("\n")[0].split("\t") == ["ana", "analyst", "t-a,t-b", "enabled", "0 tokens"]


def test_users_add_refuses_an_unknown_role_with_a_clean_error(db_url: str) -> None:
    result = runner.invoke(app, ["users", "add", "ana", "--role", "root", "--password-stdin"], input="x" * 12)
    assert result.exit_code == 1
    assert "role must be one of viewer, analyst, admin" in result.output


def test_users_disable_enable_and_passwd(db_url: str) -> None:
    engine = make_engine(db_url)
    runner.invoke(
        app, ["users", "add", "ana", "--role", "viewer", "--password-stdin"], input="correct horse\n"
    )
    assert runner.invoke(app, ["users", "disable", "ana"]).exit_code == 0
    assert accounts.sign_in_with_password(engine, "ana", "correct horse") is None
    assert runner.invoke(app, ["users", "enable", "ana"]).exit_code == 0
    result = runner.invoke(app, ["users", "passwd", "ana", "--password-stdin"], input="battery staple\n")
    assert result.exit_code == 0, result.output
    assert accounts.sign_in_with_password(engine, "ana", "battery staple") is not None
    assert runner.invoke(app, ["users", "disable", "nobody"]).exit_code == 1


def test_users_token_create_prints_the_secret_once_and_revoke_kills_it(db_url: str) -> None:
    engine = make_engine(db_url)
    runner.invoke(
        app, ["users", "add", "ana", "--role", "viewer", "--password-stdin"], input="correct horse\n"
    )
    created = runner.invoke(app, ["users", "token", "create", "ana", "--name", "ci", "--expires-days", "7"])
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("aft_")
    assert accounts.sign_in_with_token(engine, secret) is not None
    listed = runner.invoke(app, ["users", "token", "list", "ana"])
    assert secret not in listed.output and "\tci\t" in listed.output
    token_id = listed.output.split("\t")[0]
    assert runner.invoke(app, ["users", "token", "revoke", token_id]).exit_code == 0
    assert accounts.sign_in_with_token(engine, secret) is None
