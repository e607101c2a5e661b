from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select

from alertmodel import Outbox, migrate
from alertmodel.engine import make_engine
from alertmodel.errors import IntegrationError, ServiceUnavailableError
from alertmodel.types import utcnow
from response.dispatcher import Dispatcher, DispatcherConfig, count_outbox, list_outbox, retry_failed
from response.executors import MissingIntegration
from response.payload import OutboxItem

FAST = DispatcherConfig(
    base_delay_s=0.01, max_delay_s=0.05, busy_pause_s=0.01, max_busy_pause_s=0.05, lease_s=60
)


@pytest.fixture
def engine(sqlite_database: str) -> Iterator[Engine]:
    migrate.upgrade(sqlite_database)
    engine = make_engine(sqlite_database)
    yield engine
    engine.dispose()


def add_rows(engine: Engine, n: int, kind: str = "test") -> list[str]:
    now = utcnow()
    keys = [f"{kind}-alert-{i}:p:0" for i in range(n)]
    with engine.begin() as conn:
        conn.execute(
            Outbox.__table__.insert(),
            [
                {
                    "kind": kind,
                    "key": key,
                    "payload": {"profile": "p", "alert_uuid": key.split(":")[0], "action": {"kind": kind}},
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
                for key in keys
            ],
        )
    return keys


def rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(Outbox.__table__).order_by(Outbox.__table__.c.id)).all()


async def run_until(condition: Callable[[], bool], *dispatchers: Dispatcher, timeout: float = 60) -> None:
    stop = asyncio.Event()
    tasks = [asyncio.ensure_future(d.run(stop)) for d in dispatchers]
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.gather(*tasks)


def all_settled(engine: Engine) -> Callable[[], bool]:
    return lambda: all(r.state != "pending" for r in rows(engine))


async def test_due_rows_are_performed_once_and_marked_done(engine: Engine) -> None:
    keys = add_rows(engine, 5)
    seen: list[str] = []

    async def record(item: OutboxItem) -> None:
        seen.append(item.key)

    dispatcher = Dispatcher(engine, {"test": record}, FAST)
    await run_until(all_settled(engine), dispatcher)
    assert sorted(seen) == sorted(keys)
    assert [(r.state, r.attempts) for r in rows(engine)] == [("done", 1)] * 5
    assert count_outbox(engine) == {"done": 5}


async def test_failing_action_retries_with_backoff_then_fails_with_its_error(engine: Engine) -> None:
    add_rows(engine, 1)
    calls: list[float] = []

    async def boom(item: OutboxItem) -> None:
        calls.append(asyncio.get_running_loop().time())
        raise IntegrationError(f"thehive said no (attempt {item.attempts})")

    config = DispatcherConfig(base_delay_s=0.2, max_delay_s=1, max_attempts=3, lease_s=60)
    await run_until(all_settled(engine), Dispatcher(engine, {"test": boom}, config))
    [row] = rows(engine)
    assert (row.state, row.attempts) == ("failed", 3)
    assert row.last_error == "IntegrationError: thehive said no (attempt 3)"
    assert len(calls) == 3
    assert calls[1] - calls[0] >= 0.2 and calls[2] - calls[1] >= 0.4  # exponential
    assert [r.id for r in list_outbox(engine, state="failed")] == [row.id]

    assert retry_failed(engine) == 1
    [row] = rows(engine)
    assert (row.state, row.attempts) == ("pending", 0)


async def test_unavailable_service_pauses_without_spending_attempts(engine: Engine) -> None:
    add_rows(engine, 1)
    outcomes = iter([ServiceUnavailableError("503")] * 4 + [None])

    async def flaky(item: OutboxItem) -> None:
        outcome = next(outcomes)
        if outcome is not None:
            raise outcome

    dispatcher = Dispatcher(engine, {"test": flaky}, DispatcherConfig(**{**FAST.__dict__, "max_attempts": 2}))
    await run_until(all_settled(engine), dispatcher)
    [row] = rows(engine)
    assert (row.state, row.attempts) == ("done", 1)
    assert dispatcher.busy == 4


