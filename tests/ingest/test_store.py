from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import orjson
import pytest
from sqlalchemy import Connection, Engine, func, select

from alertmodel import Alert, Category, DeadLetter
from alertmodel.engine import chunk_sizes, make_engine
from ingest.batch import Batch, DeadLetterItem
from ingest.checkpoint import FilePosition, load_position
from ingest.core import IngestCore
from ingest.store import BatchWriter, StoredSizes
from tests.ingest.events import count_alerts, stored_tags, suricata_alerts


@pytest.fixture
def engine(migrated_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_url)
    yield engine
    engine.dispose()


def _batch(lines: list[bytes], core: IngestCore | None = None) -> Batch:
    out = (core or IngestCore()).process(lines)
    return Batch(alerts=out.alerts, dead_letters=out.dead_letters, new_categories=out.new_categories)


def _count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_batch_stores_alerts_categories_dead_letters_and_checkpoint_together(engine: Engine) -> None:
    batch = _batch([*suricata_alerts(3, "store"), b"{not json"])
    batch.positions = [FilePosition("file:/x", 1, 2, 10), FilePosition("file:/x", 1, 2, 99)]

    result = BatchWriter(engine).write(batch)

    assert (result.stored, result.duplicates, result.dead_lettered) == (3, 0, 1)
    assert count_alerts(engine) == (3, 3)
    assert stored_tags(engine) == ["store-0", "store-1", "store-2"]
    assert _count(engine, Category.__table__) == len(batch.new_categories) > 0
    assert _count(engine, DeadLetter.__table__) == 1
    with engine.connect() as conn:
        assert load_position(conn, "file:/x") == FilePosition("file:/x", 1, 2, 99)


