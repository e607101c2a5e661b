"""One transaction per batch: alerts, their dashboard rollups, first-seen categories, dead letters,
file checkpoints, then hooks.

Alerts are stored once per alert_uuid and dead letters once per content key
(`alertmodel.dead_letter_key`), so a redelivered batch adds nothing. The alerts a batch
stores for the first time are counted in the dashboard rollups (`alertmodel.rollup`) in the
same transaction.

The alert insert is the hot path: it sends the driver plain tuples (pymysql rewrites an
executemany into multi-row INSERTs; SQLite gets executemany, or multi-row statements when a
decode thread shares the process), skipping SQLAlchemy's per-row bind processing, which costs
about a quarter of MariaDB's throughput at 1,000-row batches. The worker builds the tuples with
`ingest.batch.prepare_rows` before they reach the writer thread (in its decode process),
datetimes already in the database's text form: Python code in the writer thread (sqlite3 called
a Python adapter for every datetime) is where it lost the GIL to the decoder and waited to get
it back.

An event's own text is stored up to `StoredSizes` (64 KiB each by default): a longer
`json_event` is replaced by valid JSON that says so, `{"truncated": true, "bytes": N, "head":
"<its start>"}`, and a longer dead letter's `raw` is cut and ends in `…[truncated N bytes]`.
Never silently, and never unbounded: any client that can send an event decides its size.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Engine

from alertmodel import ALERT_COLUMNS, Category, DeadLetter, NodeStats, dead_letter_key, rollup
from alertmodel.engine import chunk_sizes
from alertmodel.errors import StorageError
from alertmodel.repository import insert_ignoring_duplicates
from alertmodel.types import utcnow
from ingest.batch import Batch, as_alert, prepare_rows
from ingest.checkpoint import FilePosition, save_positions

BatchHook = Callable[[Connection, Sequence[Mapping[str, Any]]], None]
"""Called inside the batch transaction with only the alerts this batch stored for the first time."""

_UUID_CHUNK = 500  # bound parameters per look-up, well under every driver's limit
_SQLITE_ROWS_PER_STATEMENT = 200  # x 37 columns stays under SQLite's default 32,766 bound parameters


@dataclass(frozen=True, slots=True)
class StoredSizes:
    """How many bytes of an event's own text a row keeps (ALERTFLOW_JSON_EVENT_MAX_BYTES, ..._DEAD_LETTER_...)."""

    json_event_bytes: int = 64 * 1024
    dead_letter_bytes: int = 64 * 1024


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a committed batch changed."""

    stored: int
    duplicates: int
    dead_lettered: int
    stored_rows: list[int] | None = None
    """Indices of the batch's rows stored for the first time; None when every row was (and there were some)."""


