"""dashboard rollups: alert counts per hour and day x tenant x status, severity, source, category, srcip

Revision ID: 0010_alert_rollups
Revises: 0009_forwarder_cursor
Create Date: 2026-12-01

The alerts already stored are counted in: one GROUP BY per field over the alert table, hour
rows from it and day rows summed from the hour rows (`alertmodel.rollup` keeps them from here
on). value_key is BLAKE2b-128 of the value, as `alertmodel.rollup.value_key` computes it.
"""

import hashlib
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

import alertmodel.types

revision: str = "0010_alert_rollups"
down_revision: str | None = "0009_forwarder_cursor"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DIMENSIONS = ("status", "severity", "source", "category", "srcip")
_BATCH = 5000


def upgrade() -> None:
    op.create_table(
        "alert_rollup",
        sa.Column("grain", sa.CHAR(length=1), nullable=False),
        sa.Column("dim", sa.String(length=16), nullable=False),
        sa.Column("bucket", alertmodel.types.UTCDateTime(), nullable=False),
        sa.Column("ref_id", sa.String(length=255), nullable=False),
        sa.Column("value_key", sa.CHAR(length=32), nullable=False),
        sa.Column("value", sa.String(length=1024), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("grain", "dim", "bucket", "ref_id", "value_key"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        sqlite_with_rowid=False,
    )
    _backfill(op.get_bind())


def _backfill(conn: sa.Connection) -> None:
    sqlite = conn.dialect.name == "sqlite"
    alert = sa.table(
        "alert", sa.column("time_collr"), sa.column("ref_id"), *(sa.column(d) for d in _DIMENSIONS)
    )
    if sqlite:  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff'
        hour = sa.func.substr(alert.c.time_collr, 1, 13)
    else:
        hour = sa.func.date_format(alert.c.time_collr, "%Y-%m-%d %H")
    mark = "?" if sqlite else "%s"
    marks = ", ".join([mark] * 7)
    insert = f"INSERT INTO alert_rollup (grain, dim, bucket, ref_id, value_key, value, n) VALUES ({marks})"  # noqa: S608
    for dim in _DIMENSIONS:
        days: Counter[tuple[str, str, str]] = Counter()
        hours = []
        result = conn.execute(
            sa.select(hour.label("hour"), alert.c.ref_id, alert.c[dim], sa.func.count()).group_by(
                hour, alert.c.ref_id, alert.c[dim]
            )
        )
        for h, ref_id, value, n in result:
            hours.append((h, ref_id, str(value), n))
            days[h[:10], ref_id, str(value)] += n
        rows = [("h", dim, _bucket(h + ":00:00", sqlite), ref, _key(v), v, n) for h, ref, v, n in hours]
        rows += [
            ("d", dim, _bucket(d + " 00:00:00", sqlite), ref, _key(v), v, n)
            for (d, ref, v), n in days.items()
        ]
        for i in range(0, len(rows), _BATCH):
            conn.exec_driver_sql(insert, rows[i : i + _BATCH])


def _bucket(text: str, sqlite: bool) -> object:
    return text + ".000000" if sqlite else datetime.fromisoformat(text)


def _key(value: str) -> str:
    return hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def downgrade() -> None:
    op.drop_table("alert_rollup")
