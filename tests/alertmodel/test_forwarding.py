"""Forwarder cursors and the batches they read, on SQLite and MariaDB."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from alertmodel import CategoryProfile
from alertmodel.catalog import UnknownProfileError
from alertmodel.engine import make_engine
from alertmodel.forwarding import (
    advance_cursor,
    alerts_after,
    dead_letter_forward,
    forward_filter,
    read_cursor,
    start_cursor_at_end,
)
from tests.alertfactory import make_alert, store_batch


@pytest.fixture
def engine(migrated_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_url)
    yield engine
    engine.dispose()


def test_a_cursor_starts_at_zero_moves_forward_and_never_back(engine: Engine) -> None:
    with engine.begin() as conn:
        assert read_cursor(conn, "graylog") == 0
        advance_cursor(conn, "graylog", 40)
        advance_cursor(conn, "graylog", 25)
        advance_cursor(conn, "other", 7)
        assert read_cursor(conn, "graylog") == 40
        assert read_cursor(conn, "other") == 7


def test_a_new_forwarder_starts_at_the_newest_alert_and_an_existing_one_keeps_its_place(
    engine: Engine,
) -> None:
    store_batch(engine, [make_alert() for _ in range(3)])
    with engine.begin() as conn:
        assert start_cursor_at_end(conn, "new") == 3
        advance_cursor(conn, "old", 1)
        assert start_cursor_at_end(conn, "old") == 1


def test_alerts_after_reads_a_window_of_ids_and_filters_inside_it(engine: Engine) -> None:
    rows = [make_alert(severity=i % 4, source="Suricata" if i % 2 else "Wazuh") for i in range(10)]
    store_batch(engine, rows)
    with engine.connect() as conn:
        batch, upto = alerts_after(conn, 0, 4)
        assert [r["alert_id"] for r in batch] == [1, 2, 3, 4] and upto == 4
        clauses = forward_filter(conn, 2, ["suricata"], None)
        batch, upto = alerts_after(conn, 0, 4, clauses)
        # ids 1..4 hold severities 0..3, sources Wazuh/Suricata alternating: only id 4 (sev 3, Suricata)
        assert [r["alert_id"] for r in batch] == [4] and upto == 4
        batch, upto = alerts_after(conn, 4, 100, clauses)
        assert [(r["severity"], r["source"]) for r in batch] == [(3, "Suricata")] and upto == 10
        assert alerts_after(conn, 10, 100) == ([], 10)


def test_a_categories_profile_filter_matches_whole_categories_of_its_source(engine: Engine) -> None:
    store_batch(
        engine,
        [
            make_alert(source="Suricata", category="Web Application Attack, Attempted Admin"),
            make_alert(source="Suricata", category="Web Application Attacks"),
            make_alert(source="Wazuh", category="Web Application Attack"),
            make_alert(source="Suricata", category="Misc activity"),
        ],
    )
    with engine.begin() as conn:
        conn.execute(
            CategoryProfile.__table__.insert(),
            [{"name": "web", "source_type": "suricata", "categories": ["Web Application Attack"]}],
        )
        batch, _ = alerts_after(conn, 0, 100, forward_filter(conn, 0, [], "web"))
        assert [r["alert_id"] for r in batch] == [1]
        with pytest.raises(UnknownProfileError):
            forward_filter(conn, 0, [], "nope")


def test_a_refused_forward_is_a_dead_letter_kept_once(engine: Engine) -> None:
    with engine.begin() as conn:
        for _ in range(2):
            dead_letter_forward(conn, "es", "elasticsearch http://127.0.0.1", b'{"a":1}', "HTTP 400 mapping")
        rows = conn.exec_driver_sql("SELECT source, origin, reason FROM dead_letter").all()
    assert [tuple(r) for r in rows] == [("forward:es", "elasticsearch http://127.0.0.1", "HTTP 400 mapping")]
