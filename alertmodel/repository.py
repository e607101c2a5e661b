"""Alert store queries shared by ingest and response: batch inserts that ignore duplicates, alert reads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Table, func, select
from sqlalchemy.dialects import mysql, sqlite

from alertmodel import rollup
from alertmodel.alert import Alert, AlertRead
from alertmodel.errors import IntegrationError


def insert_ignoring_duplicates(
    conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], key: Sequence[str]
) -> None:
    """INSERT `rows` in one executemany; a row whose unique `key` is already stored is skipped.

    MariaDB gets `ON DUPLICATE KEY UPDATE key=key` rather than `INSERT IGNORE`, which
    would also swallow truncation and type errors.
    """
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect == "sqlite":
        stmt: Any = sqlite.insert(table).on_conflict_do_nothing(index_elements=list(key))
    elif dialect in ("mysql", "mariadb"):
        ins = mysql.insert(table)
        stmt = ins.on_duplicate_key_update({key[0]: ins.inserted[key[0]]})
    else:
        raise NotImplementedError(f"alertflow stores alerts in SQLite or MariaDB/MySQL, not {dialect}")
    conn.execute(stmt, list(rows))


def insert_alerts(conn: Connection, alerts: Iterable[Mapping[str, Any]]) -> None:
    """Store alert rows (column name → value) and count them in the rollups; a stored `alert_uuid` is ignored."""
    table = Alert.__table__
    first = list({a["alert_uuid"]: a for a in reversed(list(alerts))}.values())[::-1]
    stored: set[str] = set()
    for i in range(0, len(first), 500):
        uuids = [a["alert_uuid"] for a in first[i : i + 500]]
        stored.update(conn.execute(select(table.c.alert_uuid).where(table.c.alert_uuid.in_(uuids))).scalars())
    fresh = [a for a in first if a["alert_uuid"] not in stored]
    insert_ignoring_duplicates(conn, table, fresh, ("alert_uuid",))
    rollup.add_alerts(conn, fresh)


def count_alerts(conn: Connection) -> int:
    """How many alerts are stored."""
    return int(conn.execute(select(func.count()).select_from(Alert.__table__)).scalar_one())


def load_alerts(engine: Engine, uuids: Sequence[str]) -> list[AlertRead]:
    """The stored alerts with these uuids, in the order given; IntegrationError when one is missing."""
    table = Alert.__table__
    with engine.connect() as conn:
        rows = {r.alert_uuid: r for r in conn.execute(select(table).where(table.c.alert_uuid.in_(uuids)))}
    missing = [u for u in uuids if u not in rows]
    if missing:
        raise IntegrationError(f"alert {missing[0]} is not in the alert store")
    return [AlertRead.model_validate(dict(rows[u]._mapping)) for u in uuids]
