"""Dashboard rollups: alert counts per hour and per day, tenant and field value, kept in step with `alert`.

A row counts the stored alerts whose `time_collr` falls in its bucket (`grain` "h": the hour
starting at `bucket`, "d": the UTC day), whose `ref_id` is its tenant, and whose field `dim`
(status, severity, source, category or srcip) has the value `value`. The counts follow the
alert table, not the history of ingest:

- a stored batch adds its new alerts in the batch's transaction (`add_alerts` / `add_rows`);
- changing an alert's status moves it from one status row to another (`set_alert_status`);
- retention deleting alerts subtracts them (`subtract_alerts`) in the delete's transaction,
  and rows that reach zero are deleted; an alert restored from the archive is added again.

So the dashboard's figures equal a `GROUP BY` over the alert table for the same hours. Rows
are keyed by `value_key`, a hash of the exact value, because a 1,024-character category
cannot be part of a MariaDB key. One batch's counts go to the database in one executemany
of an upsert (`ON CONFLICT DO UPDATE` / `ON DUPLICATE KEY UPDATE n = n + ...`).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import CHAR, BigInteger, Column, Connection, Index, String, and_, select
from sqlmodel import Field, SQLModel

from alertmodel.alert import ALERT_COLUMNS, Alert
from alertmodel.engine import chunk_sizes
from alertmodel.types import UTCDateTime

DIMENSIONS = ("status", "severity", "source", "category", "srcip")
"""The alert fields counted; severity values are stored as text ("0".."3")."""
GRAINS = ("h", "d")
"""Hour rows serve short windows and the edges of long ones; day rows serve the whole days between."""
ROLLUP_COLUMNS = ("grain", "dim", "bucket", "ref_id", "value_key", "value", "n")

RollupKey = tuple[str, str, Any, str, str]
"""(grain, dim, bucket, ref_id, value): bucket in the driver's form (text on SQLite, naive datetime else)."""


