"""The forwarding loop: read the alerts after a forwarder's cursor, send them, then move the cursor.

The cursor moves only after the receiver took the batch, so a crash or a receiver outage
sends a batch again rather than losing it (at-least-once). Each forwarder runs in its own
thread with its own backoff, so a receiver that is down holds back only its own forwarder;
ingest never waits for any of them (forwarding only reads the alert store).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from alertmodel.errors import AlertflowError, IntegrationError, ServiceUnavailableError
from alertmodel.forwarding import (
    advance_cursor,
    dead_letter_forward,
    newest_alert_id,
    oldest_after,
    read_cursor,
    start_cursor_at_end,
)
from alertmodel.metrics import FORWARDER_LAG
from blocks.forwarders import ElasticsearchForwarder, Forwarder, GelfForwarder, SyslogForwarder
from tasks.forward.common import Refused
from tasks.forward.elastic import ElasticSender
from tasks.forward.gelf import GelfSender
from tasks.forward.render import Encoder, RenderSpec, Window, render_pool, window_job
from tasks.forward.syslog import SyslogSender, syslog_hostname

log = logging.getLogger("alertflow.forward")


def make_sender(block: Forwarder) -> Any:
    """The sender for a forwarder block."""
    if isinstance(block, GelfForwarder):
        return GelfSender(block)
    if isinstance(block, ElasticsearchForwarder):
        return ElasticSender(block)
    if isinstance(block, SyslogForwarder):
        return SyslogSender(block)
    raise TypeError(f"not a forwarder block: {type(block).__name__}")


def render_spec(block: Forwarder) -> RenderSpec:
    """What a render process needs of a forwarder block: its filter, format and wire settings."""
    common: dict[str, Any] = {
        "format": block.format,
        "min_severity": block.min_severity,
        "sources": tuple(block.sources),
        "categories_profile": block.categories_profile,
    }
    if isinstance(block, GelfForwarder):
        kind = "gelf_tcp" if block.protocol == "tcp" else "gelf_udp"
        return RenderSpec(kind, host=socket.gethostname(), udp_chunk_size=block.udp_chunk_size, **common)
    if isinstance(block, ElasticsearchForwarder):
        return RenderSpec("bulk", index=block.index, **common)
    if isinstance(block, SyslogForwarder):
        return RenderSpec(
            "syslog",
            host=syslog_hostname(block),
            facility=block.facility,
            app_name=block.app_name,
            **common,
        )
    raise TypeError(f"not a forwarder block: {type(block).__name__}")


@dataclass
class ForwardStats:
    """What one forwarder has done since it started."""

    sent: int = 0
    refused: int = 0
    batches: int = 0
    failures: int = 0
    last_error: str = ""


class ForwardLoop:
    """Forwards the alerts after `name`'s cursor to the receiver `block` describes.

    Windows of `batch_size` alert ids are read and encoded ahead of the one on the wire: by
    `processes` render processes (each reading the store itself), or by one thread of this
    process when `processes` is 0. Windows are sent, and the cursor moved, strictly in order.
    """

    def __init__(
        self, engine: Engine, name: str, block: Forwarder, sender: Any | None = None, processes: int = 0
    ) -> None:
        self.engine, self.name, self.block = engine, name, block
        self.sender = sender if sender is not None else make_sender(block)
        self.spec = render_spec(block)
        self.stats = ForwardStats()
        self.cursor: int | None = None
        self.processes = processes
        self._encoder = Encoder(self.spec)
        self._pool: Executor | None = None
        self._committer = ThreadPoolExecutor(1, thread_name_prefix=f"forward-{name}-commit")
        self._committing: Future[None] | None = None
        self._oldest_unsent: float | None = None  # time_collr (epoch s) of the first alert after the cursor
        FORWARDER_LAG.labels(name).set_function(self.lag_s)

    def lag_s(self) -> float:
        """Seconds since the oldest alert not sent yet was collected (its time_collr); 0 when caught up."""
        oldest = self._oldest_unsent
        return 0.0 if oldest is None else max(0.0, time.time() - oldest)

    def _start(self) -> int:
        with self.engine.begin() as conn:
            if self.block.backfill:
                advance_cursor(conn, self.name, 0)
                return read_cursor(conn, self.name)
            return start_cursor_at_end(conn, self.name)

    def step(self) -> int:
        """Send the next window, read in this thread; the number of alert ids it covered (0: caught up).

        Raises ServiceUnavailableError (try again later) or another IntegrationError.
        """
        if self.cursor is None:
            self.cursor = self._start()
        top = self._newest()
        covered = 0
        try:
            if top > self.cursor:
                covered = self._deliver(
                    self._window(self.cursor, min(top, self.cursor + self.block.batch_size))
                )
        finally:
            self.settle()
        self.note_lag()
        return covered

    def catch_up(self) -> int:
        """Send windows back to back until caught up; the alert ids covered.

        The next windows are read and encoded while one is on the wire (the receiver works
        meanwhile); the cursor still moves one delivered window at a time, and windows read
        ahead are dropped when a send fails.
        """
        if self.cursor is None:
            self.cursor = self._start()
        pool = self._executor()
        covered, after = 0, self.cursor
        top = self._newest()
        pending: deque[Future[Window]] = deque()
        try:
            while True:
                while len(pending) <= max(self.processes, 1) and after < top:
                    upto = min(top, after + self.block.batch_size)
                    pending.append(pool.submit(self._job, after, upto))
                    after = upto
                if not pending:
                    top = self._newest()
                    if top <= after:
                        break
                    continue
                covered += self._deliver(pending.popleft().result())
        except BrokenExecutor as exc:  # a render process died (killed, out of memory): start new ones
            self._pool = None
            raise ServiceUnavailableError(f"forwarder {self.name}: a render process died: {exc}") from exc
        finally:
            for future in pending:
                future.cancel()
            self.settle()
        self.note_lag()
        return covered

    def prepare(self) -> None:
        """Start the render processes now (the first `catch_up` does it otherwise)."""
        self._executor()

    def _executor(self) -> Executor:
        if self._pool is None:
            if self.processes > 0:
                url = self.engine.url.render_as_string(hide_password=False)
                self._pool = render_pool(url, self.spec, self.processes)
                self._job: Callable[[int, int], Window] = window_job
            else:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"forward-{self.name}-render")
                self._job = self._window
        return self._pool

    def _window(self, after: int, upto: int) -> Window:
        with self.engine.connect() as conn:
            return self._encoder.window(conn, after, upto)

    def _newest(self) -> int:
        with self.engine.connect() as conn:
            return newest_alert_id(conn)

    def note_lag(self) -> None:
        """Read when the oldest alert after the cursor was collected, for the lag gauge."""
        if self.cursor is None:
            return
        with self.engine.connect() as conn:
            self._oldest_unsent = oldest_after(conn, self.cursor)

    def _deliver(self, window: Window) -> int:
        """Send `window`, then commit its cursor (and dead letters) in the background; the ids it covered.

        The commit (an fsync on SQLite) overlaps sending the next window, but only one window is
        ever sent and not committed: a kill resends at most that one and the one on the wire.
        """
        refused = window.refused + (self.sender.send_window(window) if window.uuids else [])
        self.settle()
        self._committing = self._committer.submit(self._commit, window, refused)
        return window.upto - window.after

    def settle(self) -> None:
        """Wait for the commit of the last window sent (its error, if any, is raised here)."""
        committing, self._committing = self._committing, None
        if committing is not None:
            committing.result()

    def _commit(self, window: Window, refused: list[Refused]) -> None:
        with self.engine.begin() as conn:
            for item in refused:
                dead_letter_forward(conn, self.name, self.sender.origin, item.document, item.reason)
                log.warning("forwarder %s: alert %s refused: %s", self.name, item.alert_uuid, item.reason)
            advance_cursor(conn, self.name, window.upto)
        self.cursor = window.upto
        self.stats.sent += len(window.uuids) - (len(refused) - len(window.refused))
        self.stats.refused += len(refused)
        self.stats.batches += 1
        self.note_lag()

    def run(self, stop: threading.Event, poll_s: float = 1.0, max_backoff_s: float = 30.0) -> None:
        """Forward until `stop` is set: batches back to back while behind, a poll every `poll_s` when caught up."""
        backoff = 0.0
        while not stop.is_set():
            try:
                covered = self.catch_up()
            except IntegrationError as exc:
                self.stats.failures += 1
                self.stats.last_error = str(exc)
                self.sender.close()
                with contextlib.suppress(SQLAlchemyError):  # the store may be what is down
                    self.note_lag()
                transient = isinstance(exc, ServiceUnavailableError)
                backoff = min(max_backoff_s, max(poll_s, backoff * 2)) if transient else max_backoff_s
                log.warning("forwarder %s: %s; next try in %.1f s", self.name, exc, backoff)
                stop.wait(backoff)
                continue
            backoff = 0.0
            if covered == 0:
                stop.wait(poll_s)

    def drain(self) -> None:
        """Send everything stored now and return (`alertflow forward --once`); errors propagate."""
        self.catch_up()

    def close(self) -> None:
        """Stop the render processes (or thread), close the sender's connections, drop the lag gauge."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._committer.shutdown(wait=True)
        self.sender.close()
        with contextlib.suppress(KeyError):
            FORWARDER_LAG.remove(self.name)


