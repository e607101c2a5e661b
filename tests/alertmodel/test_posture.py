"""Posture findings per host and check: the three Alertflex modes, returning findings, history."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from alertmodel import migrate
from alertmodel.engine import make_engine
from alertmodel.posture import (
    CheckResult,
    confirm_findings,
    list_findings,
    record_report,
    report_findings,
    report_history,
)

T0 = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def check(check_id: str, severity: int = 2) -> CheckResult:
    return CheckResult(check_id=check_id, title=f"title of {check_id}", severity=severity)


@pytest.fixture
def engine(migrated_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_url)
    yield engine
    engine.dispose()


def report(engine: Engine, ids: list[str], mode: str, n: int, host: str = "web1") -> list[str]:
    """Record a report of `host` with those failed checks; the ids raised."""
    with Session(engine) as session:
        outcome = record_report(
            session, "openscap", host, [check(i) for i in ids], mode=mode, now=T0 + timedelta(days=n)
        )
        session.commit()
    return [c.check_id for c in outcome.raised]


def test_new_mode_raises_only_what_the_previous_report_lacked_and_a_returning_finding_again(
    engine: Engine,
) -> None:
    assert report(engine, ["a", "b"], "new", 0) == ["a", "b"]
    assert report(engine, ["a", "b"], "new", 1) == []
    assert report(engine, ["a", "b", "c"], "new", 2) == ["c"]
    assert report(engine, ["a", "c"], "new", 3) == []  # b resolved
    assert report(engine, ["a", "b", "c"], "new", 4) == ["b"]  # b came back: new again
    assert report(engine, ["a", "b", "c"], "new", 5, host="web2") == ["a", "b", "c"]  # per host


def test_all_mode_raises_every_finding_of_every_report(engine: Engine) -> None:
    assert report(engine, ["a", "b"], "all", 0) == ["a", "b"]
    assert report(engine, ["a", "b"], "all", 1) == ["a", "b"]


def test_unconfirmed_mode_skips_confirmed_findings_until_they_return(engine: Engine) -> None:
    assert report(engine, ["a", "b"], "unconfirmed", 0) == ["a", "b"]
    with Session(engine) as session:
        a = next(f for f in list_findings(session, host="web1") if f.check_id == "a")
        assert confirm_findings(session, [a.id], by="analyst1") == 1  # type: ignore[list-item]
        session.commit()
    assert report(engine, ["a", "b"], "unconfirmed", 1) == ["b"]
    assert report(engine, ["b"], "unconfirmed", 2) == ["b"]
    assert report(engine, ["a", "b"], "unconfirmed", 3) == ["a", "b"]  # a returned: unconfirmed again


def test_report_history_keeps_each_reports_findings_and_which_were_new(engine: Engine) -> None:
    report(engine, ["a", "b"], "new", 0)
    report(engine, ["b", "c"], "new", 1)
    with Session(engine) as session:
        latest, first = report_history(session, host="web1")
        assert (latest.findings, latest.new, latest.resolved, latest.raised) == (2, 1, 1, 1)
        assert (first.findings, first.new, first.resolved, first.raised) == (2, 2, 0, 2)
        assert [(f.check_id, new) for f, new in report_findings(session, first.id)] == [
            ("a", True),
            ("b", True),
        ]  # type: ignore[arg-type]
        assert [(f.check_id, new) for f, new in report_findings(session, latest.id)] == [
            ("b", False),
            ("c", True),
        ]  # type: ignore[arg-type]
        present = {f.check_id for f in list_findings(session, host="web1")}
        everything = {f.check_id: f.present for f in list_findings(session, host="web1", present_only=False)}
    assert present == {"b", "c"}
    assert everything == {"a": False, "b": True, "c": True}


def test_an_unknown_mode_is_refused_with_the_choices(engine: Engine) -> None:
    with Session(engine) as session, pytest.raises(ValueError, match="all, unconfirmed, new"):
        record_report(session, "openscap", "web1", [], mode="fresh")


def test_a_severity_outside_0_to_3_is_refused() -> None:
    with pytest.raises(ValueError):
        CheckResult(check_id="a", title="t", severity=4)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_upgraded_store_starts_with_no_findings(database_url: str) -> None:
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            assert list_findings(session) == []
    finally:
        engine.dispose()