class BatchWriter:
    """Writes a `Batch` in one transaction on SQLite or MariaDB/MySQL."""

    def __init__(
        self,
        engine: Engine,
        *,
        batch_hooks: Sequence[BatchHook] = (),
        sqlite_statement_per_row: bool = False,
        sizes: StoredSizes = StoredSizes(),
    ) -> None:
        self.engine = engine
        self.batch_hooks = tuple(batch_hooks)
        self.sizes = sizes
        # SQLite's executemany (a statement per row) is ~20% faster than multi-row statements, but
        # gives the GIL up at every row: only worth it with no busy decode thread in the process.
        self.sqlite_statement_per_row = sqlite_statement_per_row
        self._insert_sql: str | None = None
        self._sqlite_multirow: dict[int, str] = {}
        self._lookup_sql: str | None = None

    def write(self, batch: Batch, *, also: Callable[[Connection], None] | None = None) -> WriteResult:
        """Store `batch` atomically; raises the driver's error and stores nothing when it fails.

        `also` runs last in the same transaction (what it raises rolls the batch back).
        """
        if batch.rows is None:  # kept on the batch: the worker's metrics read what was stored from it
            batch.rows = prepare_rows(batch.alerts, self.engine.dialect.name)
        rows = batch.rows
        if batch.alerts and len(rows) != len(batch.alerts):
            raise ValueError(f"a batch of {len(batch.alerts)} alerts came with {len(rows)} rows")
        _cap_json_events(rows, batch.alerts, self.sizes.json_event_bytes)
        with self.engine.begin() as conn:
            unique = _first_of_each_uuid(rows)
            fresh = self._not_stored(conn, rows, unique)
            if fresh:
                new_rows = [rows[i] for i in fresh]
                inserted = self._insert_alerts(conn, new_rows)
                if conn.dialect.name == "sqlite" and inserted != len(fresh):
                    # another process stored some of them since the look-up: the rollups would
                    # count those twice, so roll back; the worker retries the batch
                    raise StorageError(
                        f"{len(fresh) - inserted} alerts of this batch were stored meanwhile by another writer"
                    )
                rollup.add_rows(conn, new_rows)
            stored = len(fresh)
            stored_rows = fresh
            if batch.new_categories:
                now = utcnow()
                insert_ignoring_duplicates(
                    conn,
                    Category.__table__,
                    [
                        {"source_type": s, "name": c, "description": "", "first_seen": now}
                        for s, c in dict.fromkeys(batch.new_categories)
                    ],
                    ("source_type", "name"),
                )
            if batch.dead_letters:
                now = utcnow()
                insert_ignoring_duplicates(  # a redelivered bad message is stored once
                    conn,
                    DeadLetter.__table__,
                    [
                        {
                            "source": d.source[:64],
                            "origin": d.origin[:1024],
                            "raw": cap_raw(d.raw, self.sizes.dead_letter_bytes),
                            "reason": d.reason[:1024],
                            "content_key": dead_letter_key(d.source[:64], d.raw),
                            "received_at": now,
                        }
                        for d in batch.dead_letters
                    ],
                    ("content_key",),
                )
            if batch.node_stats:
                now = utcnow()
                conn.execute(
                    NodeStats.__table__.insert(), [{**row, "received_at": now} for row in batch.node_stats]
                )
            save_positions(conn, _last_position_per_key(batch.positions))
            if fresh and self.batch_hooks:
                new_alerts = [batch.alerts[i] if batch.alerts else as_alert(rows[i]) for i in fresh]
                for hook in self.batch_hooks:
                    hook(conn, new_alerts)
            if also is not None:
                also(conn)
        every_row = bool(rows) and len(stored_rows) == len(rows)
        return WriteResult(
            stored, len(rows) - stored, len(batch.dead_letters), None if every_row else stored_rows
        )

    def _not_stored(self, conn: Connection, rows: list[tuple[Any, ...]], unique: list[int]) -> list[int]:
        """The indices in `unique` of rows whose alert_uuid is not stored yet."""
        if not unique:
            return []
        if self._lookup_sql is None:
            mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
            marks = ", ".join(mark for _ in range(_UUID_CHUNK))
            self._lookup_sql = f"SELECT alert_uuid FROM alert WHERE alert_uuid IN ({marks})"  # noqa: S608
        stored: set[str] = set()
        uuids = [rows[i][_UUID_AT] for i in unique]
        for i in range(0, len(uuids), _UUID_CHUNK):
            chunk = uuids[i : i + _UUID_CHUNK]
            chunk += [chunk[-1]] * (_UUID_CHUNK - len(chunk))  # one statement shape, prepared once
            stored.update(row[0] for row in conn.exec_driver_sql(self._lookup_sql, tuple(chunk)))
        return [i for i in unique if rows[i][_UUID_AT] not in stored] if stored else unique

    def _insert_alerts(self, conn: Connection, params: list[tuple[Any, ...]]) -> int:
        """Insert rows, skipping stored alert_uuids; on SQLite returns how many were inserted."""
        if conn.dialect.name != "sqlite":
            if self._insert_sql is None:
                self._insert_sql = _alert_insert_sql(conn)
            conn.exec_driver_sql(self._insert_sql, params)
            return len(params)
        if self.sqlite_statement_per_row:
            return conn.exec_driver_sql(self._sqlite_insert(conn, 1), params).rowcount
        # SQLite next to a busy decode thread: multi-row statements. The driver gives the GIL up
        # during every statement, and taking it back costs up to a switch interval, so executemany
        # (a statement per row) ran at a few hundred rows/s next to the decoder.
        # Full chunks, then the remainder in power-of-two chunks: at most 9 statement shapes, so
        # SQLite's statement cache does not fill with one prepared statement per remainder size.
        inserted = 0
        start = 0
        for size in chunk_sizes(len(params), _SQLITE_ROWS_PER_STATEMENT):
            sql = self._sqlite_insert(conn, size)
            flat = tuple(itertools.chain.from_iterable(params[start : start + size]))
            inserted += conn.exec_driver_sql(sql, flat).rowcount
            start += size
        return inserted

    def _sqlite_insert(self, conn: Connection, rows: int) -> str:
        sql = self._sqlite_multirow.get(rows)
        if sql is None:
            sql = self._sqlite_multirow[rows] = _sqlite_multirow_sql(conn, rows)
        return sql