class AlertRollup(SQLModel, table=True):
    """How many stored alerts of a tenant have one value of one field, in one hour or day."""

    __tablename__ = "alert_rollup"
    __table_args__ = (
        # each piece's rows by count (the dashboard's top-k bound), each value's rows by bucket (its totals)
        Index("ix_alert_rollup_rank", "grain", "dim", "bucket", "ref_id", "n"),
        Index("ix_alert_rollup_value", "dim", "value_key", "grain", "bucket", "ref_id"),
        {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin", "sqlite_with_rowid": False},
    )

    grain: str = Field(sa_column=Column(CHAR(1), primary_key=True))
    dim: str = Field(sa_column=Column(String(16), primary_key=True))
    bucket: datetime = Field(sa_column=Column(UTCDateTime, primary_key=True))
    ref_id: str = Field(sa_column=Column(String(255), primary_key=True))
    value_key: str = Field(sa_column=Column(CHAR(32), primary_key=True))
    value: str = Field(sa_column=Column(String(1024), nullable=False))
    n: int = Field(sa_column=Column(BigInteger, nullable=False))


ROLLUP = AlertRollup.__table__
_AT = {name: ALERT_COLUMNS.index(name) for name in ("time_collr", "ref_id", *DIMENSIONS)}
_DEFAULTS = {
    name: Alert.model_fields[name].default for name in ("ref_id", *DIMENSIONS)
}  # what the INSERT stores for a column left out


def value_key(value: str) -> str:
    """The key of a dimension value: 32 hex digits of its BLAKE2b hash."""
    return hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def hour_and_day(value: datetime | str) -> tuple[Any, Any]:
    """The hour and day buckets of a `time_collr` in the driver's form (naive UTC, or SQLite's text)."""
    if isinstance(value, str):  # SQLAlchemy's SQLite text: 'YYYY-MM-DD HH:MM:SS.ffffff'
        return value[:13] + ":00:00.000000", value[:10] + " 00:00:00.000000"
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    hour = value.replace(minute=0, second=0, microsecond=0)
    return hour, hour.replace(hour=0)


def count_rows(rows: Iterable[Sequence[Any]], sign: int = 1) -> Counter[RollupKey]:
    """Rollup deltas of alert rows given as tuples in ALERT_COLUMNS order (what the ingest writer binds)."""
    at_time, at_ref = _AT["time_collr"], _AT["ref_id"]
    dims = [(d, _AT[d]) for d in DIMENSIONS]
    counts: Counter[RollupKey] = Counter()
    buckets: dict[Any, tuple[Any, Any]] = {}
    for row in rows:
        when = row[at_time]
        pair = buckets.get(when)
        if pair is None:
            pair = buckets[when] = hour_and_day(when)
        hour, day = pair
        ref = row[at_ref]
        for dim, i in dims:
            value = str(row[i])
            counts["h", dim, hour, ref, value] += sign
            counts["d", dim, day, ref, value] += sign
    return counts


def count_alerts(alerts: Iterable[Mapping[str, Any]], sign: int = 1) -> Counter[RollupKey]:
    """Rollup deltas of alerts given as mappings (column name → value; a missing one is its column default)."""
    names = ("time_collr", "ref_id", *DIMENSIONS)
    at = {name: ALERT_COLUMNS.index(name) for name in names}
    width = max(at.values()) + 1

    def as_row(alert: Mapping[str, Any]) -> list[Any]:
        row: list[Any] = [None] * width
        for name, i in at.items():
            row[i] = alert[name] if name in alert else _DEFAULTS[name]
        return row

    return count_rows((as_row(a) for a in alerts), sign)


def apply(conn: Connection, counts: Mapping[RollupKey, int]) -> None:
    """Add `counts` to the rollup rows in one executemany; rows brought to zero are deleted."""
    as_text = conn.dialect.name == "sqlite"
    params = [
        (grain, dim, _driver_time(bucket, as_text), ref, value_key(value), value[:1024], n)
        for (grain, dim, bucket, ref, value), n in counts.items()
        if n
    ]
    if not params:
        return
    if as_text:
        # multi-row statements, not executemany: a statement per row gives the GIL up at every row,
        # which costs the ingest worker its decode thread's time (see ingest.store)
        start = 0
        for size in chunk_sizes(len(params), _SQLITE_ROWS_PER_STATEMENT):
            chunk = params[start : start + size]
            conn.exec_driver_sql(_upsert_sql(conn, size), tuple(v for row in chunk for v in row))
            start += size
    else:
        conn.exec_driver_sql(_upsert_sql(conn), params)
    emptied = [p[:5] for p in params if p[-1] < 0]
    if emptied:
        mark = _marks(conn, 1)[0]
        conn.exec_driver_sql(
            f"DELETE FROM alert_rollup WHERE grain = {mark} AND dim = {mark} AND bucket = {mark} "  # noqa: S608
            f"AND ref_id = {mark} AND value_key = {mark} AND n <= 0",
            emptied,
        )


def _driver_time(bucket: Any, as_text: bool) -> Any:
    """A bucket as stored: SQLAlchemy's SQLite text form always has six fractional digits."""
    return bucket.isoformat(" ", "microseconds") if as_text and isinstance(bucket, datetime) else bucket


def add_rows(conn: Connection, rows: Iterable[Sequence[Any]]) -> None:
    """Count newly stored alert rows (tuples in ALERT_COLUMNS order)."""
    apply(conn, count_rows(rows))


def add_alerts(conn: Connection, alerts: Iterable[Mapping[str, Any]]) -> None:
    """Count newly stored alerts (mappings)."""
    apply(conn, count_alerts(alerts))


def subtract_alerts(conn: Connection, alerts: Iterable[Mapping[str, Any]]) -> None:
    """Uncount deleted alerts (mappings with time_collr, ref_id and the DIMENSIONS)."""
    apply(conn, count_alerts(alerts, sign=-1))


def set_alert_status(conn: Connection, alert_uuid: str, status: str) -> None:
    """Set an alert's status and move its count from the old status row to the new one."""
    alert = Alert.__table__
    row = conn.execute(
        select(alert.c.status, alert.c.ref_id, alert.c.time_collr).where(alert.c.alert_uuid == alert_uuid)
    ).first()
    if row is None or row.status == status:
        return
    changed = conn.execute(
        alert.update()
        .where(and_(alert.c.alert_uuid == alert_uuid, alert.c.status == row.status))
        .values(status=status)
    ).rowcount
    if not changed:  # someone else changed it between the read and the update: let them count it
        return
    hour, day = hour_and_day(row.time_collr)
    apply(
        conn,
        {
            ("h", "status", hour, row.ref_id, row.status): -1,
            ("d", "status", day, row.ref_id, row.status): -1,
            ("h", "status", hour, row.ref_id, status): 1,
            ("d", "status", day, row.ref_id, status): 1,
        },
    )


def _marks(conn: Connection, count: int) -> list[str]:
    return ["?" if conn.dialect.paramstyle == "qmark" else "%s"] * count


_SQLITE_ROWS_PER_STATEMENT = 128  # x 7 columns, far under SQLite's 32,766 bound parameters


def _upsert_sql(conn: Connection, rows: int = 1) -> str:
    names = ", ".join(ROLLUP_COLUMNS)
    marks = ", ".join(_marks(conn, len(ROLLUP_COLUMNS)))
    if conn.dialect.name == "sqlite":
        values = ", ".join(f"({marks})" for _ in range(rows))
        return (
            f"INSERT INTO alert_rollup ({names}) VALUES {values} "  # noqa: S608
            "ON CONFLICT (grain, dim, bucket, ref_id, value_key) DO UPDATE SET n = n + excluded.n"
        )
    if conn.dialect.name in ("mysql", "mariadb"):
        # this shape is what pymysql rewrites into multi-row INSERTs: one round trip per batch
        return (
            f"INSERT INTO alert_rollup ({names}) VALUES ({marks}) ON DUPLICATE KEY UPDATE n = n + VALUES(n)"  # noqa: S608
        )
    raise NotImplementedError(f"alertflow stores alerts in SQLite or MariaDB/MySQL, not {conn.dialect.name}")
