"""`alertflow forward` as a process: killed with SIGKILL mid-stream it resumes with nothing missing, and a
receiver that is away for 30 s never holds up the ingest worker; its backlog drains once it is back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from alertflow.up.prefect_server import LocalPrefectServer
from alertmodel import Alert, migrate
from alertmodel.engine import make_engine
from alertmodel.forwarding import read_cursor
from blocks.forwarders import GelfForwarder
from ingest.core import IngestCore
from tests.alertfactory import make_alert, store_batch
from tests.forward_receivers import GelfReceiver, free_port, wait_until

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "tests" / "fixtures" / "samples" / "suricata"
OUTAGE_S = 30  # the outage the forwarding requirement names


class Forwarder:
    """`alertflow forward --forwarder NAME` as a subprocess, its output in a log file."""

    def __init__(self, name: str, env: dict[str, str], log: Path, extra: tuple[str, ...] = ()) -> None:
        self.log = log
        self._fh = log.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "alertflow",
                "forward",
                "--forwarder",
                name,
                "--poll",
                "0.2",
                "--max-backoff",
                "1",
                *extra,
            ],
            env={**os.environ, **env},
            cwd=REPO,
            stdout=self._fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        self._fh.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._fh.close()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@pytest.fixture
def setup(prefect_server: LocalPrefectServer, tmp_path: Path) -> Iterator[dict[str, Any]]:
    store = f"sqlite:///{tmp_path / 'alertflow.db'}"
    migrate.upgrade(store)
    engine = make_engine(store)
    receiver = GelfReceiver("tcp").start()
    name = f"graylog-{uuid.uuid4().hex[:8]}"
    GelfForwarder(host="127.0.0.1", port=receiver.port, backfill=True, batch_size=500).save(name)
    env = {**prefect_server.client_env(), "ALERTFLOW_DATABASE_URL": store}
    yield {"engine": engine, "receiver": receiver, "name": name, "env": env, "dir": tmp_path}
    receiver.stop()
    engine.dispose()


def test_a_forwarder_killed_mid_stream_resumes_and_every_alert_arrives(setup: dict[str, Any]) -> None:
    engine, receiver, name = setup["engine"], setup["receiver"], setup["name"]
    rows = [make_alert() for _ in range(30_000)]
    for i in range(0, len(rows), 2000):
        store_batch(engine, rows[i : i + 2000])
    first = Forwarder(name, setup["env"], setup["dir"] / "forward-1.log")
    try:
        wait_until(lambda: receiver.count >= 2000, 90, "the first 2,000 alerts arrived")
        first.kill()
    finally:
        first.stop()
    with engine.connect() as conn:
        cursor = read_cursor(conn, name)
    assert 0 < cursor < len(rows), f"killed at cursor {cursor}: not mid-stream"
    later = [make_alert() for _ in range(500)]  # stored while no forwarder runs
    store_batch(engine, later)
    second = Forwarder(name, setup["env"], setup["dir"] / "forward-2.log")
    try:
        expected = {r["alert_uuid"] for r in rows + later}
        wait_until(lambda: receiver.uuids() >= expected, 120, "every alert arrived after the restart")
    except AssertionError as exc:
        raise AssertionError(second.tail()) from exc
    finally:
        second.stop()
    assert receiver.uuids() == expected
    # at-least-once: what was sent again is at most the batch the kill interrupted (and the one in flight)
    assert len(receiver.messages) - len(expected) <= 2 * 500


def _event_lines(n: int, tag: str) -> list[bytes]:
    core = IngestCore()
    base = [
        line
        for path in sorted(SAMPLES.iterdir())
        for line in path.read_bytes().splitlines()
        if line.strip() and len(core.process([line]).alerts) == 1
    ]
    return [b'{"forward_test":"' + f"{tag}-{i}".encode() + b'",' + base[i % len(base)][1:] for i in range(n)]


def _stored(engine: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Alert.__table__)).scalar_one())


def test_a_receiver_away_for_30_s_holds_up_no_ingest_and_its_backlog_drains(setup: dict[str, Any]) -> None:
    engine, receiver, name, directory = setup["engine"], setup["receiver"], setup["name"], setup["dir"]
    events = directory / "eve.json"
    events.write_bytes(b"")
    ingest = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "alertflow",
            "ingest",
            "--no-dispatch",
            "--source",
            f"file:{events}",
            "--batch-wait",
            "0.05",
        ],
        env={**os.environ, **setup["env"]},
        cwd=REPO,
        stdout=(directory / "ingest.log").open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    forwarder = Forwarder(name, setup["env"], directory / "forward.log")
    try:
        lines = _event_lines(6000, uuid.uuid4().hex[:8])
        with events.open("ab") as out:
            out.write(b"\n".join(lines[:1000]) + b"\n")
        wait_until(lambda: receiver.count >= 1000, 90, "the first 1,000 alerts were forwarded")
        receiver.stop()
        down_at = time.monotonic()
        with events.open("ab") as out:
            out.write(b"\n".join(lines[1000:]) + b"\n")
        # ingest goes on with the receiver away: all 6,000 are stored during the outage
        wait_until(
            lambda: _stored(engine) == 6000, OUTAGE_S - 5, "ingest stored every event during the outage"
        )
        with engine.connect() as conn:
            assert (
                read_cursor(conn, name) <= 1000 + 500
            )  # nothing is counted as sent while the receiver is away
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
        receiver.start()
        wait_until(lambda: receiver.count >= 6000, 60, "the backlog drained after the receiver came back")
        with engine.connect() as conn:
            uuids = {r[0] for r in conn.execute(select(Alert.__table__.c.alert_uuid))}
        assert receiver.uuids() == uuids
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{forwarder.tail()}") from exc
    finally:
        forwarder.stop()
        os.killpg(ingest.pid, signal.SIGTERM)
        ingest.wait(60)


def test_forward_once_sends_what_is_stored_and_names_a_missing_forwarder(setup: dict[str, Any]) -> None:
    engine, receiver, name = setup["engine"], setup["receiver"], setup["name"]
    rows = [make_alert() for _ in range(300)]
    store_batch(engine, rows)
    command = [sys.executable, "-m", "alertflow", "forward", "--once"]
    env = {**os.environ, **setup["env"]}
    done = subprocess.run(
        [*command, "--forwarder", name], env=env, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert f"{name}: 300 sent, 0 dead-lettered" in done.stdout
    wait_until(lambda: receiver.uuids() == {r["alert_uuid"] for r in rows}, 30, "the 300 alerts arrived")
    missing = subprocess.run(
        [*command, "--forwarder", "no-such-forwarder"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 1
    assert "no forwarder block named no-such-forwarder" in missing.stderr


def _lag(url: str, name: str) -> float | None:
    """The forwarder's lag gauge as the forward process serves it (None: not there, or no answer yet)."""
    try:
        body = httpx.get(url, timeout=5).text
    except httpx.HTTPError:
        return None
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == "alertflow_forwarder_lag_seconds" and sample.labels == {"forwarder": name}:
                return float(sample.value)
    return None


