"""Tail a JSON-lines file, following rename-rotation and truncation, resuming from a checkpoint.

Each delivery carries the position (device, inode, byte offset after its last line); the
worker stores that position in the transaction that stores the lines, so after a crash the
tail resumes exactly where the stored data ends. A file rotated away while the worker was
down is found again by its inode among its siblings (`eve.json.1`) and finished first.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import BinaryIO

from ingest.checkpoint import FilePosition
from ingest.delivery import Delivery, Inbox

log = logging.getLogger(__name__)

_DONE, _ROTATED, _STOPPED = "done", "rotated", "stopped"


def checkpoint_key(path: str | Path) -> str:
    """The checkpoint name of a file source: its absolute path."""
    return f"file:{Path(path).absolute()}"


class FileSource:
    """A JSON-lines file read in chunks; `follow=False` reads to the end once (an import)."""

    def __init__(
        self,
        path: str | Path,
        *,
        position: FilePosition | None = None,
        follow: bool = True,
        source: str = "auto",
        chunk_bytes: int = 256 * 1024,
        max_lines: int = 1000,
        poll_s: float = 0.2,
    ) -> None:
        self.path = Path(path).absolute()
        self.key = checkpoint_key(self.path)
        self.name = f"file:{self.path}"
        self.position = position
        self.follow = follow
        self.source = source
        self.chunk_bytes = chunk_bytes
        self.max_lines = max_lines
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._thread: threading.Thread | None = None
        self._inbox: Inbox | None = None

    @property
    def finished(self) -> bool:
        """True once a non-following source has handed over its whole file."""
        return self._finished.is_set()

    def start(self, inbox: Inbox) -> None:
        """Start the reading thread."""
        self._inbox = inbox
        self._thread = threading.Thread(target=self._run, name=f"tail-{self.path.name}", daemon=True)
        self._thread.start()

    def stop_reading(self) -> None:
        """Stop after the current chunk; nothing read is lost, the checkpoint says where to resume."""
        self._stop.set()

    def close(self) -> None:
        """Wait for the reading thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    # -- reading -----------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            for path, offset in self._plan():
                outcome = self._read_file(path, offset, last=(path == self.path))
                while outcome == _ROTATED:
                    log.info("%s was rotated; following the new file", path)
                    outcome = self._read_file(path, 0, last=True)
                if outcome == _STOPPED:
                    return
        except Exception:  # a vanished or unreadable file is logged; the worker keeps its other sources
            log.exception("reading %s failed", self.path)
        finally:
            if not self.follow:
                self._finished.set()

    def _plan(self) -> list[tuple[Path, int]]:
        """Which files to read from which offset: a rotated-away remainder first, then the file."""
        pos = self.position
        if pos is None:
            return [(self.path, 0)]
        current = _identity(self.path)
        if current == (pos.device, pos.inode):
            size = self.path.stat().st_size
            if size < pos.offset:
                log.warning(
                    "%s is shorter than its checkpoint (truncated); reading it from the start", self.path
                )
                return [(self.path, 0)]
            return [(self.path, pos.offset)]
        rotated = _find_by_identity(self.path, pos.device, pos.inode)
        if rotated is not None:
            log.info("%s was rotated to %s; finishing it from byte %d", self.path, rotated, pos.offset)
            return [(rotated, pos.offset), (self.path, 0)]
        log.warning(
            "the checkpointed file behind %s is gone; reading the current file from the start", self.path
        )
        return [(self.path, 0)]

    def _read_file(self, path: Path, offset: int, *, last: bool) -> str:
        """Read `path` from `offset` (following the live file): _DONE, _ROTATED or _STOPPED."""
        fh = self._open_when_present(path)
        if fh is None:
            return _STOPPED
        with fh:
            ident = _fd_identity(fh)
            fh.seek(offset)
            consumed = offset  # byte offset after the last line handed over
            partial = b""
            while not self._stop.is_set():
                data = fh.read(self.chunk_bytes)
                if data:
                    partial += data
                    cut = partial.rfind(b"\n")
                    if cut >= 0:
                        complete, partial = partial[: cut + 1], partial[cut + 1 :]
                        if not self._deliver(complete, consumed, ident):
                            return _STOPPED
                        consumed += len(complete)
                    continue
                if not last or not self.follow:  # a rotated-away file or an import: nothing more comes
                    return _DONE if self._deliver_final(partial, consumed, ident) else _STOPPED
                now = _identity(path)
                if now is not None and now != ident:
                    data = fh.read()  # whatever was written before the rename
                    if data:
                        partial += data
                        continue
                    return _ROTATED if self._deliver_final(partial, consumed, ident) else _STOPPED
                # fstat: `path` is this same file, and a rename right now must not end the tail
                if now is not None and os.fstat(fh.fileno()).st_size < consumed + len(partial):
                    log.warning("%s was truncated; reading it from the start", path)
                    fh.seek(0)
                    consumed, partial = 0, b""
                    continue
                self._stop.wait(self.poll_s)
        return _STOPPED

    def _open_when_present(self, path: Path) -> BinaryIO | None:
        while not self._stop.is_set():
            try:
                return path.open("rb")
            except FileNotFoundError:
                if not self.follow:
                    raise
                self._stop.wait(self.poll_s)
        return None

    def _deliver(self, complete: bytes, start: int, ident: tuple[int, int]) -> bool:
        """Hand over complete lines in deliveries of at most `max_lines` lines."""
        lines = complete.split(b"\n")
        lines.pop()  # the empty piece after the final newline
        offset = start
        for i in range(0, len(lines), self.max_lines):
            group = lines[i : i + self.max_lines]
            end = offset + sum(len(line) for line in group) + len(group)
            if not self._put(group, offset, end, ident):
                return False
            offset = end
        return True

    def _deliver_final(self, partial: bytes, consumed: int, ident: tuple[int, int]) -> bool:
        """The rest of a file that ends: its complete lines, then an unterminated last line."""
        cut = partial.rfind(b"\n") + 1
        if cut and not self._deliver(partial[:cut], consumed, ident):
            return False
        rest = partial[cut:]
        return not rest or self._put([rest], consumed + cut, consumed + len(partial), ident)

    def _put(self, lines: list[bytes], start: int, end: int, ident: tuple[int, int]) -> bool:
        assert self._inbox is not None
        delivery = Delivery(
            lines=lines,
            origin=f"{self.path}@{start}",
            source=self.source,
            position=FilePosition(self.key, ident[0], ident[1], end),
        )
        return self._inbox.put(delivery)


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def _fd_identity(fh: BinaryIO) -> tuple[int, int]:
    st = os.fstat(fh.fileno())
    return st.st_dev, st.st_ino


def _find_by_identity(path: Path, device: int, inode: int) -> Path | None:
    """A sibling such as `eve.json.1` that is the file the checkpoint was taken on."""
    try:
        candidates = sorted(p for p in path.parent.iterdir() if p.name.startswith(path.name) and p != path)
    except OSError:
        return None
    for candidate in candidates:
        if _identity(candidate) == (device, inode):
            return candidate
    return None
