from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from alertmodel import ALERT_COLUMNS
from alertmodel.engine import make_engine
from ingest.batch import prepare_rows
from ingest.core import IngestCore
from ingest.decode_process import DecodeProcess
from ingest.policy import Policy
from ingest.worker import Worker
from tests.ingest.events import count_alerts, suricata_alerts
from tests.ingest.test_worker import ListSource, _run

BAD = b'{"half": '


@pytest.fixture
def decoder() -> Iterator[DecodeProcess]:
    process = DecodeProcess(IngestCore(node="n1"), "sqlite", keep_alerts=False)
    process.start()
    yield process
    process.close()


def test_the_child_returns_the_rows_the_parent_would_have_built(decoder: DecodeProcess) -> None:
    lines = [*suricata_alerts(3, "child"), BAD]
    [(out, rows)] = decoder.process([(lines, "auto", "eve.json")])
    here = IngestCore(node="n1").process(lines, origin="eve.json")
    assert out.alerts == []  # not shipped back unless an enricher needs them
    uuid_at = ALERT_COLUMNS.index("alert_uuid")
    assert [r[uuid_at] for r in rows] == [a["alert_uuid"] for a in here.alerts]
    received_at = ALERT_COLUMNS.index("time_collr")  # the clock of whoever decoded it

    def timeless(row: tuple[object, ...]) -> tuple[object, ...]:
        return row[:received_at] + row[received_at + 1 :]

    assert [timeless(r) for r in rows] == [timeless(r) for r in prepare_rows(here.alerts, "sqlite")]
    assert [(d.origin, d.raw) for d in out.dead_letters] == [("eve.json", BAD)]


def test_alerts_come_back_as_dicts_when_asked() -> None:
    process = DecodeProcess(IngestCore(), "mysql", keep_alerts=True)
    process.start()
    try:
        [(out, rows)] = process.process([(suricata_alerts(2, "dicts"), "auto", "x")])
    finally:
        process.close()
    assert len(out.alerts) == len(rows) == 2
    assert rows == prepare_rows(out.alerts, "mysql")


def test_a_policy_change_reaches_the_child(decoder: DecodeProcess) -> None:
    decoder.set_policy(Policy.model_validate({"filter_name": "from-parent"}))
    [(_, rows)] = decoder.process([(suricata_alerts(1, "policy"), "auto", "x")])
    assert rows[0][ALERT_COLUMNS.index("filter")] == "from-parent"


def test_a_killed_child_is_replaced_and_the_batch_decoded(decoder: DecodeProcess) -> None:
    decoder.process([(suricata_alerts(1, "before"), "auto", "x")])
    assert decoder._process is not None and decoder._process.pid is not None
    os.kill(decoder._process.pid, signal.SIGKILL)
    decoder._process.join(10)
    [(_, rows)] = decoder.process([(suricata_alerts(2, "after"), "auto", "x")])
    assert len(rows) == 2


def test_closing_ends_the_child(decoder: DecodeProcess) -> None:
    child = decoder._process
    assert child is not None and child.is_alive()
    decoder.close(timeout_s=5)
    assert not child.is_alive() and child.exitcode == 0  # the pipe closed: it left its loop


def test_the_worker_decodes_in_the_child_and_stores_everything(sqlite_database: str) -> None:
    from alertmodel import migrate

    migrate.upgrade(sqlite_database)
    engine: Engine = make_engine(sqlite_database)
    try:
        worker = Worker(engine, IngestCore(), [ListSource(suricata_alerts(250, "many"))], batch_size=100)
        assert worker._decoder is not None
        _run(worker)
        assert worker._decoder is not None  # still the child: it never fell back
        assert count_alerts(engine) == (250, 250)
    finally:
        engine.dispose()


def test_the_worker_decodes_in_its_own_thread_when_the_child_cannot_start(
    sqlite_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alertmodel import migrate

    migrate.upgrade(sqlite_database)
    engine = make_engine(sqlite_database)

    def broken(self: DecodeProcess, items: object) -> None:
        raise RuntimeError("cannot start a process here")

    monkeypatch.setattr(DecodeProcess, "process", broken)
    try:
        worker = Worker(engine, IngestCore(), [ListSource(suricata_alerts(30, "fallback"))], batch_size=10)
        _run(worker)
        assert worker._decoder is None and worker.writer.sqlite_statement_per_row is False
        assert count_alerts(engine) == (30, 30)
    finally:
        engine.dispose()


def test_the_objects_the_child_shares_are_frozen_so_collections_keep_the_pages_shared() -> None:
    import gc

    gc.unfreeze()
    process = DecodeProcess(IngestCore(), "sqlite", keep_alerts=False)
    process.start()
    try:
        assert gc.get_freeze_count() > 10_000  # the modules, classes and config loaded so far
    finally:
        process.close()
