"""Detached processes with pid files: `cluster up` starts them and returns, `down` and `status`
find them again by the pid file (pid plus the kernel's start time, so a reused pid is not ours)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Process:
    """One long-running part: its command, environment, log file and pid file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    pid_path: Path
    cwd: Path | None = None

    def start(self) -> int:
        """Start it in its own session (its children share its process group); returns the pid."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.pid_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid_path.write_text(f"{process.pid} {_start_time(process.pid)}\n", encoding="utf-8")
        return process.pid

    def pid(self) -> int | None:
        """The pid when the process this file names still runs, else None."""
        try:
            pid_text, _, started = self.pid_path.read_text(encoding="utf-8").partition(" ")
            pid = int(pid_text)
        except (OSError, ValueError):
            return None
        return pid if _start_time(pid) == started.strip() and not _zombie(pid) else None

    def stop(self, timeout_s: float = 20) -> bool:
        """SIGTERM its process group, SIGKILL what is left after `timeout_s`; True when it ran."""
        pid = self.pid()
        if pid is None:
            self.pid_path.unlink(missing_ok=True)
            return False
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.pid() is not None:
            time.sleep(0.2)
        _signal_group(pid, signal.SIGKILL)  # flow-run subprocesses of a worker share its group
        self.pid_path.unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot ("" when there is no such process)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rpartition(")")[2].split()[19]


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
