"""Alerts through the ingest worker start playbooks on a real Prefect server, exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine

from alertflow.up.prefect_server import LocalPrefectServer
from alertmodel import AlertRead
from response.dispatcher import DispatcherConfig
from response.playbook_runs import FINAL_STATES
from tests.alertfactory import import_profiles
from tests.integration.response.conftest import (
    REPO,
    ServedPlaybook,
    alert_uuids_of,
    flow_runs_of,
    outbox_rows,
    outbox_states,
    playbook_runs,
    running_dispatcher,
    running_worker,
    suricata_line,
    wait_until,
)


def playbook_profile(deployment: str, **extra: object) -> dict[str, object]:
    return {
        "response_profiles": [
            {
                "name": "run-record",
                "match": {"source": "Suricata", "event": "2019284"},
                "actions": [{"kind": "playbook", "deployment": deployment}],
                **extra,
            }
        ]
    }


def stored_alert(engine: Engine, alert_uuid: str) -> AlertRead:
    from alertmodel.repository import load_alerts

    [alert] = load_alerts(engine, [alert_uuid])
    return alert


async def test_matching_alert_through_the_worker_creates_one_flow_run_that_completes(
    store: Engine, served_playbook: ServedPlaybook, prefect_server: LocalPrefectServer, tmp_path: Path
) -> None:
    import_profiles(store, playbook_profile(served_playbook.deployment))
    events = tmp_path / "eve.json"
    async with running_dispatcher(store):
        with running_worker(store, events):
            with events.open("ab") as f:
                f.write(suricata_line(1, tag="one-run"))
            await wait_until(
                lambda: outbox_states(store) == {"done": 1}, 120, "the playbook action to be done"
            )
        [run] = playbook_runs(store)
        assert run.flow_run_id is not None
        # the dispatcher copies the run's later states from Prefect onto the alert's playbook_run
        await wait_until(
            lambda: playbook_runs(store)[0].state in FINAL_STATES, 180, "the flow run to finish", poll_s=1
        )
        assert playbook_runs(store)[0].state == "COMPLETED"
    alert = stored_alert(store, run.alert_uuid)
    runs = [
        r
        for r in flow_runs_of(prefect_server.api_url, served_playbook.deployment_id)
        if r["parameters"]["alert"]["alert_uuid"] == alert.alert_uuid
    ]
    assert [r["id"] for r in runs] == [run.flow_run_id]
    assert runs[0]["parameters"]["alert"] == alert.model_dump(mode="json")
    assert runs[0]["state"]["type"] == "COMPLETED"
    assert served_playbook.recorded(alert.alert_uuid) == {
        "alert_uuid": alert.alert_uuid,
        "srcip": "192.0.2.10",
        "alerts": [],
    }


async def test_grouped_alerts_start_one_run_that_gets_the_alerts_so_far(
    store: Engine, served_playbook: ServedPlaybook, prefect_server: LocalPrefectServer, tmp_path: Path
) -> None:
    import_profiles(
        store, playbook_profile(served_playbook.deployment, group={"key": "srcip", "window_seconds": 600})
    )
    events = tmp_path / "eve.json"
    with running_worker(store, events):
        with events.open("ab") as f:
            f.writelines(suricata_line(i, srcip="198.51.100.7", tag="group") for i in range(5))
        await wait_until(lambda: len(playbook_runs(store)) == 5, 60, "five alerts recorded")
    async with running_dispatcher(store):
        await wait_until(lambda: outbox_states(store) == {"done": 1}, 120, "the group's run to be created")
        with running_worker(store, events):  # a later alert of the open group joins the same run
            with events.open("ab") as f:
                f.write(suricata_line(99, srcip="198.51.100.7", tag="group"))
            await wait_until(lambda: len(playbook_runs(store)) == 6, 60, "the late alert recorded")
    rows = playbook_runs(store)
    lead = rows[0].alert_uuid
    assert {r.flow_run_id for r in rows} == {rows[0].flow_run_id} != {None}
    assert {r.group_lead for r in rows} == {lead}
    runs = [
        r
        for r in flow_runs_of(prefect_server.api_url, served_playbook.deployment_id)
        if r["id"] == rows[0].flow_run_id
    ]
    assert alert_uuids_of(runs) == [lead]
    assert [a["alert_uuid"] for a in runs[0]["parameters"]["alerts"]] == [r.alert_uuid for r in rows[:5]]


async def test_rate_limited_profile_fires_exactly_n_times_for_a_burst(
    store: Engine, served_playbook: ServedPlaybook, prefect_server: LocalPrefectServer, tmp_path: Path
) -> None:
    import_profiles(
        store,
        playbook_profile(
            served_playbook.deployment, rate_limit={"max": 3, "per_seconds": 600, "key": "srcip"}
        ),
    )
    events = tmp_path / "eve.json"
    async with running_dispatcher(store):
        with running_worker(store, events) as worker:
            with events.open("ab") as f:
                f.writelines(suricata_line(i, srcip="203.0.113.9", tag="rate") for i in range(40))
            await wait_until(lambda: worker.stats.stored == 40, 60, "40 alerts stored")
        await wait_until(lambda: outbox_states(store) == {"done": 3}, 120, "three playbook actions done")
    fired = [r.alert_uuid for r in playbook_runs(store)]
    assert len(fired) == 3
    runs = flow_runs_of(prefect_server.api_url, served_playbook.deployment_id)
    assert sorted(u for u in alert_uuids_of(runs) if u in set(fired)) == sorted(fired)
    assert len([r for r in runs if r["parameters"]["alert"]["srcip"] == "203.0.113.9"]) == 3


async def test_dispatcher_killed_after_creating_the_run_creates_no_second_run_when_restarted(
    store: Engine, served_playbook: ServedPlaybook, prefect_server: LocalPrefectServer, tmp_path: Path
) -> None:
    import_profiles(store, playbook_profile(served_playbook.deployment))
    events = tmp_path / "eve.json"
    with running_worker(store, events):
        with events.open("ab") as f:
            f.write(suricata_line(7, tag="kill"))
        await wait_until(lambda: len(outbox_rows(store)) == 1, 60, "the outbox row")
    marker = tmp_path / "created"
    url = str(store.url.render_as_string(hide_password=False))
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.response.crashing_dispatch", url, str(marker)],
        cwd=REPO,
        env={**os.environ, **prefect_server.client_env()},
        start_new_session=True,
    )
    try:
        await wait_until(marker.exists, 120, "the crashing dispatcher to create the run")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    [row] = outbox_rows(store)
    assert (row.state, row.attempts) == ("pending", 1)  # claimed, run created, never marked done
    [run] = playbook_runs(store)
    first_id = run.flow_run_id
    assert first_id is not None

    async with running_dispatcher(store, DispatcherConfig(lease_s=60)):
        await wait_until(lambda: outbox_states(store) == {"done": 1}, 120, "the restarted dispatcher")
    [row] = outbox_rows(store)
    assert row.attempts == 2  # the restarted dispatcher really created the run again, with the same key
    runs = [
        r
        for r in flow_runs_of(prefect_server.api_url, served_playbook.deployment_id)
        if r["parameters"]["alert"]["alert_uuid"] == run.alert_uuid
    ]
    assert [r["id"] for r in runs] == [first_id]
    assert playbook_runs(store)[0].flow_run_id == first_id
