"""File-source checkpoints: where a file's stored data ends (file identity + byte offset)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects import mysql, sqlite

from alertmodel.intake import SourceCheckpoint
from alertmodel.types import utcnow

_TABLE = SourceCheckpoint.__table__


@dataclass(frozen=True, slots=True)
class FilePosition:
    """A byte offset in one file, named by (device, inode) so a rotated file is recognised."""

    key: str
    device: int
    inode: int
    offset: int


def load_position(conn: Connection, key: str) -> FilePosition | None:
    """The stored position of source `key`, or None when nothing of it was stored yet."""
    row = conn.execute(
        select(_TABLE.c.device, _TABLE.c.inode, _TABLE.c.offset).where(_TABLE.c.source_key == key)
    ).first()
    return None if row is None else FilePosition(key, row.device, row.inode, row.offset)


def save_positions(conn: Connection, positions: Iterable[FilePosition]) -> None:
    """Upsert positions inside the caller's transaction (the one storing the lines they cover)."""
    rows = [
        {"source_key": p.key, "device": p.device, "inode": p.inode, "offset": p.offset, "updated": utcnow()}
        for p in positions
    ]
    if not rows:
        return
    changed = ("device", "inode", "offset", "updated")
    stmt: Any
    if conn.dialect.name == "sqlite":
        ins = sqlite.insert(_TABLE)
        stmt = ins.on_conflict_do_update(
            index_elements=["source_key"], set_={c: ins.excluded[c] for c in changed}
        )
    else:
        ins = mysql.insert(_TABLE)
        stmt = ins.on_duplicate_key_update({c: ins.inserted[c] for c in changed})
    conn.execute(stmt, rows)
