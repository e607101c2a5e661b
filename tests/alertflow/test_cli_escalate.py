"""`alertflow incident escalate`: the API's escalation from the command line, once."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from pytest_httpserver import HTTPServer
from typer.testing import CliRunner

from alertflow.cli import app
from alertmodel import migrate
from alertmodel.engine import make_engine
from response.incidents import get_incident, open_incident
from tests.alertfactory import make_alert, store_batch
from tests.response.test_products import save_blocks, serve_products

runner = CliRunner()


@pytest.fixture
def db_url(monkeypatch: pytest.MonkeyPatch, sqlite_database: str) -> str:
    migrate.upgrade(sqlite_database)
    monkeypatch.setenv("ALERTFLOW_DATABASE_URL", sqlite_database)
    return sqlite_database


def test_an_incident_is_sent_to_jira_once_from_the_command_line(
    db_url: str, httpserver: HTTPServer, prefect_server: object
) -> None:
    suffix = uuid.uuid4().hex[:6]
    asyncio.run(save_blocks(httpserver, suffix))
    _hive, jira = serve_products(httpserver)
    engine = make_engine(db_url)
    alert = make_alert()
    store_batch(engine, [alert])
    incident = open_incident(engine, alert["alert_uuid"], actor="alice")
    command = [
        "incident",
        "escalate",
        str(incident.id),
        "--to",
        "jira",
        "--block",
        f"jira-{suffix}",
        "--by",
        "bob",
    ]

    first = runner.invoke(app, [*command, "--project", "SEC"])
    second = runner.invoke(app, command)

    assert first.exit_code == 0, first.output
    assert first.stdout == f"incident #{incident.id}: jira SEC-7\n"
    assert second.stdout == f"incident #{incident.id}: jira SEC-7 (sent before)\n"
    assert [key for key, _ in jira.filed] == ["SEC-7"]
    assert get_incident(engine, incident.id).incident.jira_key == "SEC-7"
    assert runner.invoke(app, ["incident", "escalate", str(incident.id), "--to", "mail"]).exit_code == 1
    engine.dispose()
