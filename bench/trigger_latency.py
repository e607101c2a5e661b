"""Alert → Prefect flow run: latency, the native automation path, and a 1,000-alert burst.

Everything runs against Prefect servers this script starts (SQLite, loopback, late-runs off)
and an ingest worker with the HTTP source, the response hook and the outbox dispatcher (woken
by each commit), exactly as `alertflow ingest` wires them.

1. Latency, alerts sent one at a time (>= 500): from the POST /ingest of the alert to the
   `created` time Prefect stored for its flow run; next to it, in the same run and interleaved,
   the bare REST call `POST /api/deployments/{id}/create_flow_run` (retrying 503s), from
   sending it to the `created` time of the run it returns (same clock, same end point); then the
   native path: `emit_event` + an automation whose RunDeployment action starts a deployment,
   emit → run created; then alert → the served playbook actually running (poll 1 s).
2. Burst: 1,000 bare creations at concurrency 4 and 8 (fresh server each), then 1,000
   ungrouped alerts at once through the worker and dispatcher at the best of those
   concurrencies (fresh server), with /api/health polled every 0.5 s (3 s timeout).

Prints {"bench": "trigger_latency", ...} and {"bench": "trigger_burst", ...}.
`--quick`: 30 latency alerts, 4 native events, 2 served runs, a 60-alert burst on the same server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import Engine, select

from alertflow.up.prefect_server import HealthWatch, LocalPrefectServer, free_port
from alertmodel import Outbox, PlaybookRun, migrate
from alertmodel.engine import make_engine
from ingest.core import IngestCore
from ingest.sources.http import HttpSource
from ingest.worker import Worker
from response.dispatcher import DispatcherConfig, DispatcherThread
from response.outbox_writer import ResponseHook
from response.profiles import ProfileFile, store_profiles

BENCH = Path(__file__).resolve().parent
TOKEN = uuid.uuid4().hex


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def eve_line(n: int, tag: str, signature_id: int = 2019284, srcip: str | None = None) -> bytes:
    event = {
        "timestamp": "2026-11-23T12:00:00.000000+0000",
        "flow_id": n,
        "event_type": "alert",
        "src_ip": srcip or f"198.18.{n // 250 % 250}.{n % 250 + 1}",
        "src_port": 40000 + n % 20000,
        "dest_ip": "10.16.1.11",
        "dest_port": 80,
        "proto": "TCP",
        "tag": tag,
        "alert": {
            "action": "allowed",
            "gid": 1,
            "signature_id": signature_id,
            "rev": 3,
            "signature": "ET SCAN Nmap Scripting Engine User-Agent Detected",
            "category": "Web Application Attack",
            "severity": 1,
        },
    }
    return json.dumps(event).encode() + b"\n"


@contextmanager
def prefect_server(root: Path, name: str) -> Iterator[LocalPrefectServer]:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    server = LocalPrefectServer(home=root / name, port=free_port()).start()
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            yield server
    finally:
        server.stop()


def deploy(flow_name: str, deployment: str) -> str:
    """Create (not serve) a deployment of one of bench/support's flows; its id."""
    sys.path.insert(0, str(BENCH))
    from support import playbooks

    flow = {"bench-playbook": playbooks.bench_playbook, "native-target": playbooks.native_target}[flow_name]
    return str(flow.to_deployment(name=deployment).apply())


