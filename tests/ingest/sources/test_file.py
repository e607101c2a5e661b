from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from alertmodel import migrate
from alertmodel.engine import make_engine
from ingest.checkpoint import FilePosition, load_position
from ingest.core import IngestCore
from ingest.delivery import Delivery, Inbox
from ingest.sources.file import FileSource, checkpoint_key
from ingest.worker import Worker
from tests.ingest.events import count_alerts, stored_tags, suricata_alerts, wait_for


class Collected:
    """Tails a file into an inbox and gathers the lines and positions it hands over."""

    def __init__(self, source: FileSource) -> None:
        self.source = source
        self.inbox = Inbox(max_items=10_000, max_bytes=1 << 30)
        self.lines: list[bytes] = []
        self.positions: list[FilePosition] = []
        source.start(self.inbox)

    def drain(self) -> list[bytes]:
        while (d := self.inbox.get(timeout=0.01)) is not None:
            self._take(d)
        return self.lines

    def _take(self, d: Delivery) -> None:
        self.lines.extend(d.lines)
        assert d.position is not None
        self.positions.append(d.position)

    def until(self, n: int) -> list[bytes]:
        wait_for(lambda: len(self.drain()) >= n, timeout=30, what=f"{n} lines")
        return self.lines


def _append(path: Path, lines: list[bytes]) -> None:
    with path.open("ab") as fh:
        fh.write(b"".join(line + b"\n" for line in lines))


@pytest.fixture
def engine(sqlite_database: str) -> Iterator[Engine]:
    migrate.upgrade(sqlite_database)
    engine = make_engine(sqlite_database)
    yield engine
    engine.dispose()


def test_a_one_shot_read_hands_over_every_line_with_the_offset_after_it(tmp_path: Path) -> None:
    path = tmp_path / "eve.json"
    path.write_bytes(b"a\r\nbb\n\nccc")  # CRLF, a blank line, and a last line without newline
    got = Collected(FileSource(path, follow=False, max_lines=2))
    wait_for(lambda: got.source.finished, what="the end of the file")
    assert got.drain() == [b"a\r", b"bb", b"", b"ccc"]
    assert [p.offset for p in got.positions] == [6, 7, 10]
    assert got.positions[-1].inode == os.stat(path).st_ino


def test_a_partial_last_line_waits_for_its_newline(tmp_path: Path) -> None:
    path = tmp_path / "eve.json"
    path.write_bytes(b"one\ntw")
    got = Collected(FileSource(path, poll_s=0.01))
    try:
        assert got.until(1) == [b"one"]
        with path.open("ab") as fh:
            fh.write(b"o\n")
        assert got.until(2) == [b"one", b"two"]
    finally:
        got.source.close()


def test_a_rotation_between_the_tails_two_looks_at_the_file_does_not_end_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rename lands right after the tail saw the file still there, before it reads its size."""
    from ingest.sources import file as file_source

    path = tmp_path / "eve.json"
    _append(path, [b"1"])
    seen_still_there = file_source._identity
    rotate_next = threading.Event()

    def identity_then_rotation(p: Path) -> tuple[int, int] | None:
        ident = seen_still_there(p)
        if rotate_next.is_set() and p == path and ident is not None:
            p.rename(tmp_path / "eve.json.1")
            rotate_next.clear()
        return ident

    monkeypatch.setattr(file_source, "_identity", identity_then_rotation)
    got = Collected(FileSource(path, poll_s=0.01))
    try:
        got.until(1)
        rotate_next.set()
        wait_for(lambda: not rotate_next.is_set(), timeout=10, what="the rotation")
        _append(path, [b"2", b"3"])
        assert got.until(3) == [b"1", b"2", b"3"]
    finally:
        got.source.close()


def test_the_tail_follows_a_rename_rotation_and_loses_no_line(tmp_path: Path) -> None:
    path = tmp_path / "eve.json"
    _append(path, [b"1", b"2"])
    got = Collected(FileSource(path, poll_s=0.01))
    try:
        got.until(2)
        _append(path, [b"3"])  # written just before the rotation
        path.rename(tmp_path / "eve.json.1")
        _append(path, [b"4", b"5"])
        assert got.until(5) == [b"1", b"2", b"3", b"4", b"5"]
        assert got.positions[-1].inode == os.stat(path).st_ino
    finally:
        got.source.close()


def test_the_tail_starts_over_when_the_file_is_truncated(tmp_path: Path) -> None:
    path = tmp_path / "eve.json"
    _append(path, [b"old-1", b"old-2"])
    got = Collected(FileSource(path, poll_s=0.01))
    try:
        got.until(2)
        with path.open("wb") as fh:  # copytruncate
            fh.write(b"n\n")
        assert got.until(3) == [b"old-1", b"old-2", b"n"]
        assert got.positions[-1].offset == 2
    finally:
        got.source.close()


def test_a_checkpoint_resumes_exactly_after_the_stored_line(tmp_path: Path) -> None:
    path = tmp_path / "eve.json"
    _append(path, [b"first", b"second", b"third"])
    st = os.stat(path)
    position = FilePosition(checkpoint_key(path), st.st_dev, st.st_ino, len(b"first\n"))
    got = Collected(FileSource(path, position=position, follow=False))
    wait_for(lambda: got.source.finished, what="the end of the file")
    assert got.drain() == [b"second", b"third"]


def test_a_file_rotated_while_the_worker_was_down_is_finished_before_the_new_one(tmp_path: Path) -> None:
    path = tmp_path / "eve.json"
    _append(path, [b"a", b"b", b"c"])
    st = os.stat(path)
    position = FilePosition(checkpoint_key(path), st.st_dev, st.st_ino, len(b"a\n"))
    path.rename(tmp_path / "eve.json.1")
    _append(path, [b"d"])
    got = Collected(FileSource(path, position=position, poll_s=0.01))
    try:
        assert got.until(3) == [b"b", b"c", b"d"]
    finally:
        got.source.close()


def test_a_checkpoint_beyond_the_file_end_means_truncation_and_reads_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "eve.json"
    _append(path, [b"x"])
    st = os.stat(path)
    position = FilePosition(checkpoint_key(path), st.st_dev, st.st_ino, 1000)
    got = Collected(FileSource(path, position=position, follow=False))
    wait_for(lambda: got.source.finished, what="the end of the file")
    assert got.drain() == [b"x"]


def test_a_restarted_worker_resumes_from_the_checkpoint_it_committed(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "eve.json"
    _append(path, suricata_alerts(30, "ckpt"))

    def run_until_stored(n: int) -> None:
        with engine.connect() as conn:
            position = load_position(conn, checkpoint_key(path))
        worker = Worker(
            engine, IngestCore(), [FileSource(path, position=position, poll_s=0.01)], batch_wait_s=0.01
        )
        worker.start()
        try:
            wait_for(lambda: count_alerts(engine)[0] >= n, what=f"{n} alerts")
        finally:
            worker.request_stop()
            assert worker.wait(60)

    run_until_stored(30)
    _append(path, suricata_alerts(20, "ckpt", start=30))
    run_until_stored(50)
    _append(path, suricata_alerts(5, "ckpt", start=50))
    path.rename(tmp_path / "eve.json.1")  # rotated while no worker runs
    _append(path, suricata_alerts(5, "ckpt", start=55))
    run_until_stored(60)

    assert count_alerts(engine) == (60, 60)
    assert stored_tags(engine) == [f"ckpt-{i}" for i in range(60)]
    with engine.connect() as conn:
        position = load_position(conn, checkpoint_key(path))
    assert position is not None
    assert (position.inode, position.offset) == (os.stat(path).st_ino, path.stat().st_size)
