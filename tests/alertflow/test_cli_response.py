"""The response commands: profiles, outbox, incident, playbook-runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from alertflow.cli import app
from alertflow.up.prefect_server import free_port
from alertmodel import Outbox, migrate
from alertmodel.engine import make_engine
from alertmodel.types import utcnow
from response.dispatcher import list_outbox
from tests.alertfactory import make_alert, store_batch

runner = CliRunner()
EXAMPLE = Path(__file__).parents[1] / "fixtures" / "profiles" / "example.yaml"


@pytest.fixture
def db_url(monkeypatch: pytest.MonkeyPatch, sqlite_database: str) -> str:
    migrate.upgrade(sqlite_database)
    monkeypatch.setenv("ALERTFLOW_DATABASE_URL", sqlite_database)
    return sqlite_database


def test_profiles_import_export_and_list(db_url: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["profiles", "import", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "imported 4 response profiles, 2 category profiles, 1 user groups" in result.output
    exported = tmp_path / "out.yaml"
    assert runner.invoke(app, ["profiles", "export", "-o", str(exported)]).exit_code == 0
    again = runner.invoke(app, ["profiles", "import", str(exported)])
    assert again.exit_code == 0, again.output
    listing = runner.invoke(app, ["profiles", "list"]).output.splitlines()
    assert listing == [
        "escalate\taction only\tjira\t",
        "nmap-scan\tevent Suricata/2019284\tplaybook,email\trate 3/600s by srcip",
        "scan-category\tcategories scans\tincident\tgroup by srcip 300s",
        "wazuh-night (disabled)\tcategories all-wazuh\tslack\t",
    ]


def test_profiles_import_refuses_a_bad_file_and_stores_nothing(db_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "response_profiles:\n  - name: p\n    match: {severity: nine}\n    actions: [{kind: incident}]\n"
    )
    result = runner.invoke(app, ["profiles", "import", str(bad)])
    assert result.exit_code == 1
    assert (
        f"error: {bad}: response_profiles[0].match.severity: Input should be a valid integer" in result.output
    )
    assert runner.invoke(app, ["profiles", "list"]).output == ""


def test_outbox_list_failed_and_retry(db_url: str) -> None:
    engine = make_engine(db_url)
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            Outbox.__table__.insert(),
            [
                {"kind": "slack", "key": "a:p:0", "payload": {}, "state": "failed", "attempts": 8,
                 "next_attempt_at": now, "last_error": "IntegrationError: no Slack block configured",
                 "created_at": now, "updated_at": now},
                {"kind": "playbook", "key": "b:p:0", "payload": {}, "state": "done", "attempts": 1,
                 "next_attempt_at": now, "last_error": None, "created_at": now, "updated_at": now},
            ],
        )  # fmt: skip
    failed = runner.invoke(app, ["outbox", "list", "--failed"])
    assert failed.exit_code == 0
    assert "1\tfailed\tslack\t8\ta:p:0\tIntegrationError: no Slack block configured" in failed.output
    assert "b:p:0" not in failed.output
    retried = runner.invoke(app, ["outbox", "retry"])
    assert "1 failed rows are pending again" in retried.output
    assert [(r.key, r.state, r.attempts) for r in list_outbox(engine, state="pending")] == [
        ("a:p:0", "pending", 0)
    ]
    engine.dispose()


def test_incident_commands_open_move_show_and_list(db_url: str) -> None:
    engine = make_engine(db_url)
    alert = make_alert()
    store_batch(engine, [alert])
    engine.dispose()
    opened = runner.invoke(app, ["incident", "open", alert["alert_uuid"], "-m", "seen it", "--by", "alice"])
    assert opened.output.strip() == f"incident #1 opened for alert {alert['alert_uuid']}"
    assert runner.invoke(app, ["incident", "state", "1", "in_progress", "--by", "bob"]).output.strip() == (
        "incident #1 is in_progress"
    )
    refused = runner.invoke(app, ["incident", "state", "1", "closed", "--by", "bob"])
    assert refused.exit_code == 1
    assert "error: incident #1 is in_progress; it can go to resolved, not closed" in refused.output
    shown = runner.invoke(app, ["incident", "show", "1"]).output.splitlines()
    assert shown[0] == f"#1 in_progress severity 2 alert {alert['alert_uuid']} assignee -"
    assert shown[2].endswith("\talice\t- -> new\tseen it")
    assert shown[3].endswith("\tbob\tnew -> in_progress\t")
    assert runner.invoke(app, ["incident", "list", "--state", "new"]).output == ""
    assert runner.invoke(app, ["incident", "list", "--state", "in_progress"]).output.startswith(
        "#1\tin_progress\t2\t"
    )


def test_playbook_runs_lists_without_asking_prefect(db_url: str) -> None:
    result = runner.invoke(app, ["playbook-runs", "--no-refresh"])
    assert result.exit_code == 0 and result.output == ""


def test_dispatch_once_performs_what_is_due_and_reports(db_url: str, prefect_server: object) -> None:
    engine = make_engine(db_url)
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            Outbox.__table__.insert(),
            [
                {"kind": "jira", "key": "c:p:0", "state": "pending", "attempts": 0,
                 "payload": {"profile": "p", "action_index": 0, "alert_uuid": "c", "action": {"kind": "jira", "block": "nowhere"}},
                 "next_attempt_at": now, "last_error": None, "created_at": now, "updated_at": now},
            ],
        )  # fmt: skip
    result = runner.invoke(app, ["dispatch", "--once", "--max-attempts", "1"])
    assert result.exit_code == 0, result.output
    assert "dispatched: 0 done, 1 failed, 0 retried" in result.output
    [row] = list_outbox(engine, state="failed")
    assert (
        row.last_error
        == "IntegrationError: no alertflow JIRA Site block 'nowhere' configured; create it in the Prefect UI "
        "after `alertflow blocks register`"
    )
    engine.dispose()


def test_dispatch_refuses_to_run_without_a_prefect_server(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.setenv("ALERTFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ALERTFLOW_UP_PREFECT_PORT", str(free_port()))
    with temporary_settings(updates={PREFECT_API_URL: None}):
        result = runner.invoke(app, ["dispatch", "--once"])
    assert result.exit_code == 2
    assert "error: no Prefect server answers at http://127.0.0.1:" in result.output
