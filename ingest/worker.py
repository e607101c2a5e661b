"""The ingest worker: sources → bounded inbox → decode (IngestCore, in a child process) → writer thread → ack.

The decode thread hands each batch to a decode process (ingest.decode_process) and waits for its rows,
so the database driver in the writer thread never waits for the GIL; between the decode and
writer threads sits a queue of at most two prepared batches, and in front of the decoder a
byte-bounded inbox. Batching is group commit: an idle writer gets what has arrived at once (a
lone alert is stored, and its playbook started, without waiting), and while the writer is busy
the next batch fills for up to `batch_wait_s` or `batch_size` events. When the database is slow
or down the writer retries the same batch with backoff, both queues fill, and sources block:
nothing is read, acked or dropped. `decode_process=False` decodes in the decode thread itself.

Extension points (constructor arguments): `batch_hooks` (`BatchHook`, defined in ingest.store:
called inside the batch transaction with only the alerts stored for the first time) and
`enrichers` (`Enricher`: called before the transaction, their rows stored in the same batch).
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc

from alertmodel.metrics import severity_label, source_label
from ingest.batch import Batch, CoreOutput, DeadLetterItem, as_alert, prepare_rows
from ingest.core import IngestCore
from ingest.decode_process import Decoded, DecodeProcess
from ingest.delivery import Delivery, Inbox, Outcome
from ingest.metrics import IngestMetrics
from ingest.policy import Policy
from ingest.store import BatchHook, BatchWriter, StoredSizes, WriteResult

log = logging.getLogger(__name__)

Enricher = Callable[[CoreOutput], list[dict[str, Any]]]
"""Called before the transaction; returns extra alert rows stored in the same batch."""

# sqlite3 and pymysql release the GIL while the database works; getting it back waits for a
# busy thread to yield it, after up to the switch interval (default 5 ms): the decode thread
# when decoding falls back to it, the HTTP or STOMP threads otherwise. 0.5 ms lets it resume promptly.
GIL_SWITCH_INTERVAL_S = 0.0005
_BUSY_RECHECK_S = 0.005  # how often a filling batch checks whether the writer has become idle
_PERMANENT_ATTEMPTS = 3  # a batch the database refuses for a non-transient reason this often is dead-lettered


class Source(Protocol):
    """Something that puts deliveries into the inbox from its own thread(s)."""

    name: str

    def start(self, inbox: Inbox) -> None:
        """Begin reading; block in `inbox.put` when it is full."""

    def stop_reading(self) -> None:
        """Take no more input; acks of what was already taken must still work."""

    def close(self) -> None:
        """Release connections and threads (called after the last ack)."""

    @property
    def finished(self) -> bool:
        """True when a finite source (a one-shot file import) has handed over all its input."""


class PolicyProvider(Protocol):
    """Where the active filter policy comes from (the database, or a file)."""

    def poll(self) -> tuple[bool, Policy | None]:
        """(changed, policy): whether the active policy differs from the last poll, and the policy."""


@dataclass
class WorkerStats:
    """Running totals, updated by the writer thread after each commit."""

    counts: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    lines_committed: int = 0
    bytes_committed: int = 0
    write_failures: int = 0
    last_error: str = ""
    abandoned: int = 0
    decode_seconds: float = 0.0
    write_seconds: float = 0.0


@dataclass(slots=True)
class _Prepared:
    batch: Batch
    deliveries: list[tuple[Delivery, Outcome]]
    counts: Counter[str]
    tally: Counter[tuple[str, str, str]]


class Worker:
    """Runs sources into the alert store until stopped; see the module docstring for the shape."""

    def __init__(
        self,
        engine: Engine,
        core: IngestCore,
        sources: Sequence[Source],
        *,
        batch_size: int = 1000,
        batch_wait_s: float = 0.25,
        inbox_items: int | None = None,
        inbox_bytes: int = 8 * 1024 * 1024,
        batch_hooks: Sequence[BatchHook] = (),
        enrichers: Sequence[Enricher] = (),
        policy: PolicyProvider | None = None,
        policy_poll_s: float = 5.0,
        retry_initial_s: float = 0.1,
        retry_max_s: float = 5.0,
        drain_timeout_s: float = 30.0,
        on_commit: Callable[[WorkerStats], None] | None = None,
        decode_process: bool = True,
        stored_sizes: StoredSizes = StoredSizes(),
        metrics: IngestMetrics | None = None,
    ) -> None:
        self.core = core
        self.sources = list(sources)
        self.batch_size = batch_size
        self.batch_wait_s = batch_wait_s
        self.inbox = Inbox(max_items=inbox_items or 2 * batch_size, max_bytes=inbox_bytes)
        self.writer = BatchWriter(
            engine, batch_hooks=batch_hooks, sqlite_statement_per_row=decode_process, sizes=stored_sizes
        )
        self.enrichers = tuple(enrichers)
        self.policy = policy
        self.policy_poll_s = policy_poll_s
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.drain_timeout_s = drain_timeout_s
        self.on_commit = on_commit
        self.stats = WorkerStats()
        self.metrics = metrics
        self._decoder = (
            DecodeProcess(core, engine.dialect.name, keep_alerts=bool(self.enrichers))
            if decode_process
            else None
        )
        self._prepared: queue.Queue[_Prepared | None] = queue.Queue(maxsize=2)
        self._stop = threading.Event()
        self._give_up = threading.Event()  # the drain deadline passed: abandon what is not stored
        self._done = threading.Event()
        self._writing = threading.Event()
        self._pending_policy: list[Policy | None] = []
        self._threads: list[threading.Thread] = []
        self._started = False

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the decode, write and policy threads, then the sources."""
        if self._started:
            raise RuntimeError("a Worker starts once")
        self._started = True
        sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_INTERVAL_S))
        if self._decoder is not None:
            self._decoder.start()
        self._threads = [
            threading.Thread(target=self._decode_loop, name="ingest-decode", daemon=True),
            threading.Thread(target=self._write_loop, name="ingest-write", daemon=True),
            threading.Thread(target=self._supervise, name="ingest-supervise", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        try:
            for source in self.sources:
                source.start(self.inbox)
        except BaseException:  # e.g. the HTTP port is taken: stop cleanly, then report it
            self.request_stop()
            self.wait(self.drain_timeout_s + 5)
            raise

    def request_stop(self) -> None:
        """Ask the worker to stop: read nothing more, store and ack what is in flight. Signal-safe."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker has drained and closed its sources; False on timeout."""
        return self._done.wait(timeout)

    def run(self) -> WorkerStats:
        """Start, then run until `request_stop()` or until every (finite) source is finished."""
        self.start()
        while not self._done.wait(0.2):
            pass
        return self.stats

    def queue_depths(self) -> dict[tuple[str, str], float]:
        """What waits now: the inbox (deliveries, bytes, events) and decoded batches before the writer."""
        deliveries, size, events = self.inbox.depth()
        return {
            ("inbox", "deliveries"): deliveries,
            ("inbox", "bytes"): size,
            ("inbox", "events"): events,
            ("prepared", "batches"): self._prepared.qsize(),
        }

    def set_policy(self, policy: Policy | None) -> None:
        """Swap the filter policy; applied between two batches by the decode thread."""
        self._pending_policy.append(policy)

    # -- threads -----------------------------------------------------------------------------

    def _supervise(self) -> None:
        """Polls the policy, notices finished sources and runs the stop sequence."""
        next_poll = time.monotonic() + self.policy_poll_s
        while not self._stop.wait(0.1):
            if self.sources and all(s.finished for s in self.sources):
                self._stop.set()
                break
            if self.policy is not None and time.monotonic() >= next_poll:
                next_poll = time.monotonic() + self.policy_poll_s
                self._poll_policy()
        for source in self.sources:
            source.stop_reading()
        self.inbox.close()
        self._threads[1].join(self.drain_timeout_s)
        if self._threads[1].is_alive():
            self._give_up.set()
            log.error(
                "could not store the in-flight batches within %.0f s; they stay unacknowledged "
                "and will be delivered again",
                self.drain_timeout_s,
            )
        for thread in self._threads[:2]:
            thread.join()
        if self._decoder is not None:
            self._decoder.close()
        self._abandon_leftovers()
        for source in self.sources:
            try:
                source.close()
            except Exception:  # closing one source must not keep the others open
                log.exception("closing source %s failed", source.name)
        self._done.set()

    def _decode_loop(self) -> None:
        if self.policy is not None:
            self._load_initial_policy()
        while True:
            first = self.inbox.get(timeout=0.1)
            if first is None:
                if self.inbox.closed and len(self.inbox) == 0:
                    break
                self._apply_pending_policy()
                continue
            deliveries = [first]
            events = len(first.lines)
            deadline = time.monotonic() + self.batch_wait_s
            while events < self.batch_size:
                nxt = self.inbox.get(timeout=0)
                if nxt is None:  # group commit: wait for more only while the writer is busy anyway
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or not self._writer_busy():
                        break
                    nxt = self.inbox.get(timeout=min(remaining, _BUSY_RECHECK_S))
                    if nxt is None:
                        continue
                deliveries.append(nxt)
                events += len(nxt.lines)
            self._apply_pending_policy()
            started = time.perf_counter()
            prepared = self._prepare(deliveries)
            self.stats.decode_seconds += time.perf_counter() - started
            if not self._hand_over(prepared):
                self._abandon(prepared, "the worker stopped before the database came back")
        self._hand_over(None)

    def _prepare(self, deliveries: list[Delivery]) -> _Prepared:
        batch = Batch()
        counts: Counter[str] = Counter()
        tally: Counter[tuple[str, str, str]] = Counter()
        outcomes: list[tuple[Delivery, Outcome]] = []
        decoded = self._decode_elsewhere(deliveries)
        if decoded is not None:
            rows: list[tuple[Any, ...]] | None = [row for _, part in decoded for row in part]
            alert_counts = [len(part) for _, part in decoded]
            outputs = [out for out, _ in decoded]
        else:
            outputs = [self.core.process(d.lines, source=d.source, origin=d.origin) for d in deliveries]
            alert_counts = [len(out.alerts) for out in outputs]
            rows = None
        for delivery, out, alerts in zip(deliveries, outputs, alert_counts, strict=True):
            delivery.lines = []  # decoded: holding the raw lines until the ack doubled the memory in flight
            batch.alerts.extend(out.alerts)
            batch.dead_letters.extend(out.dead_letters)
            batch.new_categories.extend(out.new_categories)
            batch.node_stats.extend(out.node_stats)
            counts.update(out.counts)
            tally.update(out.tally)
            if delivery.position is not None:
                batch.positions.append(delivery.position)
            outcomes.append((delivery, Outcome(alerts, out.dead_letters)))
        extra: list[dict[str, Any]] = []
        if self.enrichers:
            merged = _merge(outputs)
            for enrich in self.enrichers:
                try:
                    found = enrich(merged)
                except Exception:  # an enrichment outage must not stop alerts from being stored
                    log.exception("enricher %r failed; the batch is stored without its rows", enrich)
                    counts["enricher_failed"] += 1
                    continue
                extra.extend(found)
                counts["enriched"] += len(found)
            for alert in extra:
                tally[
                    ("emitted", source_label(alert.get("source")), severity_label(alert.get("severity")))
                ] += 1
            batch.alerts.extend(extra)
        dialect = self.writer.engine.dialect.name
        try:  # the writer thread then only binds and steps (see ingest.store)
            batch.rows = (
                prepare_rows(batch.alerts, dialect) if rows is None else rows + prepare_rows(extra, dialect)
            )
        except ValueError:  # the writer raises it again and dead-letters the batch
            batch.rows = None
        return _Prepared(batch, outcomes, counts, tally)

    def _decode_elsewhere(self, deliveries: list[Delivery]) -> list[Decoded] | None:
        """The deliveries decoded by the decode process; None when there is none (any more)."""
        if self._decoder is None:
            return None
        try:
            return self._decoder.process([(d.lines, d.source, d.origin) for d in deliveries])
        except Exception:  # e.g. the child cannot be forked, or the core raised there: go on in this thread
            log.exception("the decode process failed; decoding in the worker process from now on")
            self._decoder.close()
            self._decoder = None
            self.writer.sqlite_statement_per_row = False
            return None

    def _writer_busy(self) -> bool:
        return self._writing.is_set() or not self._prepared.empty()

    def _hand_over(self, prepared: _Prepared | None) -> bool:
        while True:
            try:
                self._prepared.put(prepared, timeout=0.2)
                return True
            except queue.Full:
                if self._give_up.is_set():
                    return False

    def _write_loop(self) -> None:
        while True:
            try:
                prepared = self._prepared.get(timeout=0.2)
            except queue.Empty:
                if self._give_up.is_set():
                    break
                continue
            if prepared is None:
                break
            self._writing.set()
            started = time.perf_counter()
            result = self._write_with_retry(prepared)
            self.stats.write_seconds += time.perf_counter() - started
            self._writing.clear()
            if result is None:
                self._abandon(prepared, "the database stayed unreachable until the worker stopped")
                continue
            self._acknowledge(prepared, result)

    def _abandon_leftovers(self) -> None:
        while True:
            try:
                prepared = self._prepared.get_nowait()
            except queue.Empty:
                return
            if prepared is not None:
                self._abandon(prepared, "the worker stopped before the database came back")

    def _write_with_retry(self, prepared: _Prepared) -> WriteResult | None:
        delay = self.retry_initial_s
        permanent_failures = 0
        while True:
            try:
                started = time.perf_counter()
                result = self.writer.write(prepared.batch)
                if self.metrics is not None:
                    self.metrics.commit_seconds.observe(time.perf_counter() - started)
                self.inbox.refusing = None
                return result
            except Exception as exc:  # the one broad catch: keep running, ack nothing, retry
                self.stats.write_failures += 1
                if self.metrics is not None:
                    self.metrics.write_failures.inc()
                self.stats.last_error = f"{type(exc).__name__}: {str(exc)[:300]}"
                self.inbox.refusing = "the alert store does not accept writes"
                if _is_transient(exc):
                    log.warning(
                        "storing a batch failed (%s); retrying in %.1f s", self.stats.last_error, delay
                    )
                else:
                    permanent_failures += 1
                    log.error("the database refused a batch: %s", self.stats.last_error)
                    if permanent_failures >= _PERMANENT_ATTEMPTS:
                        prepared.batch = _as_dead_letters(prepared.batch, self.stats.last_error)
                        permanent_failures = 0
                        continue
            if self._give_up.wait(delay):
                return None
            delay = min(delay * 2, self.retry_max_s)

    def _acknowledge(self, prepared: _Prepared, result: WriteResult) -> None:
        stats = self.stats
        stats.batches += 1
        stats.stored += result.stored
        stats.duplicates += result.duplicates
        stats.dead_lettered += result.dead_lettered
        stats.counts.update(prepared.counts)
        if self.metrics is not None:
            batch = prepared.batch
            self.metrics.count_batch(
                prepared.tally, batch.dead_letters, batch.rows, result.stored_rows, result.duplicates
            )
        for delivery, outcome in prepared.deliveries:
            stats.lines_committed += delivery.line_count
            stats.bytes_committed += delivery.size
            if delivery.on_commit is not None:
                try:
                    delivery.on_commit(outcome)
                except Exception:  # a lost ack means a redelivery, which alert_uuid absorbs
                    log.exception("acknowledging a delivery from %s failed", delivery.origin)
        if self.on_commit is not None:
            self.on_commit(stats)

    def _abandon(self, prepared: _Prepared, reason: str) -> None:
        for delivery, _ in prepared.deliveries:
            self.stats.abandoned += delivery.line_count
            if delivery.on_abandon is not None:
                delivery.on_abandon(reason)

    # -- policy ------------------------------------------------------------------------------

    def _load_initial_policy(self) -> None:
        """The first batch must already see the node's policy, so wait for the database if needed."""
        delay = self.retry_initial_s
        while not self._stop.is_set():
            if self._poll_policy():
                self._apply_pending_policy()
                return
            self._stop.wait(delay)
            delay = min(delay * 2, self.retry_max_s)

    def _poll_policy(self) -> bool:
        assert self.policy is not None
        try:
            changed, policy = self.policy.poll()
        except Exception as exc:  # a broken new version keeps the old one running
            log.error("loading the filter policy failed, keeping the current one: %s", exc)
            return False
        if changed:
            self.set_policy(policy)
        return True

    def _apply_pending_policy(self) -> None:
        while self._pending_policy:
            policy = self._pending_policy.pop(0)
            self.core.set_policy(policy)
            if self._decoder is not None:
                self._decoder.set_policy(policy)


def _is_transient(exc: BaseException) -> bool:
    """Connection loss, lock timeouts, pool exhaustion: worth retrying for as long as it takes."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(
        exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.DisconnectionError | sa_exc.TimeoutError
    )


def _as_dead_letters(batch: Batch, reason: str) -> Batch:
    """A batch the database keeps refusing: keep every alert as a dead letter instead of blocking."""
    letters = [
        DeadLetterItem(
            source=str(a.get("source", "unknown")),
            origin="storage",
            raw=str(a.get("json_event", "")).encode(),
            reason=f"the database refused the batch: {reason}",
            kind="storage_refused",
        )
        for a in batch.alerts or [as_alert(row) for row in batch.rows or ()]
    ]
    return Batch(
        alerts=[],
        dead_letters=batch.dead_letters + letters,
        new_categories=[],
        positions=batch.positions,
        node_stats=batch.node_stats,
    )


def _merge(outputs: list[CoreOutput]) -> CoreOutput:
    if len(outputs) == 1:
        return outputs[0]
    merged = CoreOutput(alerts=[], dead_letters=[], new_categories=[], observations=[], counts=Counter())
    for out in outputs:
        merged.alerts.extend(out.alerts)
        merged.dead_letters.extend(out.dead_letters)
        merged.new_categories.extend(out.new_categories)
        merged.observations.extend(out.observations)
        merged.counts.update(out.counts)
    return merged