def test_an_alert_already_stored_is_skipped_and_not_passed_to_the_hooks(engine: Engine) -> None:
    seen: list[list[str]] = []

    def hook(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        seen.append([r["alert_uuid"] for r in rows])

    writer = BatchWriter(engine, batch_hooks=[hook])
    first = _batch(suricata_alerts(2, "dup"))
    writer.write(first)
    again = _batch(suricata_alerts(3, "dup"))  # dup-0 and dup-1 again, dup-2 new
    result = writer.write(again)

    assert (result.stored, result.duplicates) == (1, 2)
    assert seen[1] == [again.alerts[2]["alert_uuid"]]
    assert count_alerts(engine) == (3, 3)


def test_the_same_event_twice_in_one_batch_is_stored_once(engine: Engine) -> None:
    line = suricata_alerts(1, "twice")[0]
    result = BatchWriter(engine).write(_batch([line, line]))
    assert (result.stored, result.duplicates) == (1, 1)
    assert count_alerts(engine) == (1, 1)


def test_a_failing_hook_rolls_back_alerts_dead_letters_and_checkpoint(engine: Engine) -> None:
    def broken(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        raise RuntimeError("outbox refused")

    batch = _batch([*suricata_alerts(2, "rollback"), b"]"])
    batch.positions = [FilePosition("file:/y", 1, 2, 50)]
    with pytest.raises(RuntimeError, match="outbox refused"):
        BatchWriter(engine, batch_hooks=[broken]).write(batch)

    assert count_alerts(engine) == (0, 0)
    assert _count(engine, DeadLetter.__table__) == 0
    with engine.connect() as conn:
        assert load_position(conn, "file:/y") is None


def test_dead_letters_keep_raw_bytes_source_origin_and_reason(engine: Engine) -> None:
    raw = b'{"broken": \xff'
    batch = Batch(
        dead_letters=[DeadLetterItem(source="auto", origin="eve.json@0", raw=raw, reason="line 1: bad")]
    )
    BatchWriter(engine).write(batch)
    with engine.connect() as conn:
        row = conn.execute(select(DeadLetter.__table__)).one()
    assert (row.raw, row.source, row.origin, row.reason) == (raw, "auto", "eve.json@0", "line 1: bad")


def test_on_mariadb_the_alert_rows_go_out_as_a_few_multi_row_inserts(
    mariadb_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pymysql.cursors

    from alertmodel import migrate

    migrate.upgrade(mariadb_database)
    engine = make_engine(mariadb_database)
    sent: list[bytes | bytearray | str] = []
    real_query = pymysql.cursors.Cursor._query

    def spy(self: pymysql.cursors.Cursor, q: bytes | bytearray | str) -> int:
        sent.append(q)
        return real_query(self, q)

    monkeypatch.setattr(pymysql.cursors.Cursor, "_query", spy)
    try:
        BatchWriter(engine).write(_batch(suricata_alerts(300, "multirow")))
        assert count_alerts(engine) == (300, 300)
    finally:
        engine.dispose()
    texts = [bytes(q).decode(errors="replace") if not isinstance(q, str) else q for q in sent]
    inserts = [q for q in texts if q.lstrip().upper().startswith("INSERT INTO ALERT")]
    assert 1 <= len(inserts) <= 3  # pymysql rewrote executemany into multi-row statements (<= 1 MB each)


def test_without_hooks_a_rewritten_batch_is_counted_as_duplicates(engine: Engine) -> None:
    writer = BatchWriter(engine)
    assert writer.write(_batch(suricata_alerts(450, "again"))).stored == 450
    result = writer.write(_batch(suricata_alerts(460, "again")))  # 450 already stored, 10 new
    assert (result.stored, result.duplicates) == (10, 450)
    assert count_alerts(engine) == (460, 460)


def test_on_sqlite_an_odd_sized_batch_goes_out_as_a_few_multi_row_inserts(sqlite_database: str) -> None:
    """No statement per row: each one gives the GIL up, and the decode thread keeps it for a while."""
    from sqlalchemy import event

    from alertmodel import migrate

    migrate.upgrade(sqlite_database)
    engine = make_engine(sqlite_database)
    inserts: list[tuple[int, bool]] = []
    rollups: list[bool] = []

    def spy(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        if statement.startswith("INSERT INTO alert ("):
            inserts.append((statement.count("(?"), executemany))
        elif statement.startswith("INSERT INTO alert_rollup"):
            rollups.append(executemany)

    event.listen(engine, "before_cursor_execute", spy)
    try:
        assert BatchWriter(engine).write(_batch(suricata_alerts(437, "odd"))).stored == 437
        assert count_alerts(engine) == (437, 437)
    finally:
        engine.dispose()
    assert inserts == [(200, False), (200, False), (32, False), (4, False), (1, False)]
    assert rollups and not any(rollups)  # the rollups too


@pytest.mark.parametrize("rows", [0, 1, 199, 200, 1000, 1199])
def test_chunk_sizes_cover_the_rows_with_few_shapes(rows: int) -> None:
    sizes = chunk_sizes(rows, 200)
    assert sum(sizes) == rows
    assert all(s == 200 or (s < 200 and s & (s - 1) == 0) for s in sizes)
    assert len(sizes) == rows // 200 + bin(rows % 200).count("1")


def test_stored_datetimes_read_back_and_compare_like_sqlalchemys_own(engine: Engine) -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from alertmodel import Alert

    batch = _batch(suricata_alerts(2, "when"))
    whole = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
    batch.alerts[0]["time_collr"] = whole  # no fraction: must still equal a parameter of the same instant
    batch.alerts[1]["time_collr"] = datetime(
        2026, 11, 23, 13, 30, 0, 250000, tzinfo=timezone(timedelta(hours=1))
    )
    BatchWriter(engine).write(batch)
    table = Alert.__table__
    with engine.connect() as conn:
        stored = conn.execute(select(table.c.time_collr).order_by(table.c.time_collr)).scalars().all()
        at_or_after = conn.execute(select(func.count()).where(table.c.time_collr >= whole)).scalar_one()
    assert stored == [whole, datetime(2026, 11, 23, 12, 30, 0, 250000, tzinfo=UTC)]
    assert at_or_after == 2


def _big_alert(tag: str, filler: str) -> bytes:
    """A generic alert whose raw event is about 100 KB."""
    return orjson.dumps({"source": "Big", "event": tag, "info": filler * (100_000 // len(filler.encode()))})


@pytest.mark.parametrize("filler", ["a", '"\\\n', "é€😀"], ids=["ascii", "escapes", "multibyte"])
def test_a_json_event_over_the_limit_is_stored_as_json_saying_it_was_truncated(
    engine: Engine, filler: str
) -> None:
    raw = _big_alert("big", filler)
    seen: list[str] = []
    sizes = StoredSizes(json_event_bytes=4096)
    writer = BatchWriter(
        engine, sizes=sizes, batch_hooks=[lambda c, rows: seen.extend(r["json_event"] for r in rows)]
    )
    writer.write(_batch([raw, *suricata_alerts(1, "small")]))
    with engine.connect() as conn:
        big, small = conn.execute(
            select(Alert.__table__.c.json_event).order_by(Alert.__table__.c.alert_id)
        ).scalars()
    assert len(big.encode()) <= 4096 and seen[0] == big
    note = orjson.loads(big)
    assert note["truncated"] is True and note["bytes"] == len(raw)
    assert raw.decode().startswith(note["head"])
    assert len(big.encode()) > 4000  # as much of the start as fits
    assert orjson.loads(small)["alertflow_test"] == "small-0"  # under the limit: as received


def test_a_dead_letter_over_the_limit_is_cut_and_says_by_how_much(engine: Engine) -> None:
    raw = b"{not json " + b"x" * 100_000
    BatchWriter(engine, sizes=StoredSizes(dead_letter_bytes=4096)).write(_batch([raw, b"{short"]))
    with engine.connect() as conn:
        stored = list(
            conn.execute(select(DeadLetter.__table__.c.raw).order_by(DeadLetter.__table__.c.id)).scalars()
        )
    kept, _, suffix = stored[0].partition("…[truncated ".encode())
    assert raw.startswith(kept) and suffix == f"{len(raw) - len(kept)} bytes]".encode()
    assert 4000 < len(stored[0]) <= 4096 and stored[1] == b"{short"


def test_the_default_limits_are_64_kib_each(engine: Engine) -> None:
    BatchWriter(engine).write(_batch([_big_alert("default", "a"), b"{" + b"x" * 100_000]))
    with engine.connect() as conn:
        (event,) = conn.execute(select(Alert.__table__.c.json_event)).scalars()
        (raw,) = conn.execute(select(DeadLetter.__table__.c.raw)).scalars()
    assert orjson.loads(event)["truncated"] is True and len(event.encode()) <= 65536
    assert 65000 < len(raw) <= 65536 and raw.endswith(b" bytes]")


def test_a_redelivered_bad_message_is_one_dead_letter(engine: Engine) -> None:
    writer = BatchWriter(engine)
    bad = b'{"rule": {"level": "not a level"'

    def delivery(message_id: str) -> Batch:  # what the STOMP source hands over for each delivery
        out = IngestCore().process([bad], source="wazuh", origin=f"/queue/wazuh#{message_id}")
        return Batch(alerts=[], dead_letters=out.dead_letters, new_categories=[])

    writer.write(delivery("ID:broker-1:1:1:1"))
    writer.write(delivery("ID:broker-1:1:1:1"))  # not acked before a crash: the broker sends it again
    writer.write(delivery("ID:producer-retry:2:1:1"))  # the producer sent it again itself
    writer.write(_batch([bad, bad]))  # and twice in one batch, from another source name

    with engine.connect() as conn:
        stored = conn.execute(
            select(DeadLetter.__table__.c.source, DeadLetter.__table__.c.origin, DeadLetter.__table__.c.raw)
        ).all()
    assert sorted(tuple(r) for r in stored) == [
        ("auto", "", bad),
        ("wazuh", "/queue/wazuh#ID:broker-1:1:1:1", bad),
    ]
