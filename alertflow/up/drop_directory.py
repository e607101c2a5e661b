"""The drop directory of `alertflow up`: a JSON-lines file put there is imported once.

Each file is imported by a child `alertflow ingest-file --respond` (one at a time) and then
moved to `done/` (or `failed/`, with its output in `logs/drop.log`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DROP_SUFFIXES = (".json", ".jsonl", ".log")


@dataclass
class DropDirectory:
    """Imports the files dropped in `path`, one `ingest-file` child at a time."""

    path: Path
    log_path: Path
    env: Callable[[], dict[str, str]]
    echo: Callable[[str], None] = print
    importing: tuple[Path, subprocess.Popen[bytes]] | None = None

    def create(self) -> None:
        for sub in ("", "done", "failed"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)

    def poll(self) -> None:
        """Finish the import that ended, then start the next one if a file waits."""
        if self.importing is not None:
            path, process = self.importing
            code = process.poll()
            if code is None:
                return
            target = self.path / ("done" if code == 0 else "failed") / path.name
            path.replace(target)
            self.echo(
                f"drop directory: {path.name} {'imported' if code == 0 else 'FAILED, see ' + str(self.log_path)}"
            )
            self.importing = None
        now = time.time()
        for path in sorted(self.path.iterdir()):
            # a file still being written changes its mtime: wait until it has been still for 1 s
            if path.is_file() and path.suffix in DROP_SUFFIXES and now - path.stat().st_mtime > 1:
                log = self.log_path.open("ab")
                process = subprocess.Popen(
                    [sys.executable, "-m", "alertflow", "ingest-file", "--respond", str(path)],
                    env=self.env(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
                log.close()
                self.importing = (path, process)
                return

    def stop(self) -> None:
        """Let the running import store what it read (SIGTERM), then end it."""
        if self.importing is None:
            return
        pid = self.importing[1].pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)  # ingest-file stores what it read, then exits
        try:
            self.importing[1].wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        self.importing = None
