"""SQLite commits are on disk before an ingest source is acknowledged."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from alertmodel.engine import make_engine

SYNCHRONOUS_FULL = 2


def test_every_sqlite_connection_syncs_each_commit(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'alerts.db'}")
    try:
        for _ in range(2):  # a fresh pool connection gets the same pragmas
            with engine.connect() as conn:
                assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
                assert conn.execute(text("PRAGMA synchronous")).scalar_one() == SYNCHRONOUS_FULL
            engine.dispose()
    finally:
        engine.dispose()
