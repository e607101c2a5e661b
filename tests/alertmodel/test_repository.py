from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlmodel import Session, select

from alertmodel import ALERT_FIELD_WIDTHS, Alert, DeadLetter, dead_letter_key, migrate
from alertmodel.engine import make_engine
from alertmodel.repository import count_alerts, insert_alerts


def _alert_row(uuid: str, **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "alert_uuid": uuid,
        "node_id": "node-1",
        "source": "Wazuh",
        "type": "HOST",
        "event": "5712",
        "severity": 2,
        "time_collr": datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=UTC),
        "json_event": "{}",
    }
    row.update(overrides)
    return row


def test_alert_with_unicode_max_width_fields_and_64kb_event_round_trips(migrated_url: str) -> None:
    widest = {
        name: ("ß✓🔥" * width)[:width]
        for name, width in ALERT_FIELD_WIDTHS.items()
        if name not in {"alert_uuid", "severity"}
    }
    big_event = '{"data": "' + ("Ünïcødé 🚨 " * 8000)[:65_536] + '"}'
    assert len(big_event.encode()) > 65_536  # past MySQL TEXT's byte limit on purpose
    row = _alert_row("0f8fad5b-d9cb-469f-a165-70867728950e", **widest, json_event=big_event)
    row["time_collr"] = datetime(2026, 11, 23, 13, 0, 0, 654321, tzinfo=timezone(timedelta(hours=1)))
    engine = make_engine(migrated_url)
    try:
        with engine.begin() as conn:
            insert_alerts(conn, [row])
        with Session(engine) as session:
            stored = session.exec(select(Alert)).one()
    finally:
        engine.dispose()
    for name, value in widest.items():
        assert getattr(stored, name) == value, name
    assert stored.json_event == big_event
    assert stored.time_collr == datetime(2026, 11, 23, 12, 0, 0, 654321, tzinfo=UTC)
    assert stored.alert_id is not None


def test_storing_the_same_alert_uuid_twice_keeps_one_row(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    try:
        with engine.begin() as conn:
            insert_alerts(conn, [_alert_row("a-1"), _alert_row("a-2"), _alert_row("a-1", event="other")])
        with engine.begin() as conn:
            insert_alerts(conn, [_alert_row("a-2"), _alert_row("a-3")])
        with engine.connect() as conn:
            assert count_alerts(conn) == 3
        with Session(engine) as session:
            first = session.exec(select(Alert).where(Alert.alert_uuid == "a-1")).one()
    finally:
        engine.dispose()
    assert first.event == "5712"  # the first stored copy wins


def test_mariadb_refuses_a_value_wider_than_its_column_instead_of_cutting_it(mariadb_database: str) -> None:
    migrated_url = mariadb_database
    migrate.upgrade(migrated_url)
    engine = make_engine(migrated_url)
    try:
        with pytest.raises(Exception, match=r"Data too long|1406"), engine.begin() as conn:
            insert_alerts(conn, [_alert_row("a-wide", source="x" * 33)])
        with engine.connect() as conn:
            assert count_alerts(conn) == 0
    finally:
        engine.dispose()


def test_naive_datetimes_are_refused(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    try:
        with pytest.raises(Exception, match="naive datetime"), engine.begin() as conn:
            insert_alerts(conn, [_alert_row("a-naive", time_collr=datetime(2026, 1, 1))])
    finally:
        engine.dispose()


def test_dead_letter_keeps_raw_bytes_exactly(migrated_url: str) -> None:
    raw = b'{"rule": "\xff\xfe\xc3\x28' + b"A" * (1 << 20)
    engine = make_engine(migrated_url)
    try:
        with Session(engine) as session:
            session.add(
                DeadLetter(
                    source="wazuh",
                    origin="/var/log/x.json",
                    raw=raw,
                    reason="line 1: invalid UTF-8",
                    content_key=dead_letter_key("wazuh", raw),
                )
            )
            session.commit()
        with Session(engine) as session:
            stored = session.exec(select(DeadLetter)).one()
    finally:
        engine.dispose()
    assert stored.raw == raw
    assert stored.received_at.tzinfo is UTC
