"""The forwarding loop: read the alerts after a forwarder's cursor, send them, then move the cursor.

The cursor moves only after the receiver took the batch, so a crash or a receiver outage
sends a batch again rather than losing it (at-least-once). Each forwarder runs in its own
thread with its own backoff, so a receiver that is down holds back only its own forwarder;
ingest never waits for any of them (forwarding only reads the alert store).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from alertmodel.errors import AlertflowError, IntegrationError, ServiceUnavailableError
from alertmodel.formats import FORMATS
from alertmodel.forwarding import (
    advance_cursor,
    alerts_after,
    dead_letter_forward,
    forward_filter,
    read_cursor,
    start_cursor_at_end,
    stored_alert,
)
from blocks.forwarders import ElasticsearchForwarder, Forwarder, GelfForwarder, SyslogForwarder
from tasks.forward.common import Outgoing, Refused
from tasks.forward.elastic import ElasticSender
from tasks.forward.gelf import GelfSender
from tasks.forward.syslog import SyslogSender

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


@dataclass
class Batch:
    """Alerts read after `after` up to id `upto`, rendered; those the format refused are set aside."""

    after: int
    upto: int
    items: list[Outgoing]
    refused: list[Refused]


@dataclass
class ForwardStats:
    """What one forwarder has done since it started."""

    sent: int = 0
    refused: int = 0
    batches: int = 0
    failures: int = 0
    last_error: str = ""


class ForwardLoop:
    """Forwards the alerts after `name`'s cursor to the receiver `block` describes."""

    def __init__(self, engine: Engine, name: str, block: Forwarder, sender: Any | None = None) -> None:
        self.engine, self.name, self.block = engine, name, block
        self.sender = sender if sender is not None else make_sender(block)
        self.render = FORMATS[block.format]
        self.stats = ForwardStats()
        self.cursor: int | None = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"forward-{name}-send")

    def _start(self) -> int:
        with self.engine.begin() as conn:
            if self.block.backfill:
                advance_cursor(conn, self.name, 0)
                return read_cursor(conn, self.name)
            return start_cursor_at_end(conn, self.name)

    def step(self) -> int:
        """Send the next batch; the number of alert ids it covered (0: caught up).

        Raises ServiceUnavailableError (try again later) or another IntegrationError.
        """
        if self.cursor is None:
            self.cursor = self._start()
        batch = self._prepare(self.cursor)
        return 0 if batch is None else self._deliver(batch)

    def catch_up(self) -> int:
        """Send batches back to back until caught up; the alert ids covered.

        The next batch is read and rendered while the previous one is on the wire (the
        receiver works meanwhile); the cursor still moves one delivered batch at a time, and
        a batch read ahead is dropped when a send fails.
        """
        if self.cursor is None:
            self.cursor = self._start()
        covered = 0
        batch = self._prepare(self.cursor)
        while batch is not None:
            sending = self._pool.submit(self._deliver, batch)
            try:
                batch = self._prepare(batch.upto)
            finally:
                covered += sending.result()
        return covered

    def _prepare(self, after: int) -> Batch | None:
        with self.engine.connect() as conn:
            clauses = forward_filter(
                conn, self.block.min_severity, self.block.sources, self.block.categories_profile
            )
            rows, upto = alerts_after(conn, after, self.block.batch_size, clauses)
        if upto == after:
            return None
        items, refused = self._render(rows)
        return Batch(after, upto, items, refused)

    def _deliver(self, batch: Batch) -> int:
        refused = batch.refused + (self.sender.send(batch.items) if batch.items else [])
        with self.engine.begin() as conn:
            for item in refused:
                dead_letter_forward(conn, self.name, self.sender.origin, item.document, item.reason)
                log.warning("forwarder %s: alert %s refused: %s", self.name, item.alert_uuid, item.reason)
            advance_cursor(conn, self.name, batch.upto)
        self.cursor = batch.upto
        self.stats.sent += len(batch.items) - (len(refused) - len(batch.refused))
        self.stats.refused += len(refused)
        self.stats.batches += 1
        return batch.upto - batch.after

    def _render(self, rows: list[dict[str, Any]]) -> tuple[list[Outgoing], list[Refused]]:
        items, refused = [], []
        for row in rows:
            try:
                document = self.render(stored_alert(dict(row)))
            except (ValueError, TypeError, KeyError) as exc:
                refused.append(
                    Refused(row["alert_uuid"], repr(row).encode(), f"format {self.block.format}: {exc}")
                )
                continue
            items.append(Outgoing(row, document))
        return items, refused

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
        """Close the sender's connections."""
        self._pool.shutdown(wait=True)
        self.sender.close()


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
                loop = ForwardLoop(self.engine, name, block)
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