def _cap_json_events(rows: list[tuple[Any, ...]], alerts: list[dict[str, Any]], limit: int) -> None:
    """Replace, in place, each json_event over `limit` bytes (in the rows, and in the dicts hooks see)."""
    at = _JSON_EVENT_AT
    for i, row in enumerate(rows):
        event = row[at]
        if len(event) * 4 <= limit:  # at most 4 UTF-8 bytes a character: nothing to measure
            continue
        capped = cap_json_event(event, limit)
        if capped is not event:
            rows[i] = (*row[:at], capped, *row[at + 1 :])
            if alerts:
                alerts[i]["json_event"] = capped


def cap_json_event(event: str, limit: int) -> str:
    """`event` when its UTF-8 fits in `limit` bytes; else `{"truncated": true, "bytes": N, "head": ...}`.

    N is the size of the whole event; head is as much of its start as fits, so the row stays
    valid JSON that a reader can tell apart from an event.
    """
    size = len(event.encode())
    if size <= limit:
        return event

    def note(keep: int) -> bytes:
        return orjson.dumps({"truncated": True, "bytes": size, "head": event[:keep]})

    if len(note(0)) > limit:
        raise ValueError(f"a json_event limit of {limit} bytes cannot hold the truncation note")
    # the longest head that fits: escapes and multi-byte characters make its length unknown in advance
    fits, too_long = 0, min(len(event), limit) + 1
    while too_long - fits > 1:
        middle = (fits + too_long) // 2
        if len(note(middle)) <= limit:
            fits = middle
        else:
            too_long = middle
    return note(fits).decode()


def cap_raw(raw: bytes, limit: int) -> bytes:
    """`raw` when it fits in `limit` bytes; else its start and `…[truncated N bytes]` (N cut off), `limit` in all."""
    if len(raw) <= limit:
        return raw
    keep = max(limit - len(f"…[truncated {len(raw)} bytes]".encode()), 0)  # N has at most this many digits
    return raw[:keep] + f"…[truncated {len(raw) - keep} bytes]".encode()


def _first_of_each_uuid(rows: list[tuple[Any, ...]]) -> list[int]:
    """Indices of the rows that do not repeat an earlier alert_uuid of the same batch."""
    seen: set[str] = set()
    first = []
    for i, row in enumerate(rows):
        uuid = row[_UUID_AT]
        if uuid not in seen:
            seen.add(uuid)
            first.append(i)
    return first


def _sqlite_multirow_sql(conn: Connection, rows: int) -> str:
    """A `rows`-row INSERT of ALERT_COLUMNS that skips an existing alert_uuid."""
    names = ", ".join(conn.dialect.identifier_preparer.quote(c) for c in ALERT_COLUMNS)
    one = "(" + ", ".join("?" for _ in ALERT_COLUMNS) + ")"
    values = ", ".join(one for _ in range(rows))
    return f"INSERT INTO alert ({names}) VALUES {values} ON CONFLICT (alert_uuid) DO NOTHING"  # noqa: S608


def _alert_insert_sql(conn: Connection) -> str:
    """INSERT of ALERT_COLUMNS that skips an existing alert_uuid (a competing worker may race us)."""
    quote = conn.dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in ALERT_COLUMNS)
    if conn.dialect.name in ("mysql", "mariadb"):
        marks = ", ".join("%s" for _ in ALERT_COLUMNS)
        # this exact shape (VALUES (...) ON DUPLICATE ...) is what pymysql rewrites into multi-row INSERTs
        return f"INSERT INTO alert ({names}) VALUES ({marks}) ON DUPLICATE KEY UPDATE alert_uuid = alert_uuid"  # noqa: S608
    raise NotImplementedError(f"alertflow stores alerts in SQLite or MariaDB/MySQL, not {conn.dialect.name}")


_UUID_AT = ALERT_COLUMNS.index("alert_uuid")
_JSON_EVENT_AT = ALERT_COLUMNS.index("json_event")


def _last_position_per_key(positions: Sequence[FilePosition]) -> list[FilePosition]:
    """Batches hold positions in reading order, so the last one of each file is where it ends."""
    return list({p.key: p for p in positions}.values())
