"""The ingest worker against a real ActiveMQ (STOMP) and a real MariaDB."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import stomp
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from alertmodel import migrate
from alertmodel.engine import make_engine
from ingest.core import IngestCore
from ingest.sources.stomp import StompSource
from ingest.worker import Worker
from tests.conftest import MARIADB_PORT
from tests.ingest.events import BAD_LINES, count_alerts, dead_letter_reasons, suricata_alerts, wait_for
from tests.integration.ingest_kit import (
    STOMP_HOST,
    STOMP_PORT,
    TcpProxy,
    WorkerProcess,
    publish,
    require_broker,
    restart_broker,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def queue() -> str:
    require_broker()
    return f"/queue/alertflow-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def mariadb(mariadb_database: str) -> Iterator[tuple[str, Engine]]:
    migrate.upgrade(mariadb_database)
    engine = make_engine(mariadb_database)
    yield mariadb_database, engine
    engine.dispose()


def _worker(engine: Engine, queue: str, **kwargs: object) -> tuple[Worker, StompSource]:
    source = StompSource(STOMP_HOST, STOMP_PORT, queue, prefetch=200, reconnect_max_s=1.0)
    worker = Worker(
        engine, IngestCore(), [source], batch_size=200, batch_wait_s=0.05, retry_max_s=0.5, **kwargs
    )  # type: ignore[arg-type]
    worker.start()
    wait_for(lambda: source.connected, timeout=30, what="the STOMP subscription")
    return worker, source


def _stop(worker: Worker) -> None:
    worker.request_stop()
    assert worker.wait(90), "the worker did not drain"


def test_ten_thousand_events_through_activemq_arrive_exactly_once_in_mariadb(
    queue: str, mariadb: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = mariadb
    publish(queue, suricata_alerts(10_000, "tenk"))
    proc = WorkerProcess(
        ["--source", f"stomp://{STOMP_HOST}:{STOMP_PORT}{queue}", "--batch-wait", "0.1"],
        {"ALERTFLOW_DATABASE_URL": url},
        tmp_path / "worker.log",
    )
    try:
        wait_for(lambda: count_alerts(engine)[0] >= 10_000, timeout=150, what="10,000 alerts")
    finally:
        code = proc.terminate()
    assert code == 0, proc.tail()
    assert count_alerts(engine) == (10_000, 10_000)


def _worker_args(queue: str) -> list[str]:
    """`alertflow ingest` on the test queue, in batches small enough to be killed between."""
    return [
        "--source",
        f"stomp://{STOMP_HOST}:{STOMP_PORT}{queue}",
        "--batch-size",
        "200",
        "--prefetch",
        "400",
    ]


def test_a_worker_killed_mid_stream_and_restarted_loses_and_doubles_nothing(
    queue: str, mariadb: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = mariadb
    total = 5_000
    publish(queue, suricata_alerts(total, "kill"))
    args = _worker_args(queue)
    env = {"ALERTFLOW_DATABASE_URL": url}
    first = WorkerProcess(args, env, tmp_path / "first.log")
    try:
        wait_for(lambda: count_alerts(engine)[0] >= 600, timeout=120, what="the first alerts")
    finally:
        first.kill()
    stored_at_kill = count_alerts(engine)[0]
    assert stored_at_kill < total, "the stream was over before the kill; the test proved nothing"

    second = WorkerProcess(args, env, tmp_path / "second.log")
    try:
        wait_for(lambda: count_alerts(engine)[0] >= total, timeout=120, what="every alert after the restart")
    finally:
        code = second.terminate()
    assert code == 0, second.tail()
    assert count_alerts(engine) == (total, total)


def test_the_worker_reconnects_after_a_broker_restart_and_loses_nothing(
    queue: str, mariadb: tuple[str, Engine]
) -> None:
    _, engine = mariadb
    total = 5_000
    publish(queue, suricata_alerts(total, "broker"))
    worker, source = _worker(engine, queue)
    try:
        wait_for(lambda: count_alerts(engine)[0] >= 300, timeout=60, what="the first alerts")
        restart_broker()
        wait_for(lambda: source.connections >= 2, timeout=120, what="the reconnection")
        wait_for(lambda: count_alerts(engine)[0] >= total, timeout=150, what="every alert after the restart")
    finally:
        _stop(worker)
    assert count_alerts(engine) == (total, total)


def test_while_the_database_is_unreachable_nothing_is_acked_or_lost_and_the_worker_recovers(
    queue: str, mariadb: tuple[str, Engine]
) -> None:
    url, direct = mariadb
    proxy = TcpProxy(MARIADB_PORT)
    proxied = make_engine(make_url(url).set(port=proxy.port))
    worker, source = _worker(proxied, queue)
    try:
        publish(queue, suricata_alerts(1_000, "outage"))
        wait_for(lambda: count_alerts(direct)[0] >= 1_000, timeout=60, what="the first thousand")
        wait_for(lambda: source.acked >= 1_000, timeout=60, what="their acks")

        proxy.cut()
        publish(queue, suricata_alerts(1_000, "outage", start=1_000))
        wait_for(lambda: worker.stats.write_failures >= 2, timeout=60, what="failed writes")
        acked_during_outage = source.acked
        failures = worker.stats.write_failures
        wait_for(lambda: worker.stats.write_failures >= failures + 3, timeout=60, what="more failed writes")
        assert source.acked == acked_during_outage == 1_000
        assert count_alerts(direct)[0] == 1_000

        proxy.restore()
        wait_for(lambda: count_alerts(direct)[0] >= 2_000, timeout=90, what="recovery")
        wait_for(lambda: source.acked >= 2_000, timeout=60, what="the acks after recovery")
    finally:
        proxy.restore()
        _stop(worker)
        proxied.dispose()
        proxy.close()
    assert count_alerts(direct) == (2_000, 2_000)


def test_malformed_messages_are_dead_lettered_with_reasons_and_acked(
    queue: str, mariadb: tuple[str, Engine]
) -> None:
    _, engine = mariadb
    good = suricata_alerts(50, "malformed")
    publish(queue, [*good[:25], *BAD_LINES, *good[25:]])
    worker, source = _worker(engine, queue)
    try:
        wait_for(lambda: source.acked >= 50 + len(BAD_LINES), timeout=60, what="every message acked")
    finally:
        _stop(worker)
    # the sample mixes three bad lines with a good and a blank one; each message is its own "line 1"
    expected = [IngestCore().process([line]) for line in BAD_LINES]
    assert count_alerts(engine)[0] == 50 + sum(len(out.alerts) for out in expected)
    reasons = dead_letter_reasons(engine)
    assert sorted(reasons) == sorted(d.reason for out in expected for d in out.dead_letters)
    assert len(reasons) == 3 and all(r.startswith("line 1: ") for r in reasons)


def test_a_redelivered_bad_message_is_one_dead_letter(
    queue: str, mariadb: tuple[str, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, engine = mariadb
    good = suricata_alerts(5, "redelivered")
    publish(queue, [*good, *BAD_LINES])
    with monkeypatch.context() as lost:  # stored, then the acks never reach the broker (a crash)
        lost.setattr(stomp.Connection12, "ack", lambda *_args, **_kw: None)
        worker, _ = _worker(engine, queue)
        try:
            wait_for(lambda: len(dead_letter_reasons(engine)) >= 3, timeout=60, what="the first dead letters")
        finally:
            _stop(worker)  # disconnects: the broker puts every unacked message back on the queue
    worker, source = _worker(engine, queue)
    try:
        wait_for(lambda: source.acked >= 5 + len(BAD_LINES), timeout=60, what="every message redelivered")
    finally:
        _stop(worker)
    assert len(dead_letter_reasons(engine)) == 3
    assert count_alerts(engine)[0] == 5 + sum(len(IngestCore().process([line]).alerts) for line in BAD_LINES)


def test_two_workers_on_one_queue_share_it_and_store_each_event_once(
    queue: str, mariadb: tuple[str, Engine]
) -> None:
    _, engine = mariadb
    first, first_source = _worker(engine, queue)
    second, second_source = _worker(engine, queue)
    try:
        publish(queue, suricata_alerts(2_000, "compete"))
        wait_for(lambda: count_alerts(engine)[0] >= 2_000, timeout=90, what="every alert")
    finally:
        _stop(first)
        _stop(second)
    assert count_alerts(engine) == (2_000, 2_000)
    assert first_source.acked > 0 and second_source.acked > 0
    assert first_source.acked + second_source.acked == 2_000


def test_a_worker_killed_beside_a_second_one_hands_its_unacked_messages_to_it(
    queue: str, mariadb: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = mariadb
    total = 6_000
    publish(queue, suricata_alerts(total, "handover"))
    args = _worker_args(queue)
    env = {"ALERTFLOW_DATABASE_URL": url}
    doomed = WorkerProcess(args, env, tmp_path / "doomed.log")
    survivor = None
    try:
        wait_for(lambda: count_alerts(engine)[0] >= 400, timeout=120, what="the first worker's first alerts")
        survivor = WorkerProcess(args, env, tmp_path / "survivor.log")
        wait_for(lambda: count_alerts(engine)[0] >= 1_600, timeout=120, what="both workers consuming")
    finally:
        doomed.kill()
    stored_at_kill = count_alerts(engine)[0]
    assert stored_at_kill < total, "the stream was over before the kill; the test proved nothing"
    try:
        wait_for(lambda: count_alerts(engine)[0] >= total, timeout=180, what="every alert on the survivor")
    finally:
        code = survivor.terminate() if survivor is not None else None
    assert code == 0, survivor.tail() if survivor is not None else ""
    assert count_alerts(engine) == (total, total)