@dataclass
class Running:
    """A forwarder loop running in its thread."""

    loop: ForwardLoop
    thread: threading.Thread
    stop: threading.Event
    settings: str


@dataclass
class ForwardSupervisor:
    """Keeps one loop per configured forwarder running; picks up added, changed and removed forwarders."""

    engine: Engine
    load: Callable[[], dict[str, Forwarder]]
    poll_s: float = 1.0
    max_backoff_s: float = 30.0
    reload_s: float = 30.0
    processes: int = 0
    running: dict[str, Running] = field(default_factory=dict)

    def reconcile(self) -> None:
        """Start, restart or stop loops so they match the forwarders `load` returns now."""
        wanted = self.load()
        for name in [n for n in self.running if n not in wanted]:
            self._stop(name)
        for name, block in wanted.items():
            settings = block.model_dump_json()
            current = self.running.get(name)
            if current is not None and current.settings == settings and current.thread.is_alive():
                continue
            if current is not None:
                self._stop(name)
            try:
                loop = ForwardLoop(self.engine, name, block, processes=self.processes)
            except (ValueError, OSError, AlertflowError) as exc:
                log.error("forwarder %s cannot start: %s", name, exc)
                continue
            stop = threading.Event()
            thread = threading.Thread(
                target=loop.run,
                args=(stop, self.poll_s, self.max_backoff_s),
                name=f"forward-{name}",
                daemon=True,
            )
            thread.start()
            self.running[name] = Running(loop, thread, stop, settings)
            log.info("forwarder %s started (%s)", name, loop.sender.origin)

    def _stop(self, name: str) -> None:
        running = self.running.pop(name)
        running.stop.set()
        running.thread.join(timeout=running.loop.block.timeout_s + 5)
        running.loop.close()
        log.info("forwarder %s stopped", name)

    def run(self, stop: threading.Event) -> None:
        """Reconcile every `reload_s` until `stop` is set, then stop every loop."""
        try:
            while not stop.is_set():
                try:
                    self.reconcile()
                except AlertflowError as exc:
                    log.error("could not load the forwarders: %s", exc)
                stop.wait(self.reload_s)
        finally:
            for name in list(self.running):
                self._stop(name)
