"""The outbox dispatcher: performs due outbox rows with bounded concurrency, retries, and backs off.

A row is claimed by moving its `next_attempt_at` a lease into the future (an optimistic
UPDATE, so two dispatchers never run one row at once); while its action runs, the dispatcher
renews the lease every third of it, so the lease can be short: when the dispatcher dies
(kill -9, power cut), the lease runs out within `lease_s` and another (or the restarted one)
takes the row again, which is safe because every executor is idempotent (see
response.executors). A failing action retries with exponential backoff and
ends `failed` with its error after `max_attempts`. A service that is down or overloaded
(503, connection refused) pauses all claiming instead and costs no attempt: a burst of
alerts is delayed, never dropped, and never becomes a burst of requests that topples the
Prefect server.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import DBAPIError

from alertmodel import Outbox
from alertmodel.errors import ConfigurationError, IntegrationError, ServiceUnavailableError
from alertmodel.metrics import ACTIONS_FAILED, ALERT_TO_FLOW_RUN_SECONDS
from alertmodel.types import utcnow
from response.payload import Executor, OutboxItem

log = logging.getLogger(__name__)
_OUTBOX = Outbox.__table__


@dataclass(frozen=True)
class DispatcherConfig:
    """How hard the dispatcher pushes and how patiently it retries."""

    concurrency: int = 4
    max_attempts: int = 8
    base_delay_s: float = 2.0
    max_delay_s: float = 600.0
    lease_s: float = 30.0  # renewed every lease_s / 3 while the action runs
    action_timeout_s: float = 240.0
    poll_interval_s: float = 0.05
    busy_pause_s: float = 0.5
    max_busy_pause_s: float = 10.0
    prefect_client_retries: int = 0
    maintenance_interval_s: float = 5.0
    rerun_crashed: bool = True  # run Crashed playbooks declared safe to repeat again, once


class Dispatcher:
    """Take due outbox rows, perform them with the executor of their kind, mark them done or failed."""

    def __init__(
        self,
        engine: Engine,
        executors: Mapping[str, Executor],
        config: DispatcherConfig | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        maintenance: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._engine = engine
        self._executors = dict(executors)
        self.config = config or DispatcherConfig()
        self._clock = clock
        self._maintenance = maintenance
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._paused_until = 0.0
        self._pause_s = 0.0
        self.done = 0
        self.failed = 0
        self.retried = 0
        self.busy = 0

    async def run(self, stop: asyncio.Event | None = None, *, until_idle: bool = False) -> None:
        """Dispatch until `stop` is set (or, with `until_idle`, until nothing is due); then drain."""
        stop = stop or asyncio.Event()
        next_maintenance = time.monotonic()
        maintenance: asyncio.Future[None] | None = None
        next_renewal = time.monotonic() + self.config.lease_s / 3
        renewal: asyncio.Future[None] | None = None
        db_backoff = 0.5
        while not stop.is_set():
            if time.monotonic() >= next_renewal and (renewal is None or renewal.done()):
                next_renewal = time.monotonic() + self.config.lease_s / 3
                renewal = asyncio.ensure_future(self._renew_leases())
            if (
                self._maintenance is not None
                and time.monotonic() >= next_maintenance
                and (maintenance is None or maintenance.done())
            ):
                next_maintenance = time.monotonic() + self.config.maintenance_interval_s
                maintenance = asyncio.ensure_future(self._run_maintenance())  # never delays claiming
            claimed = 0
            free = self.config.concurrency - len(self._in_flight)
            if free > 0 and time.monotonic() >= self._paused_until:
                try:
                    items = await asyncio.to_thread(self._claim, free)
                except DBAPIError as exc:  # the alert store is down: wait, the rows are safe in it
                    log.warning(
                        "outbox: cannot claim rows (%s); retrying in %.1fs",
                        exc.__class__.__name__,
                        db_backoff,
                    )
                    await self._sleep(stop, db_backoff)
                    db_backoff = min(db_backoff * 2, 30.0)
                    continue
                db_backoff = 0.5
                for item in items:
                    self._start(item)
                claimed = len(items)
            if until_idle and not claimed and not self._in_flight:
                break
            if claimed and len(self._in_flight) < self.config.concurrency:
                continue
            wait = self.config.poll_interval_s
            if time.monotonic() < self._paused_until:
                wait = max(wait, self._paused_until - time.monotonic())
            await self._sleep(stop, wait)
        await self.drain()
        for pending in (maintenance, renewal):
            if pending is not None:
                await asyncio.gather(pending, return_exceptions=True)

    def wake(self) -> None:
        """Look for due rows now rather than at the next poll (call from the dispatcher's loop)."""
        self._wake.set()

    async def drain(self) -> None:
        """Wait for the actions in flight to finish."""
        if self._in_flight:
            await asyncio.gather(*self._in_flight.values(), return_exceptions=True)

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> None:
        self._wake.clear()
        stop_wait = asyncio.ensure_future(stop.wait())
        wake_wait = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({stop_wait, wake_wait}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop_wait.cancel()
            wake_wait.cancel()

    async def _run_maintenance(self) -> None:
        assert self._maintenance is not None
        try:
            await self._maintenance()
        except (IntegrationError, DBAPIError) as exc:
            log.info("outbox: maintenance skipped: %s", exc)

    async def _renew_leases(self) -> None:
        """Push the lease of every row in flight another `lease_s` ahead (it is ours while we live)."""
        ids = list(self._in_flight)
        if not ids:
            return
        try:
            await asyncio.to_thread(self._renew, ids)
        except DBAPIError as exc:  # the store is away: the claim stays ours until the old lease ends
            log.warning("outbox: cannot renew leases (%s)", exc.__class__.__name__)

    def _renew(self, ids: list[int]) -> None:
        now = self._clock()
        with self._engine.begin() as conn:
            conn.execute(
                _OUTBOX.update()
                .where(_OUTBOX.c.id.in_(ids), _OUTBOX.c.state == "pending")
                .values(next_attempt_at=now + timedelta(seconds=self.config.lease_s))
            )

    def _start(self, item: OutboxItem) -> None:
        task = asyncio.ensure_future(self._perform(item))
        self._in_flight[item.id] = task

        def finished(_: asyncio.Task[None]) -> None:
            self._in_flight.pop(item.id, None)
            self._wake.set()

        task.add_done_callback(finished)

    async def _perform(self, item: OutboxItem) -> None:
        executor = self._executors.get(item.kind)
        try:
            if executor is None:
                raise IntegrationError(f"no executor for action kind {item.kind!r}")
            await asyncio.wait_for(executor(item), timeout=self.config.action_timeout_s)
        except (ServiceUnavailableError, TimeoutError) as exc:
            self._back_off()
            await self._settle(self._release, item, exc)
        # One bad action must not stop the dispatcher: whatever it raised is recorded on its row.
        except Exception as exc:
            await self._settle(self._retry_or_fail, item, exc)
        else:
            self._pause_s = 0.0
            await self._settle(self._done, item, None)

    async def _settle(
        self, mark: Callable[[OutboxItem, BaseException | None], None], item: OutboxItem, exc: Any
    ) -> None:
        try:
            await asyncio.to_thread(mark, item, exc)
        except (
            DBAPIError
        ) as db_exc:  # the lease runs out and the row is taken again: executors are idempotent
            log.warning("outbox: could not record the outcome of %s: %s", item.key, db_exc.__class__.__name__)

    def _back_off(self) -> None:
        now = time.monotonic()
        if now >= self._paused_until:
            self._pause_s = min(
                max(self._pause_s * 2, self.config.busy_pause_s), self.config.max_busy_pause_s
            )
            self._paused_until = now + self._pause_s
        self.busy += 1

    def _claim(self, limit: int) -> list[OutboxItem]:
        now = self._clock()
        lease_until = now + timedelta(seconds=self.config.lease_s)
        claimed: list[OutboxItem] = []
        with self._engine.begin() as conn:
            rows = conn.execute(
                select(_OUTBOX)
                .where(_OUTBOX.c.state == "pending", _OUTBOX.c.next_attempt_at <= now)
                .order_by(_OUTBOX.c.next_attempt_at, _OUTBOX.c.id)
                .limit(limit + len(self._in_flight))
            ).all()
            for row in rows:
                if len(claimed) >= limit:
                    break
                if row.id in self._in_flight:
                    continue
                taken = conn.execute(
                    _OUTBOX.update()
                    .where(
                        _OUTBOX.c.id == row.id,
                        _OUTBOX.c.state == "pending",
                        _OUTBOX.c.attempts == row.attempts,
                        _OUTBOX.c.next_attempt_at <= now,
                    )
                    .values(attempts=row.attempts + 1, next_attempt_at=lease_until, updated_at=now)
                ).rowcount
                if taken == 1:
                    claimed.append(
                        OutboxItem(
                            row.id, row.kind, row.key, dict(row.payload), row.attempts + 1, row.created_at
                        )
                    )
        return claimed

    def _done(self, item: OutboxItem, _: BaseException | None) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                _OUTBOX.update()
                .where(_OUTBOX.c.id == item.id, _OUTBOX.c.state == "pending")
                .values(state="done", updated_at=self._clock())
            )
        self.done += 1
        if item.kind == "playbook" and item.created_at is not None:
            waited = (self._clock() - _aware(item.created_at)).total_seconds()
            ALERT_TO_FLOW_RUN_SECONDS.observe(max(waited, 0.0))

    def _retry_or_fail(self, item: OutboxItem, exc: BaseException | None) -> None:
        now = self._clock()
        error = _describe(exc)
        if item.attempts >= self.config.max_attempts:
            values: dict[str, Any] = {"state": "failed", "last_error": error, "updated_at": now}
            self.failed += 1
            ACTIONS_FAILED.labels(item.kind).inc()
            log.error("outbox: %s failed after %d attempts: %s", item.key, item.attempts, error)
        else:
            delay = min(self.config.max_delay_s, self.config.base_delay_s * 2 ** (item.attempts - 1))
            values = {
                "next_attempt_at": now + timedelta(seconds=delay),
                "last_error": error,
                "updated_at": now,
            }
            self.retried += 1
            log.warning(
                "outbox: %s attempt %d failed (%s); retry in %.1fs", item.key, item.attempts, error, delay
            )
        with self._engine.begin() as conn:
            conn.execute(
                _OUTBOX.update().where(_OUTBOX.c.id == item.id, _OUTBOX.c.state == "pending").values(**values)
            )

    def _release(self, item: OutboxItem, exc: BaseException | None) -> None:
        """Give a row back after the service was unavailable, without counting the attempt."""
        now = self._clock()
        with self._engine.begin() as conn:
            conn.execute(
                _OUTBOX.update()
                .where(_OUTBOX.c.id == item.id, _OUTBOX.c.state == "pending")
                .values(
                    attempts=item.attempts - 1,
                    next_attempt_at=now + timedelta(seconds=self._pause_s),
                    last_error=_describe(exc),
                    updated_at=now,
                )
            )


def _aware(value: datetime) -> datetime:
    """Rows read through the core table come back as the column type returns them: make them UTC-aware."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    text = str(exc) or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}"[:2000]


def list_outbox(engine: Engine, *, state: str | None = None, limit: int = 100) -> list[Outbox]:
    """Outbox rows, newest first, optionally of one state."""
    query = select(_OUTBOX).order_by(_OUTBOX.c.id.desc()).limit(limit)
    if state is not None:
        query = query.where(_OUTBOX.c.state == state)
    with engine.connect() as conn:
        return [Outbox.model_validate(dict(r._mapping)) for r in conn.execute(query)]


def count_outbox(engine: Engine) -> dict[str, int]:
    """How many outbox rows are in each state."""
    with engine.connect() as conn:
        rows = conn.execute(select(_OUTBOX.c.state, func.count()).group_by(_OUTBOX.c.state)).all()
    return {state: int(n) for state, n in rows}


def retry_failed(engine: Engine, ids: list[int] | None = None) -> int:
    """Make failed rows (all, or those with these ids) due again with a fresh attempt count."""
    now = utcnow()
    query = _OUTBOX.update().where(_OUTBOX.c.state == "failed")
    if ids:
        query = query.where(_OUTBOX.c.id.in_(ids))
    with engine.begin() as conn:
        return int(
            conn.execute(
                query.values(state="pending", attempts=0, next_attempt_at=now, updated_at=now)
            ).rowcount
        )


async def run_dispatcher(
    engine: Engine,
    config: DispatcherConfig | None = None,
    stop: asyncio.Event | None = None,
    *,
    until_idle: bool = False,
    started: Callable[[Dispatcher], None] | None = None,
) -> Dispatcher:
    """Dispatch with the default executors and the Prefect client of this process's settings."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    from response.executors import default_executors
    from response.playbook_runs import CrashedRuns, refresh_playbook_runs

    if not prefect_api_configured():
        raise ConfigurationError(
            "PREFECT_API_URL is not set: the dispatcher starts playbooks on your Prefect server "
            "(without it Prefect would start a throw-away server with none of your deployments)"
        )
    config = config or DispatcherConfig()
    # The client's own retries back off 2**n s each; the executors retry busy answers after
    # short delays themselves (response.playbook_runs.call_prefect) and then hand a server that is
    # still busy to the dispatcher's pause, which probes it at most every max_busy_pause_s.
    with temporary_settings(updates={PREFECT_CLIENT_MAX_RETRIES: config.prefect_client_retries}):
        async with get_client() as client:
            crashed = CrashedRuns(engine, client) if config.rerun_crashed else None

            async def maintenance() -> None:
                await refresh_playbook_runs(engine, client)
                if crashed is not None:
                    for crashed_id, repeat_id in await crashed.rerun():
                        log.warning("playbook run %s crashed; running it again as %s", crashed_id, repeat_id)

            dispatcher = Dispatcher(
                engine, default_executors(engine, client), config, maintenance=maintenance
            )
            if started is not None:
                started(dispatcher)
            await dispatcher.run(stop, until_idle=until_idle)
    return dispatcher


def prefect_api_configured() -> bool:
    """Whether this process's Prefect settings name an API server."""
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value())


class DispatcherThread:
    """The dispatcher on its own thread and event loop, beside the ingest worker's threads."""

    def __init__(self, engine: Engine, config: DispatcherConfig | None = None) -> None:
        import contextvars
        import threading

        self._engine = engine
        self._config = config
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        # The thread runs in a copy of the creator's context, so Prefect settings set there
        # (temporary_settings, a test's API URL) apply to the dispatcher's client too.
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._main,), name="outbox-dispatcher", daemon=True
        )
        self.dispatcher: Dispatcher | None = None

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(30)

    def wake(self, *_: object) -> None:
        """Thread-safe: new outbox rows were committed (the ingest worker's `on_commit`)."""
        if self._loop is not None and self.dispatcher is not None:
            self._loop.call_soon_threadsafe(self.dispatcher.wake)

    def stop(self, timeout_s: float = 30) -> None:
        """Let the actions in flight finish (up to `timeout_s`), then end the thread."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout_s)

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()

            def started(dispatcher: Dispatcher) -> None:
                self.dispatcher = dispatcher
                self._ready.set()

            await run_dispatcher(self._engine, self._config, self._stop, started=started)

        try:
            asyncio.run(main())
        finally:
            self._ready.set()