def test_the_forward_process_serves_its_lag_which_grows_with_a_backlog_and_drops_to_0_once_drained(
    setup: dict[str, Any],
) -> None:
    engine, receiver, name = setup["engine"], setup["receiver"], setup["name"]
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    store_batch(engine, [make_alert() for _ in range(200)])
    forwarder = Forwarder(name, setup["env"], setup["dir"] / "forward.log", ("--metrics-port", str(port)))
    try:
        wait_until(lambda: receiver.count >= 200, 90, "the first 200 alerts were forwarded")
        wait_until(lambda: _lag(url, name) == 0.0, 30, "a lag of 0 once caught up")
        receiver.stop()
        backlog = [make_alert() for _ in range(1000)]
        store_batch(engine, backlog)
        wait_until(lambda: (_lag(url, name) or 0) > 1.0, 30, "the lag to grow while the receiver is away")
        first = _lag(url, name)
        time.sleep(1.5)
        assert (_lag(url, name) or 0) >= (first or 0) + 1.0, "the lag grows while nothing can be sent"
        receiver.start()
        wait_until(lambda: receiver.count >= 1200, 60, "the backlog drained after the receiver came back")
        wait_until(lambda: _lag(url, name) == 0.0, 30, "the lag back to 0 once the backlog drained")
        assert receiver.uuids() >= {r["alert_uuid"] for r in backlog}
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{forwarder.tail()}") from exc
    finally:
        forwarder.stop()
