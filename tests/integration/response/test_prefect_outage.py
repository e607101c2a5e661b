"""The Prefect server goes away for 30 s while alerts arrive: playbook runs wait, then all start once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings
from sqlalchemy import Engine

from alertflow.up.prefect_server import LocalPrefectServer, free_port
from response.dispatcher import DispatcherConfig
from tests.alertfactory import import_profiles
from tests.integration.response.conftest import (
    alert_uuids_of,
    flow_runs_of,
    outbox_states,
    playbook_runs,
    running_dispatcher,
    running_worker,
    suricata_line,
    wait_for_deployment,
    wait_until,
)
from tests.integration.response.playbooks import record_alert


@pytest.mark.timeout(600)
async def test_outbox_rows_wait_while_prefect_is_down_and_are_delivered_once_it_is_back(
    store: Engine, tmp_path: Path
) -> None:
    server = LocalPrefectServer(home=tmp_path / "prefect", port=free_port())  # never the session server
    try:
        server.start()
    except (RuntimeError, TimeoutError) as exc:
        pytest.fail(f"the outage test's Prefect server did not start: {exc}")
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            await (await record_alert.ato_deployment(name="outage")).aapply()
            deployment_id = wait_for_deployment(server, "record-alert/outage")
            import_profiles(
                store,
                {
                    "response_profiles": [
                        {
                            "name": "outage",
                            "match": {"source": "Suricata", "event": "2019284"},
                            "actions": [{"kind": "playbook", "deployment": "record-alert/outage"}],
                        }
                    ]
                },
            )
            events = tmp_path / "eve.json"
            async with running_dispatcher(store, DispatcherConfig(max_attempts=3)):
                with running_worker(store, events) as worker:
                    with events.open("ab") as f:
                        f.writelines(suricata_line(i, tag="before") for i in range(2))
                    await wait_until(
                        lambda: outbox_states(store) == {"done": 2}, 120, "runs before the outage"
                    )
                    server.stop()
                    with events.open("ab") as f:
                        f.writelines(suricata_line(i, tag="during") for i in range(5))
                    await wait_until(lambda: worker.stats.stored == 7, 60, "alerts stored during the outage")
                    await asyncio.sleep(30)
                    # three attempts would long be spent if an outage counted: nothing failed, all wait
                    assert outbox_states(store) == {"done": 2, "pending": 5}
                    server.start()
                    await wait_until(
                        lambda: outbox_states(store) == {"done": 7}, 240, "runs after the outage"
                    )
        runs = flow_runs_of(server.api_url, deployment_id)
        stored = [r.alert_uuid for r in playbook_runs(store)]
        assert sorted(alert_uuids_of(runs)) == sorted(stored) and len(set(stored)) == 7
        assert {r.flow_run_id for r in playbook_runs(store)} == {r["id"] for r in runs}
    finally:
        server.stop()
