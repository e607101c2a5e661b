"""Online, consistent copies of a SQLite alert store, and putting one back.

Both go through SQLite's backup API, never a file copy: a backup reads every page inside one
read transaction (WAL lets the ingest worker keep committing meanwhile, and the copy is the
store as of one commit), and a restore writes the pages through the live database's own pager,
so its WAL and any other connection stay consistent. Files are created 0600: they hold every
alert.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import psutil

from alertmodel.errors import StorageError

_BUSY_MS = 30_000


def backup(database: Path, target: Path) -> None:
    """Copy `database` to `target` (a new file, 0600, rollback journal so it is one file) while it is in use."""
    if not database.is_file():
        raise StorageError(f"{database} does not exist")
    if target.exists():
        raise StorageError(f"{target} exists already; remove it or choose another name")
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)  # left by a backup that was killed
    _create_private(partial)
    try:
        source = _connect(database)
        try:
            copy = sqlite3.connect(partial)
            try:
                source.backup(copy)  # all pages in one step: one read transaction, one commit's state
                copy.execute("PRAGMA journal_mode=DELETE")
                _check(copy, partial)
            finally:
                copy.close()
        finally:
            source.close()
        with open(partial, "rb") as done:
            os.fsync(done.fileno())
        partial.rename(target)
    finally:
        partial.unlink(missing_ok=True)


def restore(backup_file: Path, database: Path, *, force: bool = False) -> None:
    """Replace the contents of `database` with `backup_file`.

    Refused while another process has the database open (an ingest worker, a dispatcher: they
    would go on writing into the restored store) unless `force`; always refused while a writer
    holds its lock. A database file that does not exist yet is created 0600; an existing one
    keeps its mode.
    """
    if not backup_file.is_file():
        raise StorageError(f"{backup_file} does not exist")
    check = _connect(backup_file)
    try:
        _check(check, backup_file)
        if not check.execute("SELECT 1 FROM sqlite_master WHERE name = 'alembic_version'").fetchone():
            raise StorageError(f"{backup_file} is not an alertflow alert store (no alembic_version table)")
    finally:
        check.close()
    if database.exists() and not force:
        users = processes_using(database)
        if users:
            raise StorageError(f"{database} is open in {', '.join(users)}: stop them first, or pass --force")
    if not database.exists():
        database.parent.mkdir(parents=True, exist_ok=True)
        _create_private(database)
    live = _connect(database, busy_ms=0)
    try:
        try:
            live.execute("BEGIN IMMEDIATE")  # fails at once if a writer holds the lock
            live.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            raise StorageError(f"{database} is being written to ({exc}): stop the writer first") from None
        live.execute(f"PRAGMA busy_timeout={_BUSY_MS}")
        source = _connect(backup_file)
        try:
            source.backup(live)
        finally:
            source.close()
        live.execute("PRAGMA journal_mode=WAL")
        _check(live, database)
    finally:
        live.close()


def processes_using(database: Path) -> list[str]:
    """Other processes with the database (or its WAL) open, as `name[pid]`; what the OS lets us see."""
    paths = {str(database.resolve()), f"{database.resolve()}-wal", f"{database.resolve()}-shm"}
    users = []
    for process in psutil.process_iter(["pid", "name"]):
        if process.pid == os.getpid():
            continue
        try:
            if any(f.path in paths for f in process.open_files()):
                users.append(f"{process.info['name']}[{process.pid}]")
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return users


def _connect(path: Path, busy_ms: int = _BUSY_MS) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout={busy_ms}")
    return conn


def _check(conn: sqlite3.Connection, path: Path) -> None:
    try:
        result = conn.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"{path} is not a usable SQLite database: {exc}") from None
    if result != "ok":
        raise StorageError(f"{path} failed SQLite's quick_check: {result}")


def _create_private(path: Path) -> None:
    """An empty file only its owner can read, whatever the umask."""
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
