"""Online SQLite backups and restores: consistent while ingest writes, refused while it runs, private files."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from alertmodel import Alert, migrate
from alertmodel.engine import make_engine
from alertmodel.errors import StorageError
from alertmodel.sqlite_backup import backup, processes_using, restore
from tests.alertfactory import make_alert, store_batch

BATCH = 50


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "alertflow.db"
    migrate.upgrade(f"sqlite:///{path}")
    yield path


def _uuids(path: Path) -> set[str]:
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            return set(conn.execute(select(Alert.__table__.c.alert_uuid)).scalars())
    finally:
        engine.dispose()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class Inserter(threading.Thread):
    """The ingest worker's part: batch after batch, each committed, until stopped."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(daemon=True)
        self.engine = engine
        self.committed: list[str] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.batches = threading.Semaphore(0)

    def run(self) -> None:
        while not self.stop.is_set():
            rows = [make_alert() for _ in range(BATCH)]
            store_batch(self.engine, rows)
            with self.lock:
                self.committed.extend(r["alert_uuid"] for r in rows)
            self.batches.release()

    def snapshot(self) -> set[str]:
        with self.lock:
            return set(self.committed)


def test_a_backup_taken_while_alerts_are_inserted_has_every_committed_one_and_restores(
    database: Path, tmp_path: Path
) -> None:
    engine = make_engine(f"sqlite:///{database}")
    writer = Inserter(engine)
    writer.start()
    try:
        for _ in range(20):
            writer.batches.acquire(timeout=30)
        committed_before = writer.snapshot()
        backup(database, tmp_path / "copy.db")
        for _ in range(5):  # the writer went on committing during and after the backup
            writer.batches.acquire(timeout=30)
    finally:
        writer.stop.set()
        writer.join(30)
        engine.dispose()
    copied = _uuids(tmp_path / "copy.db")
    assert committed_before <= copied  # every alert committed before the backup began
    assert len(copied) % BATCH == 0  # and whole batches only: one commit's state
    assert copied < _uuids(database)
    assert _mode(tmp_path / "copy.db") == 0o600

    target = tmp_path / "restored" / "alertflow.db"
    restore(tmp_path / "copy.db", target)
    assert _uuids(target) == copied
    assert _mode(target) == 0o600
    assert migrate.current(f"sqlite:///{target}") == migrate.current(f"sqlite:///{database}")


def test_a_restore_replaces_the_contents_and_keeps_the_file_private(database: Path, tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{database}")
    kept = make_alert()
    store_batch(engine, [kept])
    backup(database, tmp_path / "copy.db")
    store_batch(engine, [make_alert()])  # written after the backup: gone after the restore
    engine.dispose()
    database.chmod(0o600)

    restore(tmp_path / "copy.db", database)

    assert _uuids(database) == {kept["alert_uuid"]}
    assert _mode(database) == 0o600


def test_a_restore_is_refused_while_another_process_has_the_store_open(
    database: Path, tmp_path: Path
) -> None:
    backup(database, tmp_path / "copy.db")
    holder = subprocess.Popen(  # what a running ingest worker looks like from outside
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1]); c.execute('SELECT 1 FROM alert');"
            " print('open', flush=True); time.sleep(60)",
            str(database),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        assert any(f"[{holder.pid}]" in user for user in processes_using(database))
        with pytest.raises(StorageError, match=rf"is open in .*\[{holder.pid}\].*--force"):
            restore(tmp_path / "copy.db", database)
        restore(tmp_path / "copy.db", database, force=True)  # open but not writing: allowed when forced
    finally:
        holder.kill()
        holder.wait()


def test_a_restore_is_refused_while_a_writer_holds_the_lock_even_when_forced(
    database: Path, tmp_path: Path
) -> None:
    backup(database, tmp_path / "copy.db")
    engine = make_engine(f"sqlite:///{database}")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM checkpoint")  # holds the write lock until the block ends
            with pytest.raises(StorageError, match="being written to"):
                restore(tmp_path / "copy.db", database, force=True)
    finally:
        engine.dispose()


def test_only_an_alertflow_store_is_restored_and_no_backup_overwrites_a_file(
    database: Path, tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("not a database" * 100)
    with pytest.raises(StorageError, match="not a usable SQLite database"):
        restore(tmp_path / "notes.txt", database)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(StorageError, match="not an alertflow alert store"):
        restore(other, database)
    with pytest.raises(StorageError, match="exists already"):
        backup(database, other)


def test_backup_files_are_private_whatever_the_umask(database: Path, tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        backup(database, tmp_path / "copy.db")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "copy.db") == 0o600
    assert not list(tmp_path.glob(".*partial"))
