"""Rows and bytes per table of the alert store: what grows, and by how much, over months."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, func, select, table, text


@dataclass(frozen=True, slots=True)
class TableStats:
    """One table: its rows and the bytes its data and its indexes take."""

    name: str
    rows: int
    data_bytes: int
    index_bytes: int
    rows_estimated: bool = False

    @property
    def total_bytes(self) -> int:
        return self.data_bytes + self.index_bytes


def table_stats(engine: Engine, *, exact: bool = False) -> list[TableStats]:
    """Every table, largest first.

    SQLite: exact row counts and page sizes from `dbstat`. MariaDB/MySQL: information_schema,
    whose InnoDB row counts are estimates (a COUNT(*) of a months-old alert table scans it);
    `exact` counts them.
    """
    with engine.connect() as conn:
        stats = _sqlite(conn) if conn.dialect.name == "sqlite" else _mariadb(conn, exact)
    return sorted(stats, key=lambda s: (-s.total_bytes, s.name))


def _count(conn: Connection, name: str) -> int:
    return int(conn.execute(select(func.count()).select_from(table(name))).scalar_one())


def _sqlite(conn: Connection) -> list[TableStats]:
    owner = dict(
        conn.execute(text("SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')")).all()
    )
    tables = {name for name, tbl in owner.items() if name == tbl and not name.startswith("sqlite_")}
    data = dict.fromkeys(tables, 0)
    indexes = dict.fromkeys(tables, 0)
    for name, size in conn.execute(text("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")):
        tbl = owner.get(name)
        if tbl in tables:
            (data if name == tbl else indexes)[tbl] += int(size)
    return [TableStats(t, _count(conn, t), data[t], indexes[t]) for t in tables]


def _mariadb(conn: Connection, exact: bool) -> list[TableStats]:
    rows = conn.execute(
        text(
            "SELECT TABLE_NAME, TABLE_ROWS, DATA_LENGTH, INDEX_LENGTH FROM information_schema.TABLES"
            " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'"
        )
    ).all()
    return [
        TableStats(
            name,
            _count(conn, name) if exact else int(estimate or 0),
            int(data or 0),
            int(index or 0),
            rows_estimated=not exact,
        )
        for name, estimate, data, index in rows
    ]
