"""`alertflow posture list|confirm|reports` over a real store."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from alertflow.cli.main import app
from alertmodel import migrate
from alertmodel.engine import make_engine
from alertmodel.posture import CheckResult, record_report


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'alerts.db'}"
    migrate.upgrade(url)
    monkeypatch.setenv("ALERTFLOW_DATABASE_URL", url)
    return url


def _report(url: str, ids: list[str], mode: str = "unconfirmed") -> list[str]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            checks = [CheckResult(check_id=i, title=f"Check {i}\x1b[2J", severity=2) for i in ids]
            outcome = record_report(session, "openscap", "web1", checks, mode=mode)
            session.commit()
    finally:
        engine.dispose()
    return [c.check_id for c in outcome.raised]


def test_confirming_a_listed_finding_stops_unconfirmed_mode_from_raising_it(store: str) -> None:
    _report(store, ["oval:a:def:1", "oval:b:def:1"])
    runner = CliRunner()
    listed = runner.invoke(app, ["posture", "list", "--host", "web1"])
    assert listed.exit_code == 0, listed.output
    lines = [line.split("\t") for line in listed.stdout.splitlines()]
    assert [(line[1], line[2], line[3], line[4]) for line in lines] == [
        ("web1", "openscap", "oval:a:def:1", "severity 2"),
        ("web1", "openscap", "oval:b:def:1", "severity 2"),
    ]
    assert "\x1b" not in listed.stdout  # scanner text cannot drive the terminal
    first_id = lines[0][0]

    confirmed = runner.invoke(app, ["posture", "confirm", first_id, "--by", "analyst1"])
    assert confirmed.exit_code == 0 and "1 of 1 findings confirmed" in confirmed.stdout

    assert _report(store, ["oval:a:def:1", "oval:b:def:1"]) == ["oval:b:def:1"]
    unconfirmed = runner.invoke(app, ["posture", "list", "--unconfirmed"])
    assert [line.split("\t")[3] for line in unconfirmed.stdout.splitlines()] == ["oval:b:def:1"]
    history = runner.invoke(app, ["posture", "reports", "--host", "web1"])
    assert [line.split("\t")[-1] for line in history.stdout.splitlines()] == ["raised 1", "raised 2"]


def test_an_unknown_report_type_is_refused_naming_the_choices(store: str) -> None:
    result = CliRunner().invoke(app, ["posture", "list", "--type", "nessus"])
    assert result.exit_code == 2
    assert "openscap, wazuh-sca, nmap" in result.output