async def test_concurrency_is_bounded(engine: Engine) -> None:
    add_rows(engine, 12)
    running = 0
    peak = 0

    async def slow(item: OutboxItem) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        running -= 1

    await run_until(all_settled(engine), Dispatcher(engine, {"test": slow}, DispatcherConfig(concurrency=3)))
    assert peak == 3


async def test_two_dispatchers_on_one_store_never_perform_a_row_twice(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    try:
        keys = add_rows(engine, 40)
        seen: Counter[str] = Counter()

        async def record(item: OutboxItem) -> None:
            seen[item.key] += 1
            await asyncio.sleep(0.01)

        first = Dispatcher(engine, {"test": record}, DispatcherConfig(concurrency=4))
        second = Dispatcher(engine, {"test": record}, DispatcherConfig(concurrency=4))
        await run_until(all_settled(engine), first, second)
        assert seen == Counter(keys)
        assert first.done > 0 and second.done > 0
    finally:
        engine.dispose()


async def test_a_row_claimed_by_a_dispatcher_that_died_is_taken_again_after_its_lease(engine: Engine) -> None:
    [key] = add_rows(engine, 1)
    dead = Dispatcher(engine, {}, DispatcherConfig(lease_s=0.5))
    [claimed] = dead._claim(1)  # claimed, then the process "dies" before performing it
    assert claimed.key == key
    seen: list[int] = []

    async def record(item: OutboxItem) -> None:
        seen.append(item.attempts)

    await run_until(all_settled(engine), Dispatcher(engine, {"test": record}, FAST))
    assert seen == [2]


async def test_an_action_outliving_its_lease_keeps_the_row_renewed_so_no_other_dispatcher_takes_it(
    engine: Engine,
) -> None:
    [key] = add_rows(engine, 1)
    seen: Counter[str] = Counter()

    async def slow(item: OutboxItem) -> None:
        seen[item.key] += 1
        await asyncio.sleep(2.0)  # four leases long

    short = DispatcherConfig(lease_s=0.5, poll_interval_s=0.02)
    first = Dispatcher(engine, {"test": slow}, short)
    second = Dispatcher(engine, {"test": slow}, short)
    await run_until(all_settled(engine), first, second)
    assert seen == Counter([key])
    assert [(r.state, r.attempts) for r in rows(engine)] == [("done", 1)]


async def test_unknown_kinds_and_unwired_integrations_fail_loudly(engine: Engine) -> None:
    add_rows(engine, 1, kind="fax")
    add_rows(engine, 1, kind="slack")
    executors = {"slack": MissingIntegration("Slack")}
    config = DispatcherConfig(**{**FAST.__dict__, "max_attempts": 2})
    await run_until(all_settled(engine), Dispatcher(engine, executors, config))
    errors = {r.kind: (r.state, r.last_error) for r in rows(engine)}
    assert errors["fax"] == ("failed", "IntegrationError: no executor for action kind 'fax'")
    assert errors["slack"] == (
        "failed",
        "IntegrationError: no Slack block configured: cannot perform the slack action of profile 'p'",
    )


async def test_failed_actions_and_alert_to_flow_run_seconds_reach_the_metrics(engine: Engine) -> None:
    from alertmodel.metrics import REGISTRY

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    failed_before = sample("alertflow_response_actions_failed_total", kind="test")
    runs_before = sample("alertflow_alert_to_flow_run_seconds_count")
    add_rows(engine, 2)
    add_rows(engine, 3, kind="playbook")

    async def boom(item: OutboxItem) -> None:
        raise IntegrationError("no")

    async def created(item: OutboxItem) -> None:
        await asyncio.sleep(0.05)

    config = DispatcherConfig(base_delay_s=0.01, max_delay_s=0.02, max_attempts=2, lease_s=60)
    await run_until(all_settled(engine), Dispatcher(engine, {"test": boom, "playbook": created}, config))
    assert sample("alertflow_response_actions_failed_total", kind="test") == failed_before + 2
    assert sample("alertflow_alert_to_flow_run_seconds_count") == runs_before + 3
