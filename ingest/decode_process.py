"""IngestCore in a child process, so decoding never holds the GIL the writer thread needs.

The database drivers give the GIL up during every statement and must take it back afterwards.
Next to a decode thread that keeps it busy, each of those takes up to a switch interval:
SQLite's executemany fell from ~30,000 to ~180 rows/s next to a busy decoder. With the
decoder in its own process the worker's threads mostly wait on I/O, the writer gets the GIL
back at once, and SQLite can use executemany (~20% faster than multi-row statements). The
child also builds the driver rows (`prepare_rows`), so the parent does no per-alert Python
work unless a hook or an enricher needs the alerts as dicts.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from ingest.batch import CoreOutput, prepare_rows
from ingest.core import IngestCore
from ingest.policy import Policy

log = logging.getLogger(__name__)

Item = tuple[list[bytes], str, str]
"""One delivery to decode: (lines, source, origin)."""

Decoded = tuple[CoreOutput, list[tuple[Any, ...]]]
"""One delivery's output and its driver rows; output.alerts is empty unless `keep_alerts`."""


class DecodeProcess:
    """Runs `IngestCore.process` + `prepare_rows` in a child; `process` blocks until it answers.

    The child holds its own copy of the core (aggregation windows, first-seen categories), so
    every batch must go through the same DecodeProcess, and policy changes are sent to it.
    """

    def __init__(self, core: IngestCore, dialect: str, *, keep_alerts: bool) -> None:
        self._core, self._dialect, self._keep_alerts = core, dialect, keep_alerts
        self._conn: Connection | None = None
        self._process: BaseProcess | None = None

    def start(self) -> None:
        # fork: starts in milliseconds with the modules already loaded, and needs no __main__ guard
        # in the caller's script (spawn re-imports it). The child touches nothing but the core and
        # its pipe, and leaves with os._exit, so the parent's connections it inherited stay intact.
        context = multiprocessing.get_context("fork")
        parent, child = context.Pipe()
        self._process = context.Process(
            target=_serve,
            args=(child, parent, self._core, self._dialect, self._keep_alerts),
            name="ingest-decode",
            daemon=True,
        )
        # What exists now is shared with the child page by page until someone writes to it, and
        # a full collection writes to every tracked object: freezing them keeps the pages shared
        # (without it a gen-2 collection about a minute in cost 25 MB in each process).
        gc.freeze()
        self._process.start()
        child.close()
        self._conn = parent

    def set_policy(self, policy: Policy | None) -> None:
        """Applied by the child before the next batch."""
        self._send(("policy", policy))

    def process(self, items: Sequence[Item]) -> list[Decoded]:
        """Decode the deliveries in order; restarts a child that died and tries once more."""
        try:
            return self._exchange(items)
        except (EOFError, BrokenPipeError, ConnectionResetError) as exc:
            code = self._process.exitcode if self._process is not None else None
            log.error("the decode process ended (%s, exit code %s); starting a new one", exc, code)
            self.close()
            self.start()
            return self._exchange(items)

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the child: closing the pipe ends its loop."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._process is not None:
            self._process.join(timeout_s)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(timeout_s)
            self._process = None

    def _send(self, message: tuple[str, Any]) -> None:
        if self._conn is None:
            raise RuntimeError("the decode process is not running")
        self._conn.send(message)

    def _exchange(self, items: Sequence[Item]) -> list[Decoded]:
        self._send(("batch", list(items)))
        assert self._conn is not None
        reply = self._conn.recv()
        if isinstance(reply, BaseException):
            raise reply
        return reply  # type: ignore[no-any-return]


def _serve(
    conn: Connection, parent_end: Connection, core: IngestCore, dialect: str, keep_alerts: bool
) -> None:
    """The child's whole life: serve until the pipe closes, then leave with os._exit.

    os._exit skips multiprocessing's and the interpreter's exit machinery, which in a child
    forked from a busy process (threads, connections, finalizers) can trip over inherited state.
    """
    code = 0
    try:
        parent_end.close()  # forked with it: while open here, the parent closing it would not end the loop
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which drains first
        _loop(conn, core, dialect, keep_alerts)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(AttributeError, OSError, ValueError):
                stream.flush()
        os._exit(code)


def _loop(conn: Connection, core: IngestCore, dialect: str, keep_alerts: bool) -> None:
    """Policy changes and batches in, outputs out, until the pipe closes."""
    while True:
        try:
            kind, payload = conn.recv()
        except (EOFError, OSError):
            return
        if kind == "policy":
            core.set_policy(payload)
            continue
        try:
            decoded = []
            for lines, source, origin in payload:
                out = core.process(lines, source=source, origin=origin)
                rows = prepare_rows(out.alerts, dialect)
                if not keep_alerts:
                    out.alerts = []
                decoded.append((out, rows))
        except Exception as exc:  # IngestCore never raises on input: this is a bug, report it whole
            conn.send(exc)
            continue
        conn.send(decoded)
