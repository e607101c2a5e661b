"""A Prefect process worker killed with its flow runs mid-run (kill -9): Prefect marks the runs
Crashed (the zombie-run automation, from their missing heartbeats), alertflow's state sync
sees it, runs the playbook declared safe to repeat again once, and leaves the other Crashed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.settings import PREFECT_API_URL, temporary_settings
from sqlalchemy import Engine

from alertflow.up.prefect_server import LocalPrefectServer
from response.dispatcher import DispatcherConfig
from response.outbox_writer import ResponseHook
from response.playbook_runs import SAFE_TO_REPEAT_TAG
from response.zombie_runs import ensure_zombie_automation
from tests.alertfactory import import_profiles, make_alert, store_batch
from tests.integration.response.conftest import (
    REPO,
    flow_runs_of,
    own_prefect_server,
    playbook_runs,
    running_dispatcher,
    wait_for_deployment,
    wait_until,
)
from tests.integration.response.crash_playbooks import sleep_once

pytestmark = pytest.mark.integration

POOL = "crash-test-pool"
HEARTBEAT_S = 30  # Prefect's minimum


@pytest.fixture(scope="module")
def crash_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPrefectServer]:
    """A Prefect server of its own, services on (the triggers service marks zombies Crashed)."""
    with own_prefect_server(tmp_path_factory.mktemp("crash-prefect"), "the crash tests") as server:
        yield server


def start_worker(
    server: LocalPrefectServer, home: Path, record_dir: Path, log: Path
) -> subprocess.Popen[bytes]:
    """`prefect worker start --pool POOL --type process`, polling every second, heartbeats every 30 s."""
    env = {
        **os.environ,
        **server.client_env(),
        "PREFECT_HOME": str(home),
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_S),
        "PYTHONPATH": str(REPO),
        "RECORD_DIR": str(record_dir),
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL, "--type", "process"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def kill_tree(process: subprocess.Popen[bytes]) -> int:
    """SIGKILL the worker and every process under it (its flow runs sit in sessions of their own)."""
    tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    for p in tree:
        p.send_signal(signal.SIGKILL)
    process.wait(10)
    psutil.wait_procs(tree, timeout=10)
    return len(tree)


def state_of(server: LocalPrefectServer, flow_run_id: str) -> str:
    return str(httpx.get(f"{server.api_url}/flow_runs/{flow_run_id}", timeout=30).json()["state_type"])


async def test_a_killed_worker_crashes_its_runs_and_only_the_playbook_safe_to_repeat_runs_again(
    store: Engine, crash_server: LocalPrefectServer, tmp_path: Path
) -> None:
    record_dir = tmp_path / "records"
    record_dir.mkdir()
    with temporary_settings(updates={PREFECT_API_URL: crash_server.api_url}):
        async with get_client() as client:
            await client.create_work_pool(WorkPoolCreate(name=POOL, type="process"), overwrite=True)
            await ensure_zombie_automation(client, HEARTBEAT_S)
            await ensure_zombie_automation(client, HEARTBEAT_S)  # once, however often it is asked
            assert len(await client.read_automations()) == 1
        for name, tags in (("repeatable", [SAFE_TO_REPEAT_TAG]), ("once", [])):
            deployment = await sleep_once.ato_deployment(name=name, tags=tags, work_pool_name=POOL)
            deployment.entrypoint = "tests.integration.response.crash_playbooks.sleep_once"
            await deployment.aapply()
    ids = {n: wait_for_deployment(crash_server, f"sleep-once/{n}") for n in ("repeatable", "once")}
    import_profiles(
        store,
        {
            "response_profiles": [
                {
                    "name": name,
                    "match": {"source": "Suricata", "event": "2019284"},
                    "actions": [{"kind": "playbook", "deployment": f"sleep-once/{name}"}],
                }
                for name in ("repeatable", "once")
            ]
        },
    )
    alert = make_alert()
    store_batch(store, [alert], ResponseHook())
    uuid = alert["alert_uuid"]

    def rows() -> dict[str, object]:
        return {r.profile: r for r in playbook_runs(store)}

    config = DispatcherConfig(maintenance_interval_s=1)
    with temporary_settings(updates={PREFECT_API_URL: crash_server.api_url}):
        async with running_dispatcher(store, config):
            worker = start_worker(crash_server, tmp_path / "w1", record_dir, tmp_path / "worker1.log")
            try:
                await wait_until(
                    lambda: {r.state for r in rows().values()} == {"RUNNING"}, 120, "both runs Running", 0.5
                )
                await wait_until(
                    lambda: len(list(record_dir.glob("*.started"))) == 2, 60, "both flows sleeping", 0.5
                )
            finally:
                killed = kill_tree(worker)
            assert killed >= 3, "the worker had no flow-run processes to lose"
            first = {name: r.flow_run_id for name, r in rows().items()}  # type: ignore[attr-defined]

            await wait_until(
                lambda: all(state_of(crash_server, i) == "CRASHED" for i in first.values()),
                4 * HEARTBEAT_S,
                "Prefect to mark both runs Crashed",
                1,
            )
            await wait_until(lambda: rows()["once"].state == "CRASHED", 30, "the sync to see the crash", 0.5)
            await wait_until(lambda: rows()["repeatable"].rerun_of is not None, 30, "the repeat", 0.5)

            worker = start_worker(crash_server, tmp_path / "w2", record_dir, tmp_path / "worker2.log")
            try:
                await wait_until(
                    lambda: rows()["repeatable"].state == "COMPLETED", 120, "the repeat to complete", 0.5
                )
            finally:
                kill_tree(worker)

    repeatable, once = rows()["repeatable"], rows()["once"]
    assert repeatable.rerun_of == first["repeatable"] and repeatable.flow_run_id != first["repeatable"]
    assert (once.state, once.rerun_of, once.flow_run_id) == ("CRASHED", None, first["once"])
    assert (record_dir / f"{uuid}.repeatable.done").exists()
    assert not (record_dir / f"{uuid}.once.done").exists()
    repeat_runs = flow_runs_of(crash_server.api_url, ids["repeatable"])
    assert sorted(r["state_type"] for r in repeat_runs) == ["COMPLETED", "CRASHED"]  # one repeat, once
    assert [r["state_type"] for r in flow_runs_of(crash_server.api_url, ids["once"])] == ["CRASHED"]
