"""The drop directory of `alertflow up`: every line of a file put there is imported once.

The contract (README, "Drop directory"):

- Only regular files named `*.json`, `*.jsonl` or `*.log` are taken; names starting with `.`
  and directories are left alone (write `.name.tmp`, then rename it in). A symlink, FIFO,
  device or a file with more than one hard link is never read: it is moved to `failed/`
  with the reason.
- A file is *claimed* once it has not changed for `quiet_s` seconds and no process has it open
  for writing (Linux /proc; a process of another user is only visible when `up` runs as
  root): checked on an O_NOFOLLOW descriptor (a regular file, one link), made private (0600
  like everything in the data dir), renamed atomically into the private `.importing/` under a
  unique name, and checked again there (same inode). A writer that appends after the claim by
  opening the name again (`>>`) creates a new file there, imported on its own later.
- The claimed file is imported by `alertflow ingest-file --respond`. If it changed during the
  import (a writer we could not see still had it open), it is imported again once it is
  quiet: lines already stored are skipped by their alert_uuid, so nothing is stored twice.
- Then it goes to `done/` (or `failed/`, the importer's output in `logs/drop.log`) under
  `<name>.<UTC time>-<n><suffix>`, so a name used again never overwrites an earlier file.
- A file left in `.importing/` by a stopped or killed `up` is imported again at the next start.
- No error here stops `up`: it is reported (up's output and `logs/drop.log`) and the
  directory is looked at again on the next round.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

DROP_SUFFIXES = (".json", ".jsonl", ".log")
IMPORTING = ".importing"


@dataclass
class Claim:
    """A file renamed into `.importing/`, on its way to `done/` or `failed/`."""

    path: Path
    name: str  # the name it was dropped as
    inode: int
    size: int = -1
    mtime_ns: int = -1
    imported: tuple[int, int] | None = None  # (size, mtime_ns) the last good import saw
    process: subprocess.Popen[bytes] | None = None


def import_command(path: Path) -> list[str]:
    """The child that imports one claimed file (its alerts get the response profiles)."""
    return [sys.executable, "-m", "alertflow", "ingest-file", "--respond", str(path)]


@dataclass
class DropDirectory:
    """Imports the files dropped in `path`, one child import at a time; `poll()` never raises."""

    path: Path
    log_path: Path
    env: Callable[[], dict[str, str]]
    echo: Callable[[str], None] = print
    quiet_s: float = 5.0
    command: Callable[[Path], list[str]] = import_command
    claim: Claim | None = None

    def __post_init__(self) -> None:
        self._counter = itertools.count(1)
        self._last_error = ""

    @property
    def importing_dir(self) -> Path:
        return self.path / IMPORTING

    def create(self) -> None:
        self.log_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        for sub in ("", "done", "failed", IMPORTING):
            (self.path / sub).mkdir(mode=0o700, parents=True, exist_ok=True)

    def poll(self) -> None:
        """One round: finish or advance the current import, else claim the next file."""
        try:
            if self.claim is None:
                self.claim = self._leftover() or self._claim_next()
            if self.claim is not None:
                self._advance(self.claim)
            self._last_error = ""
        except Exception as exc:  # nothing in the drop directory may stop `up`
            message = f"drop directory: {type(exc).__name__}: {exc}"
            if message != self._last_error:  # once, not every half second
                self._report(message)
            self._last_error = message
            with contextlib.suppress(OSError):
                self.create()

    def stop(self) -> None:
        """Let a running import store what it read (SIGTERM), then end it; the file stays claimed."""
        process = self.claim.process if self.claim is not None else None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)  # ingest-file stores what it read, then exits
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)

    def _advance(self, claim: Claim) -> None:
        if claim.process is not None:
            code = claim.process.poll()
            if code is None:
                return
            claim.process = None
            if code != 0:
                self._file_away(claim, "failed", f"FAILED (exit {code}), see {self.log_path}")
                return
            claim.imported = (claim.size, claim.mtime_ns)
        try:
            info = os.lstat(claim.path)
        except FileNotFoundError:
            self._report(
                f"drop directory: {claim.name} disappeared from {self.importing_dir} during its import"
            )
            self.claim = None
            return
        now_seen = (info.st_size, info.st_mtime_ns)
        if time.time() - info.st_mtime < self.quiet_s or open_for_writing(info.st_dev, info.st_ino):
            return  # a writer still adds to it: import (again) once it is done
        if claim.imported == now_seen:
            self._file_away(claim, "done", "imported")
            return
        if claim.imported is not None:
            self._report(f"drop directory: {claim.name} grew during its import; importing it again")
        claim.size, claim.mtime_ns = now_seen
        with self.log_path.open("ab") as log:
            claim.process = subprocess.Popen(
                self.command(claim.path),
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _claim_next(self) -> Claim | None:
        """Rename the first quiet, unwritten regular file into `.importing/`; refuse anything else."""
        now = time.time()
        for entry in sorted(os.scandir(self.path), key=lambda e: e.name):
            name = entry.name
            if name.startswith(".") or not name.endswith(DROP_SUFFIXES):
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(info.st_mode):
                continue
            if not stat.S_ISREG(info.st_mode):
                self._refuse(name, f"not a regular file ({_kind(info.st_mode)})")
                continue
            if now - max(info.st_mtime, info.st_ctime) < self.quiet_s:
                continue
            if open_for_writing(info.st_dev, info.st_ino):
                continue
            claim = self._rename_in(name)
            if claim is not None:
                return claim
        return None

    def _rename_in(self, name: str) -> Claim | None:
        """Claim `name` if it is still a regular file with one link (checked on an O_NOFOLLOW fd)."""
        source = self.path / name
        try:
            fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as exc:  # ELOOP: a symlink slipped in since the scan
            self._refuse(name, f"cannot be opened as a file ({exc.strerror})")
            return None
        try:
            info = os.fstat(fd)
            if stat.S_ISREG(info.st_mode):
                with contextlib.suppress(PermissionError):  # once claimed, it is private like the rest
                    os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
        if not stat.S_ISREG(info.st_mode):
            self._refuse(name, f"not a regular file ({_kind(info.st_mode)})")
            return None
        if info.st_nlink != 1:
            self._refuse(name, f"has {info.st_nlink} hard links; copy it in instead")
            return None
        target = self.importing_dir / f"{self._stamp()}-{name}"
        try:
            os.rename(source, target)
        except FileNotFoundError:
            return None
        claimed = os.lstat(target)
        if claimed.st_ino != info.st_ino or not stat.S_ISREG(claimed.st_mode):
            self._file_away(Claim(target, name, claimed.st_ino), "failed", "was replaced while being claimed")
            return None
        return Claim(target, name, info.st_ino)

    def _leftover(self) -> Claim | None:
        """A file an earlier `up` claimed and did not finish (imported again: duplicates are skipped)."""
        for entry in sorted(os.scandir(self.importing_dir), key=lambda e: e.name):
            info = entry.stat(follow_symlinks=False)
            name = entry.name.split("-", 2)[-1]
            if stat.S_ISREG(info.st_mode):
                self._report(f"drop directory: {name} was being imported when up stopped; importing it again")
                return Claim(Path(entry.path), name, info.st_ino)
            self._file_away(Claim(Path(entry.path), name, info.st_ino), "failed", "not a regular file")
        return None

    def _refuse(self, name: str, why: str) -> None:
        """Move what must not be read to `failed/` (a rename never follows a symlink)."""
        source = self.path / name
        try:
            info = os.lstat(source)
        except FileNotFoundError:
            return
        self._file_away(Claim(source, name, info.st_ino), "failed", f"refused: {why}")

    def _file_away(self, claim: Claim, where: str, what: str) -> None:
        stem, dot, suffix = claim.name.rpartition(".")
        base = f"{stem}.{self._stamp()}.{suffix}" if dot else f"{claim.name}.{self._stamp()}"
        target = self.path / where / base
        while target.exists():  # only this process writes here; the counter makes this rare
            target = self.path / where / f"{self._stamp()}-{base}"
        if claim is self.claim:
            self.claim = None
        try:
            os.rename(claim.path, target)
        except FileNotFoundError:
            self._report(f"drop directory: {claim.name} disappeared before it could be moved to {where}/")
            return
        self._report(f"drop directory: {claim.name} {what} -> {where}/{target.name}")

    def _stamp(self) -> str:
        return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{next(self._counter)}"

    def _report(self, message: str) -> None:
        self.echo(message)
        with contextlib.suppress(OSError), self.log_path.open("a", encoding="utf-8") as log:
            log.write(f"{datetime.now(UTC).isoformat(timespec='seconds')} up: {message}\n")


def open_for_writing(device: int, inode: int) -> bool:
    """Whether a process (that /proc lets us see) has this file open for writing."""
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:  # no /proc: rely on the quiet period and the import-again rule
        return False
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.stat(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if (target.st_dev, target.st_ino) != (device, inode):
                continue
            if _fd_flags(pid, fd) & (os.O_WRONLY | os.O_RDWR):
                return True
    return False


def _fd_flags(pid: str, fd: str) -> int:
    try:
        with open(f"/proc/{pid}/fdinfo/{fd}", encoding="ascii") as info:
            for line in info:
                if line.startswith("flags:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return os.O_WRONLY  # cannot tell: assume a writer, wait


def _kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISLNK, "a symlink"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return f"mode {mode:o}"
