"""Retention: what each policy removes, what it keeps, and that it deletes in short transactions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, event, select
from typer.testing import CliRunner

from alertflow.cli import app
from alertmodel import Alert, DeadLetter, Incident, Outbox, dead_letter_key
from alertmodel.engine import make_engine
from alertmodel.retention import RetentionPolicy, RetentionThread, prune
from tests.alertfactory import make_alert, store_batch
from tests.ingest.events import wait_for

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
OLD = NOW - timedelta(days=100)
RECENT = NOW - timedelta(days=1)


@pytest.fixture
def engine(migrated_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_url)
    yield engine
    engine.dispose()


def _alert(tag: str, when: datetime, severity: int = 1) -> dict:
    return make_alert(alert_uuid=f"00000000-0000-5000-8000-{tag:0>12}", time_collr=when, severity=severity)


def _dead_letter(tag: str, when: datetime) -> dict:
    raw = f"{{bad {tag}".encode()
    return {
        "source": "wazuh",
        "origin": "f",
        "raw": raw,
        "reason": "r",
        "content_key": dead_letter_key("wazuh", raw),
        "received_at": when,
    }


def _outbox(key: str, state: str, when: datetime) -> dict:
    return {
        "kind": "slack",
        "key": key,
        "payload": {},
        "state": state,
        "attempts": 1,
        "next_attempt_at": when,
        "created_at": when,
        "updated_at": when,
    }


def _left(engine: Engine, column: object) -> list:
    with engine.connect() as conn:
        return sorted(conn.execute(select(column)).scalars())  # type: ignore[call-overload]


def test_each_table_keeps_what_its_policy_keeps(engine: Engine) -> None:
    store_batch(
        engine,
        [
            _alert("1", OLD),  # old: pruned
            _alert("2", RECENT),  # recent: kept
            _alert("3", OLD, severity=3),  # old but critical, kept a year
            _alert("4", OLD),  # old, but an incident refers to it
            _alert("5", NOW - timedelta(days=400), severity=3),  # older than a year: pruned
        ],
    )
    with engine.begin() as conn:
        conn.execute(
            Incident.__table__.insert(),
            [
                {
                    "alert_uuid": _alert("4", OLD)["alert_uuid"],
                    "title": "t",
                    "state": "new",
                    "severity": 1,
                    "created_at": OLD,
                    "updated_at": OLD,
                }
            ],
        )
        conn.execute(DeadLetter.__table__.insert(), [_dead_letter("old", OLD), _dead_letter("new", RECENT)])
        conn.execute(
            Outbox.__table__.insert(),
            [
                _outbox("done-old", "done", OLD),
                _outbox("done-new", "done", RECENT),
                _outbox("failed-old", "failed", OLD),
                _outbox("pending-old", "pending", OLD),
            ],
        )
    policy = RetentionPolicy(
        alert_days=30, alert_days_by_severity={3: 365}, dead_letter_days=30, outbox_done_days=7
    )

    deleted = prune(engine, policy, now=NOW)

    assert deleted == {"alert": 2, "dead_letter": 1, "outbox": 1}
    assert [u[-1] for u in _left(engine, Alert.__table__.c.alert_uuid)] == ["2", "3", "4"]
    assert _left(engine, DeadLetter.__table__.c.raw) == [b"{bad new"]
    assert _left(engine, Outbox.__table__.c.key) == ["done-new", "failed-old", "pending-old"]
    assert prune(engine, policy, now=NOW) == {"alert": 0, "dead_letter": 0, "outbox": 0}


def test_alerts_are_kept_for_ever_unless_a_policy_says_otherwise(engine: Engine) -> None:
    store_batch(engine, [_alert("1", NOW - timedelta(days=3650))])
    assert prune(engine, RetentionPolicy(), now=NOW)["alert"] == 0
    assert len(_left(engine, Alert.__table__.c.alert_uuid)) == 1


def test_a_large_prune_is_many_short_transactions(engine: Engine) -> None:
    store_batch(engine, [_alert(str(i), OLD) for i in range(25)] + [_alert("99", RECENT)])
    commits: list[int] = []
    event.listen(engine, "commit", lambda conn: commits.append(1))

    deleted = prune(engine, RetentionPolicy(alert_days=30, batch_rows=10, pause_s=0), now=NOW)

    assert deleted["alert"] == 25
    assert len(commits) >= 3 + 2  # 10 + 10 + 5 alerts, then the dead letter and outbox passes
    assert [u[-2:] for u in _left(engine, Alert.__table__.c.alert_uuid)] == ["99"]


def test_db_prune_applies_the_retention_settings(
    engine: Engine, migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    store_batch(
        engine, [_alert("1", now - timedelta(days=40)), _alert("2", now - timedelta(days=40), severity=2)]
    )
    with engine.begin() as conn:
        conn.execute(DeadLetter.__table__.insert(), [_dead_letter("old", now - timedelta(days=31))])
    monkeypatch.setenv("ALERTFLOW_DATABASE_URL", migrated_url)
    monkeypatch.setenv("ALERTFLOW_RETAIN_ALERTS_DAYS", "30")
    monkeypatch.setenv("ALERTFLOW_RETAIN_ALERTS_DAYS_BY_SEVERITY", '{"2": 90}')

    result = CliRunner().invoke(app, ["db", "prune"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "alert: 1 deleted, dead_letter: 1 deleted, outbox: 0 deleted"
    assert [u[-1] for u in _left(engine, Alert.__table__.c.alert_uuid)] == ["2"]


def test_the_retention_thread_prunes_periodically_and_stops_between_batches(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(DeadLetter.__table__.insert(), [_dead_letter("1", OLD)])
    thread = RetentionThread(engine, RetentionPolicy(dead_letter_days=30), every_s=0.05)
    thread.start()
    try:
        wait_for(lambda: thread.passes >= 1, timeout=30, what="a first pass")
        assert _left(engine, DeadLetter.__table__.c.raw) == []
        with engine.begin() as conn:  # a later one goes at a later pass
            conn.execute(DeadLetter.__table__.insert(), [_dead_letter("2", OLD)])
        wait_for(lambda: not _left(engine, DeadLetter.__table__.c.raw), timeout=30, what="a later pass")
    finally:
        thread.stop()
    assert not thread.is_alive()
