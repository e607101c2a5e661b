"""Engine creation with the per-database settings alertflow relies on."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url


def normalize_url(url: str | URL) -> URL:
    """The URL with MariaDB/MySQL forced to utf8mb4 (emoji and 4-byte characters survive)."""
    parsed = make_url(url)
    if parsed.get_backend_name() in ("mysql", "mariadb") and "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    return parsed


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine for SQLite (WAL, foreign keys, busy timeout) or MariaDB/MySQL (pymysql, utf8mb4)."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _create_private_file(Path(parsed.database).expanduser())
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_recycle", 3600)
    if parsed.get_driver_name() == "pymysql":
        from alertmodel.pymysql_driver import dbapi  # imported only for MariaDB/MySQL

        kwargs.setdefault("module", dbapi)  # pymysql, with a faster string escape
    return create_engine(parsed, **kwargs)


def _create_private_file(path: Path) -> None:
    """Create the SQLite file with mode 0600 (its directory 0700) before SQLite would create it
    0644 under a lax umask; SQLite gives its -wal and -shm files the same mode."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers run beside the single writer; FULL sync makes every commit survive a power cut.

    With NORMAL, a commit is only in the WAL file until the OS writes it back: an alert already
    acknowledged to its producer (HTTP 202, STOMP ack, file checkpoint) could be lost. FULL fsyncs
    the WAL at each commit, one per batch, measured in the README ("Durability").
    """
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def chunk_sizes(rows: int, largest: int) -> list[int]:
    """`rows` split into chunks of `largest`, then powers of two (1,000 by 200: 200 x 5).

    Multi-row statements of few distinct shapes, so SQLite's statement cache keeps them.
    """
    sizes = [largest] * (rows // largest)
    rest = rows % largest
    bit = 1 << rest.bit_length()
    while rest:
        bit >>= 1
        if rest & bit:
            sizes.append(bit)
            rest -= bit
    return sizes
