"""`alertflow alerts list|show` on the configured store: the API's filters, pages and alert view."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from alertflow.cli import app
from alertmodel.catalog import CategoryProfile
from alertmodel.engine import make_engine
from alertmodel.types import utcnow
from tests.alertfactory import make_alert, store_batch

runner = CliRunner()


@pytest.fixture
def engine(migrated_url: str, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("ALERTFLOW_DATABASE_URL", migrated_url)
    engine = make_engine(migrated_url)
    yield engine  # type: ignore[misc]
    engine.dispose()


def _listed(*args: str) -> dict[str, object]:
    result = runner.invoke(app, ["alerts", "list", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_list_filters_by_address_severity_and_text_and_pages(engine: Engine) -> None:
    now = utcnow()
    rows = [
        make_alert(
            srcip=f"10.1.2.{i}",
            severity=i % 4,
            description=f"probe {i}",
            time_collr=now - timedelta(minutes=i),
        )
        for i in range(12)
    ]
    rows.append(make_alert(srcip="192.0.2.7", severity=3, description="'; DROP TABLE alert; -- %_"))
    store_batch(engine, rows)

    assert len(_listed("--srcip", "10.1.2.0/24")["items"]) == 12
    severe = _listed("--srcip", "10.1.2.0/24", "--severity", "3")["items"]
    assert sorted(a["srcip"] for a in severe) == ["10.1.2.11", "10.1.2.3", "10.1.2.7"]
    assert [a["srcip"] for a in _listed("-q", "DROP TABLE alert; -- %_")["items"]] == ["192.0.2.7"]
    assert [a["srcip"] for a in _listed("-q", "%")["items"]] == ["192.0.2.7"]  # a wildcard is data

    first = _listed("--srcip", "10.1.2.0/24", "--limit", "5")
    second = _listed("--srcip", "10.1.2.0/24", "--limit", "5", "--cursor", str(first["next_cursor"]))
    seen = [a["srcip"] for a in first["items"] + second["items"]]  # type: ignore[operator]
    assert seen == [f"10.1.2.{i}" for i in range(10)]


def test_list_by_categories_profile_matches_whole_categories_of_its_source(engine: Engine) -> None:
    store_batch(
        engine,
        [
            make_alert(source="Suricata", category="Web Application Attack", agent="a1"),
            make_alert(source="Suricata", category="Misc activity, Web Application Attack", agent="a2"),
            make_alert(source="Suricata", category="Web Application Attack Extra", agent="no-partial"),
            make_alert(source="Wazuh", category="Web Application Attack", agent="no-other-source"),
            make_alert(source="Suricata", category="Web_Application Attack", agent="no-wildcard"),
        ],
    )
    with engine.begin() as conn:
        conn.execute(
            CategoryProfile.__table__.insert().values(
                name="web", source_type="suricata", categories=["Web Application Attack"]
            )
        )
    agents = sorted(a["agent"] for a in _listed("--profile", "web")["items"])  # type: ignore[union-attr]
    assert agents == ["a1", "a2"]

    result = runner.invoke(app, ["alerts", "list", "--profile", "nope"])
    assert result.exit_code == 2
    assert "profile: no such categories profile" in result.stderr


def test_bad_filters_are_refused_naming_the_field(engine: Engine) -> None:
    result = runner.invoke(app, ["alerts", "list", "--srcip", "not-an-address"])
    assert result.exit_code == 2
    assert "srcip" in result.stderr and "IP address" in result.stderr
    result = runner.invoke(app, ["alerts", "list", "--cursor", "forged"])
    assert result.exit_code == 2
    assert "cursor: not a cursor from this listing" in result.stderr


def test_table_output_escapes_markup_and_show_prints_every_field(engine: Engine) -> None:
    alert = make_alert(
        description="[bold red]not markup[/]", json_event='{"alert": {"signature_id": 2013028}}'
    )
    store_batch(engine, [alert])

    result = runner.invoke(app, ["alerts", "list"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert "[bold red]not markup[/]" in result.stdout

    shown = runner.invoke(app, ["alerts", "show", str(alert["alert_uuid"]), "--json"])
    assert shown.exit_code == 0, shown.output
    view = json.loads(shown.stdout)
    assert view["alert_uuid"] == str(alert["alert_uuid"])
    assert view["json_event"] == {"alert": {"signature_id": 2013028}}
    assert "alert_id" not in view

    table = runner.invoke(app, ["alerts", "show", str(alert["alert_uuid"])], env={"COLUMNS": "400"})
    assert table.exit_code == 0, table.output
    assert "[bold red]not markup[/]" in table.stdout and '"signature_id": 2013028' in table.stdout

    missing = runner.invoke(app, ["alerts", "show", "00000000-0000-0000-0000-000000000000"])
    assert missing.exit_code == 1
    assert "no alert" in missing.stderr


def test_export_writes_every_matching_alert_to_a_file_or_stdout(engine: Engine, tmp_path: Path) -> None:
    store_batch(
        engine, [make_alert(agent="edge", severity=i % 4) for i in range(2500)] + [make_alert(agent="other")]
    )
    out = tmp_path / "alerts.jsonl"
    result = runner.invoke(app, ["alerts", "export", "--agent", "edge", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "exported 2500 alert(s) as jsonl" in result.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == len({a["alert_uuid"] for a in lines}) == 2500
    assert {a["agent"] for a in lines} == {"edge"}

    csv_out = runner.invoke(app, ["alerts", "export", "-f", "csv", "--agent", "edge", "--severity", "3"])
    assert csv_out.exit_code == 0, csv_out.output
    table = list(csv.DictReader(io.StringIO(csv_out.stdout)))
    assert len(table) == 625 and {r["severity"] for r in table} == {"3"}

    refused = runner.invoke(app, ["alerts", "export", "-f", "pdf"])
    assert refused.exit_code == 2
    assert "format" in refused.stderr


def test_export_as_ocsf_or_ecs_writes_one_schema_valid_document_per_matching_alert(
    engine: Engine, tmp_path: Path
) -> None:
    from tests.alertmodel.formats.schemas import ecs_problems, ocsf_problems

    alerts = [
        make_alert(agent="formats", severity=i % 4, srcip=f"192.0.2.{i}", user="<script>", file="/etc/shadow")
        for i in range(8)
    ]
    store_batch(engine, [*alerts, make_alert(agent="elsewhere", severity=3)])

    out = tmp_path / "alerts.ocsf.jsonl"
    result = runner.invoke(app, ["alerts", "export", "-f", "ocsf", "--agent", "formats", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "exported 8 alert(s) as ocsf" in result.stderr
    findings = [json.loads(line) for line in out.read_text().splitlines()]
    assert {f["finding_info"]["uid"] for f in findings} == {a["alert_uuid"] for a in alerts}
    assert all(ocsf_problems(f) == [] for f in findings)
    by_uid = {f["finding_info"]["uid"]: f for f in findings}
    assert [by_uid[a["alert_uuid"]]["severity_id"] for a in alerts[:4]] == [1, 2, 4, 5]

    ecs = runner.invoke(
        app, ["alerts", "export", "--format", "ecs", "--agent", "formats", "--min-severity", "2"]
    )
    assert ecs.exit_code == 0, ecs.output
    docs = [json.loads(line) for line in ecs.stdout.splitlines()]
    assert len(docs) == 4 and {d["event"]["severity"] for d in docs} == {2, 3}
    assert all(ecs_problems(d) == [] for d in docs)
    assert {d["user"]["name"] for d in docs} == {"<script>"} and {d["host"]["name"] for d in docs} == {
        "formats"
    }
