from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from alertmodel.engine import make_engine
from ingest.batch import CoreOutput
from ingest.core import IngestCore
from ingest.delivery import Delivery, Inbox, Outcome
from ingest.policy_source import DatabasePolicy, store_policy
from ingest.store import BatchWriter
from ingest.worker import GIL_SWITCH_INTERVAL_S, Worker
from tests.ingest.events import count_alerts, dead_letter_reasons, stored_tags, suricata_alerts, wait_for


class ListSource:
    """Hands over fixed messages (one delivery each) and records which were acked."""

    name = "list"

    def __init__(self, messages: list[bytes], *, finite: bool = True) -> None:
        self.messages = messages
        self.finite = finite
        self.put = 0
        self.acked: list[int] = []
        self.abandoned: list[int] = []
        self._done = threading.Event()
        self._lock = threading.Lock()

    @property
    def finished(self) -> bool:
        return self.finite and self._done.is_set()

    def start(self, inbox: Inbox) -> None:
        threading.Thread(target=self._run, args=(inbox,), daemon=True).start()

    def _run(self, inbox: Inbox) -> None:
        for i, message in enumerate(self.messages):
            delivery = Delivery(
                lines=[message],
                origin=f"list#{i}",
                on_commit=lambda _o, i=i: self._record(self.acked, i),
                on_abandon=lambda _r, i=i: self._record(self.abandoned, i),
            )
            if not inbox.put(delivery):
                break
            self.put += 1
        self._done.set()

    def _record(self, into: list[int], i: int) -> None:
        with self._lock:
            into.append(i)

    def stop_reading(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def engine(sqlite_database: str) -> Iterator[Engine]:
    from alertmodel import migrate

    migrate.upgrade(sqlite_database)
    engine = make_engine(sqlite_database)
    yield engine
    engine.dispose()


def _run(worker: Worker) -> None:
    worker.start()
    assert worker.wait(120), "the worker did not finish"


def test_every_event_is_stored_once_and_acked_after_its_batch_committed(engine: Engine) -> None:
    source = ListSource(suricata_alerts(250, "all"))
    acked_when_stored: list[bool] = []
    original = source._record

    def record(into: list[int], i: int) -> None:
        if into is source.acked:  # at ack time the alert must already be committed
            acked_when_stored.append(f"all-{i}" in set(stored_tags(engine)))
        original(into, i)

    source._record = record  # type: ignore[method-assign]
    worker = Worker(engine, IngestCore(), [source], batch_size=100, batch_wait_s=0.05)
    _run(worker)

    assert count_alerts(engine) == (250, 250)
    assert sorted(source.acked) == list(range(250))
    assert all(acked_when_stored)
    assert worker.stats.batches >= 3  # 250 events in batches of at most 100
    assert worker.stats.stored == 250


def test_malformed_lines_are_dead_lettered_with_reasons_and_the_good_ones_stored(engine: Engine) -> None:
    source = ListSource([*suricata_alerts(5, "mixed"), b"{not json", b'{"no": "known shape"}'])
    worker = Worker(engine, IngestCore(), [source], batch_size=100, batch_wait_s=0.05)
    _run(worker)

    assert count_alerts(engine) == (5, 5)
    reasons = dead_letter_reasons(engine)
    assert len(reasons) == 2
    assert any("invalid JSON" in r for r in reasons) and any("unknown event shape" in r for r in reasons)
    assert sorted(source.acked) == list(range(7))  # a dead letter is stored too, so it is acked


def test_enricher_rows_are_stored_in_the_same_batch_and_a_failing_enricher_stops_nothing(
    engine: Engine,
) -> None:
    def ioc_hit(out: CoreOutput) -> list[dict[str, Any]]:
        extra = dict(out.alerts[0])
        extra["alert_uuid"] = "ioc-" + extra["alert_uuid"][4:]
        extra["description"] = "IOC hit"
        return [extra]

    def broken(out: CoreOutput) -> list[dict[str, Any]]:
        raise ConnectionError("MISP is down")

    source = ListSource(suricata_alerts(3, "enrich"))
    worker = Worker(
        engine, IngestCore(), [source], batch_size=100, batch_wait_s=0.5, enrichers=[broken, ioc_hit]
    )
    _run(worker)

    assert worker.stats.counts["enricher_failed"] >= 1
    assert worker.stats.counts["enriched"] >= 1
    assert count_alerts(engine)[0] == 3 + worker.stats.counts["enriched"]


def test_while_the_database_fails_nothing_is_acked_and_the_batch_is_retried_until_it_works(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    real_write = BatchWriter.write
    gate = threading.Event()

    def flaky(self: BatchWriter, batch: Any) -> Any:
        calls["n"] += 1
        if not gate.is_set():
            raise OperationalError("INSERT", {}, ConnectionRefusedError("database down"))
        return real_write(self, batch)

    monkeypatch.setattr(BatchWriter, "write", flaky)
    source = ListSource(suricata_alerts(20, "outage"))
    worker = Worker(
        engine,
        IngestCore(),
        [source],
        batch_size=100,
        batch_wait_s=0.05,
        retry_initial_s=0.01,
        retry_max_s=0.05,
    )
    worker.start()
    wait_for(lambda: worker.stats.write_failures >= 5, what="failed writes")
    assert source.acked == []
    assert count_alerts(engine) == (0, 0)
    gate.set()
    assert worker.wait(60)
    assert count_alerts(engine) == (20, 20)
    assert sorted(source.acked) == list(range(20))
    assert "database down" in worker.stats.last_error


def test_a_slow_database_stops_reading_instead_of_growing_memory(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = BatchWriter.write
    gate = threading.Event()

    def stuck(self: BatchWriter, batch: Any) -> Any:
        gate.wait()
        return real_write(self, batch)

    monkeypatch.setattr(BatchWriter, "write", stuck)
    source = ListSource(suricata_alerts(2000, "slow"), finite=True)
    worker = Worker(engine, IngestCore(), [source], batch_size=10, batch_wait_s=0.01, inbox_items=50)
    worker.start()
    # inbox (50) + two prepared batches (20) + one being written (10) + one being prepared (10) at most
    wait_for(lambda: source.put >= 50, what="the inbox to fill")
    wait_for(lambda: len(worker.inbox) == 50, what="the inbox to stay full")
    assert source.put <= 50 + 10 * 4
    gate.set()
    assert worker.wait(120)
    assert count_alerts(engine) == (2000, 2000)


def test_a_batch_the_database_keeps_refusing_is_kept_as_dead_letters_and_acked(engine: Engine) -> None:
    def refuse(conn: Any, rows: Any) -> None:
        raise ValueError("constraint the hook enforces")

    source = ListSource(suricata_alerts(4, "poison"))
    worker = Worker(
        engine,
        IngestCore(),
        [source],
        batch_size=100,
        batch_wait_s=0.2,
        batch_hooks=[refuse],
        retry_initial_s=0.01,
    )
    _run(worker)

    assert count_alerts(engine) == (0, 0)
    reasons = dead_letter_reasons(engine)
    assert len(reasons) == 4 and all("constraint the hook enforces" in r for r in reasons)
    assert sorted(source.acked) == list(range(4))


def test_stopping_while_the_database_is_down_acks_nothing_and_abandons_in_flight_work(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(self: BatchWriter, batch: Any) -> Any:
        raise OperationalError("INSERT", {}, ConnectionRefusedError("database down"))

    monkeypatch.setattr(BatchWriter, "write", down)
    source = ListSource(suricata_alerts(30, "abandon"), finite=False)
    worker = Worker(
        engine,
        IngestCore(),
        [source],
        batch_size=10,
        batch_wait_s=0.01,
        retry_initial_s=0.01,
        drain_timeout_s=0.5,
    )
    worker.start()
    wait_for(lambda: worker.stats.write_failures >= 2, what="failed writes")
    worker.request_stop()
    assert worker.wait(60)
    assert source.acked == []
    assert source.abandoned  # HTTP callers get their 503 rather than waiting forever


def test_the_worker_switches_to_a_newly_activated_policy_without_restarting(engine: Engine) -> None:
    store_policy(engine, "n1", {"filter_name": "first"})
    source = ListSource([], finite=False)
    worker = Worker(
        engine,
        IngestCore(node="n1"),
        [source],
        batch_wait_s=0.01,
        policy=DatabasePolicy(engine, "n1"),
        policy_poll_s=0.05,
    )
    worker.start()
    try:
        worker.inbox.put(Delivery(lines=suricata_alerts(1, "p1"), origin="t"))
        wait_for(lambda: count_alerts(engine)[0] == 1, what="the first alert")
        store_policy(engine, "n1", {"filter_name": "second"})
        wait_for(
            lambda: worker.core.policy is not None and worker.core.policy.filter_name == "second", what="swap"
        )
        worker.inbox.put(Delivery(lines=suricata_alerts(1, "p2"), origin="t"))
        wait_for(lambda: count_alerts(engine)[0] == 2, what="the second alert")
    finally:
        worker.request_stop()
        assert worker.wait(60)
    from sqlalchemy import select

    from alertmodel import Alert

    with engine.connect() as conn:
        filters = conn.execute(
            select(Alert.__table__.c.filter).order_by(Alert.__table__.c.alert_id)
        ).scalars()
        assert list(filters) == ["first", "second"]


def test_outcome_of_a_delivery_reports_its_own_alerts_and_dead_letters(engine: Engine) -> None:
    outcomes: list[Outcome] = []
    worker = Worker(engine, IngestCore(), [ListSource([], finite=False)], batch_wait_s=0.01)
    worker.start()
    try:
        worker.inbox.put(
            Delivery(lines=[*suricata_alerts(2, "own"), b"nope"], origin="t", on_commit=outcomes.append)
        )
        wait_for(lambda: len(outcomes) == 1, what="the commit")
    finally:
        worker.request_stop()
        assert worker.wait(60)
    assert outcomes[0].emitted == 2
    assert [d.origin for d in outcomes[0].dead_letters] == ["t"]


def test_a_source_that_cannot_start_stops_the_worker_and_raises(engine: Engine) -> None:
    class Broken(ListSource):
        def start(self, inbox: Inbox) -> None:
            raise OSError("address already in use")

    closed: list[str] = []
    good = ListSource([], finite=False)
    good.close = lambda: closed.append("good")  # type: ignore[method-assign]
    worker = Worker(engine, IngestCore(), [good, Broken([])], batch_wait_s=0.01)
    with pytest.raises(OSError, match="address already in use"):
        worker.start()
    assert worker.wait(0) and closed == ["good"]


def test_the_writer_thread_gets_the_gil_back_within_half_a_millisecond(engine: Engine) -> None:
    default = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    try:
        _run(Worker(engine, IngestCore(), [ListSource(suricata_alerts(2, "gil"))], batch_wait_s=0.01))
        assert sys.getswitchinterval() <= GIL_SWITCH_INTERVAL_S == 0.0005
    finally:
        sys.setswitchinterval(default)
    assert count_alerts(engine) == (2, 2)