@contextmanager
def pipeline(root: Path, profiles: dict[str, Any], concurrency: int = 4) -> Iterator[tuple[Engine, str]]:
    """A migrated SQLite store with `profiles`, an ingest worker on HTTP and a dispatcher thread."""
    db = root / f"store-{uuid.uuid4().hex[:6]}.db"
    url = f"sqlite:///{db}"
    migrate.upgrade(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        store_profiles(conn, ProfileFile.model_validate(profiles), origin="bench")
    port = free_port()
    dispatcher = DispatcherThread(engine, DispatcherConfig(concurrency=concurrency))
    worker = Worker(
        engine,
        IngestCore(node="bench"),
        [HttpSource("127.0.0.1", port, token=SecretStr(TOKEN))],
        batch_wait_s=0.25,  # the `alertflow ingest` default
        batch_hooks=[ResponseHook()],
        on_commit=dispatcher.wake,
    )
    dispatcher.start()
    worker.start()
    try:
        yield engine, f"http://127.0.0.1:{port}/ingest"
    finally:
        worker.request_stop()
        worker.wait(60)
        dispatcher.stop()
        engine.dispose()


def profile(name: str, deployment: str, signature_id: int) -> dict[str, Any]:
    return {
        "name": name,
        "match": {"source": "Suricata", "event": str(signature_id)},
        "actions": [{"kind": "playbook", "deployment": deployment}],
    }


def post(client: httpx.Client, url: str, body: bytes) -> None:
    response = client.post(url, content=body, headers={"Authorization": f"Bearer {TOKEN}"})
    if response.status_code != 202:
        raise RuntimeError(f"POST /ingest answered {response.status_code}: {response.text[:200]}")


def run_of(engine: Engine) -> list[Any]:
    runs = PlaybookRun.__table__
    with engine.connect() as conn:
        return conn.execute(
            select(runs.c.alert_uuid, runs.c.flow_run_id).where(runs.c.flow_run_id.is_not(None))
        ).all()


def wait(condition: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.005) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(poll_s)


def flow_runs(api: str, deployment_id: str) -> dict[str, dict[str, Any]]:
    """Every run of a deployment by id (paginated REST, 503s retried)."""
    out: dict[str, dict[str, Any]] = {}
    with httpx.Client(timeout=120) as client:
        while True:
            body = {"deployments": {"id": {"any_": [deployment_id]}}, "limit": 200, "offset": len(out)}
            page = with_503_retry(lambda body=body: client.post(f"{api}/flow_runs/filter", json=body)).json()
            out.update({r["id"]: r for r in page})
            if len(page) < 200:
                return out


def with_503_retry(call: Callable[[], httpx.Response]) -> httpx.Response:
    for attempt in range(60):
        try:
            response = call()
        except httpx.TransportError:  # a reset connection under SQLite contention: try again
            time.sleep(min(0.05 * 2**attempt, 2))
            continue
        if response.status_code != 503:
            response.raise_for_status()
            return response
        time.sleep(min(0.05 * 2**attempt, 2))
    raise RuntimeError("the Prefect server kept answering 503 or resetting connections")


def ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def measure_latency(root: Path, server: LocalPrefectServer, n: int) -> tuple[list[float], list[float]]:
    """(ours, bare) latencies in seconds for n alerts, interleaved one by one."""
    deployment_id = deploy("bench-playbook", "latency")
    ours: dict[str, float] = {}
    bare: list[float] = []
    alert_json = None
    spec = {"response_profiles": [profile("latency", "bench-playbook/latency", 2019284)]}
    with pipeline(root, spec) as (engine, ingest), httpx.Client(timeout=120) as client:
        for i in range(n):
            done = len(ours)
            sent = time.time()
            post(client, ingest, eve_line(i, "latency"))
            # 20 ms polls: the figures come from Prefect's clock, and a tighter loop here would
            # take the GIL from the worker and dispatcher threads it measures.
            wait(lambda done=done: len(run_of(engine)) > done, 120, "the flow run", poll_s=0.02)  # type: ignore[misc]
            for _, flow_run_id in run_of(engine):
                ours.setdefault(flow_run_id, sent)
            if alert_json is None:
                from alertmodel.repository import load_alerts

                alert_json = load_alerts(engine, [run_of(engine)[0].alert_uuid])[0].model_dump(mode="json")
            body = {"parameters": {"alert": alert_json}, "idempotency_key": uuid.uuid4().hex}
            started = time.time()
            response = with_503_retry(
                lambda body=body: client.post(  # type: ignore[misc]
                    f"{server.api_url}/deployments/{deployment_id}/create_flow_run", json=body
                )
            )
            bare.append(ts(response.json()["created"]) - started)
    created = flow_runs(server.api_url, deployment_id)
    latencies = [ts(created[run_id]["created"]) - sent for run_id, sent in ours.items()]
    return latencies, bare


def measure_native(server: LocalPrefectServer, n: int) -> list[float]:
    """emit_event → automation RunDeployment → flow run created, in seconds."""
    from prefect.automations import Automation
    from prefect.events import emit_event
    from prefect.events.actions import RunDeployment
    from prefect.events.schemas.automations import EventTrigger, Posture

    deployment_id = deploy("native-target", "native")
    Automation(
        name="bench-alert-to-playbook",
        trigger=EventTrigger(
            expect={"alertflow.alert.created"},
            match={"prefect.resource.id": "alertflow.alert.*"},
            posture=Posture.Reactive,
            threshold=1,
            within=0,
        ),
        actions=[
            RunDeployment(
                source="selected",
                deployment_id=uuid.UUID(deployment_id),
                parameters={"alert_uuid": "{{ event.payload.alert_uuid }}"},
            )
        ],
    ).create()
    # The triggers service picks new automations up periodically: measure only once a probe
    # event has started a run, so the figures are the path's latency, not its warm-up.
    probe_deadline = time.monotonic() + 120
    while time.monotonic() < probe_deadline:
        probe = f"probe-{uuid.uuid4()}"
        emit_event(
            event="alertflow.alert.created",
            resource={"prefect.resource.id": f"alertflow.alert.{probe}"},
            payload={"alert_uuid": probe},
        )
        time.sleep(2)
        if any(
            r["parameters"].get("alert_uuid") == probe
            for r in flow_runs(server.api_url, deployment_id).values()
        ):
            break
    # One at a time, like the alerts above: spaced 0.5 s apart the events queued up behind
    # the triggers service (p50 9-12 s here), which measures its throughput, not latency.
    emitted: dict[str, float] = {}
    runs: dict[str, dict[str, Any]] = {}
    for _ in range(n):
        alert_uuid = str(uuid.uuid4())
        emitted[alert_uuid] = time.time()
        emit_event(
            event="alertflow.alert.created",
            resource={"prefect.resource.id": f"alertflow.alert.{alert_uuid}"},
            payload={"alert_uuid": alert_uuid},
        )
        deadline = time.monotonic() + 60
        while alert_uuid not in runs and time.monotonic() < deadline:
            time.sleep(0.1)
            runs = {
                r["parameters"].get("alert_uuid"): r
                for r in flow_runs(server.api_url, deployment_id).values()
            }
    return [ts(runs[u]["created"]) - t for u, t in emitted.items() if u in runs]


def measure_running(root: Path, server: LocalPrefectServer, n: int) -> list[float]:
    """Alert POSTed → the served playbook's run actually started (start_time), in seconds."""
    env = {
        **os.environ,
        **server.client_env(),
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "PREFECT_HOME": str(root / "serve-home"),
    }
    log = (root / "serve.log").open("ab")
    serve = subprocess.Popen(
        [sys.executable, str(BENCH / "support" / "playbooks.py")],
        cwd=BENCH.parent,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        with httpx.Client(timeout=30) as client:

            def deployment_id() -> str | None:
                r = client.get(f"{server.api_url}/deployments/name/bench-playbook/served")
                return str(r.json()["id"]) if r.status_code == 200 else None

            wait(lambda: deployment_id() is not None, 120, "the served deployment", poll_s=0.5)
            served_id = deployment_id()
            assert served_id is not None
            time.sleep(3)  # let the runner settle into its 1 s poll
            starts: list[float] = []
            spec = {"response_profiles": [profile("served", "bench-playbook/served", 2019285)]}
            with pipeline(root, spec) as (_, ingest), httpx.Client(timeout=60) as api:
                for i in range(n):
                    sent = time.time()
                    post(api, ingest, eve_line(i, "served", signature_id=2019285))

                    def started(i: int = i) -> bool:
                        runs = flow_runs(server.api_url, served_id)
                        return len([r for r in runs.values() if r["start_time"]]) > i

                    wait(started, 120, "the served run to start", poll_s=0.2)
                    run = max(flow_runs(server.api_url, served_id).values(), key=lambda r: r["created"])
                    starts.append(ts(run["start_time"]) - sent)
                    wait(
                        lambda: all(
                            r["state_type"] in ("COMPLETED", "FAILED", "CRASHED")
                            for r in flow_runs(server.api_url, served_id).values()
                        ),
                        120,
                        "the served run to finish",
                        poll_s=0.2,
                    )
            return starts
    finally:
        os.killpg(serve.pid, signal.SIGTERM)
        try:
            serve.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(serve.pid, signal.SIGKILL)
        log.close()


async def bare_burst(
    api: str, deployment_id: str, n: int, concurrency: int, alert_json: dict[str, Any]
) -> float:
    """n plain REST creations at `concurrency`; runs per second."""
    gate = asyncio.Semaphore(concurrency)

    async def create(client: httpx.AsyncClient) -> None:
        body = {"parameters": {"alert": alert_json}, "idempotency_key": uuid.uuid4().hex}
        async with gate:
            for attempt in range(100):
                try:  # the same idempotency key makes a retry after a reset connection safe
                    response = await client.post(
                        f"{api}/deployments/{deployment_id}/create_flow_run", json=body
                    )
                except httpx.TransportError:
                    await asyncio.sleep(min(0.05 * 2**attempt, 2))
                    continue
                if response.status_code != 503:
                    response.raise_for_status()
                    return
                await asyncio.sleep(min(0.05 * 2**attempt, 2))
            raise RuntimeError("the Prefect server kept answering 503")

    async with httpx.AsyncClient(timeout=300) as client:
        started = time.perf_counter()
        await asyncio.gather(*(create(client) for _ in range(n)))
        return n / (time.perf_counter() - started)


def sample_alert(root: Path) -> dict[str, Any]:
    """A stored alert's parameter JSON, as the dispatcher sends it."""
    url = f"sqlite:///{root / 'sample.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    core = IngestCore(node="bench")
    out = core.process([eve_line(0, "sample")])
    from alertmodel import AlertRead
    from alertmodel.repository import insert_alerts

    with engine.begin() as conn:
        insert_alerts(conn, out.alerts)
    from alertmodel.repository import load_alerts

    alert: AlertRead = load_alerts(engine, [out.alerts[0]["alert_uuid"]])[0]
    engine.dispose()
    return alert.model_dump(mode="json")


def dispatcher_burst(root: Path, server: LocalPrefectServer, n: int, concurrency: int) -> tuple[float, int]:
    """(runs per second, unanswered health checks) for n ungrouped alerts POSTed at once."""
    deploy("bench-playbook", "burst")
    spec = {"response_profiles": [profile("burst", "bench-playbook/burst", 2019284)]}
    outbox = Outbox.__table__
    with (
        HealthWatch(server.api_url, timeout_s=3) as health,
        pipeline(root, spec, concurrency) as (engine, ingest),
    ):
        body = b"".join(eve_line(i, "burst") for i in range(n))
        started = time.perf_counter()
        with httpx.Client(timeout=300) as client:
            post(client, ingest, body)

        def all_done() -> bool:
            with engine.connect() as conn:
                return (
                    conn.execute(select(outbox.c.id).where(outbox.c.state != "done").limit(1)).first() is None
                )

        wait(all_done, 3600, "every run created", poll_s=0.2)
        rate = n / (time.perf_counter() - started)
        with engine.connect() as conn:
            assert len(conn.execute(select(outbox.c.id)).all()) == n
    return rate, health.unanswered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, one server (< 1-2 minutes)")
    args = parser.parse_args()
    n_latency, n_native, n_running, n_burst = (30, 4, 2, 60) if args.quick else (500, 30, 10, 1000)
    with tempfile.TemporaryDirectory(prefix="alertflow-bench-") as tmp:
        root = Path(tmp)
        with prefect_server(root, "latency") as server:
            ours, bare = measure_latency(root, server, n_latency)
            native = measure_native(server, n_native)
            running = measure_running(root, server, n_running)
            print(
                json.dumps(
                    {
                        "bench": "trigger_latency",
                        "p50_ms": round(percentile(ours, 0.5) * 1000, 1),
                        "p99_ms": round(percentile(ours, 0.99) * 1000, 1),
                        "bare_p50_ms": round(percentile(bare, 0.5) * 1000, 1),
                        "native_p50_ms": round(percentile(native, 0.5) * 1000, 1),
                        "native_p99_ms": round(percentile(native, 0.99) * 1000, 1),
                        "running_p50_s": round(percentile(running, 0.5), 2),
                    }
                ),
                flush=True,
            )
            alert_json = sample_alert(root)
            if args.quick:  # one server for everything: a fresh one per burst costs ~15 s each
                deployment_id = deploy("bench-playbook", "bare")
                bare_rates = {
                    4: asyncio.run(bare_burst(server.api_url, deployment_id, n_burst, 4, alert_json))
                }
                rate, stalls = dispatcher_burst(root, server, n_burst, 4)
        if not args.quick:
            bare_rates = {}
            for concurrency in (4, 8):
                with prefect_server(root, f"bare-{concurrency}") as server:
                    deployment_id = deploy("bench-playbook", "bare")
                    bare_rates[concurrency] = asyncio.run(
                        bare_burst(server.api_url, deployment_id, n_burst, concurrency, alert_json)
                    )
            with prefect_server(root, "burst") as server:
                rate, stalls = dispatcher_burst(
                    root, server, n_burst, max(bare_rates, key=bare_rates.__getitem__)
                )
        best = max(bare_rates, key=bare_rates.__getitem__)
        print(
            json.dumps(
                {
                    "bench": "trigger_burst",
                    "alerts": n_burst,
                    "runs_per_s": round(rate, 2),
                    "bare_runs_per_s": round(bare_rates[best], 2),
                    "ratio": round(rate / bare_rates[best], 3),
                    "server_stalls": stalls,
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
