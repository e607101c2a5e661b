"""`alertflow ingest` runs the response hook and the dispatcher: an alert in, its playbook run out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine

from alertflow.up.prefect_server import LocalPrefectServer
from tests.alertfactory import import_profiles
from tests.integration.response.conftest import (
    ServedPlaybook,
    flow_runs_of,
    outbox_states,
    playbook_runs,
    suricata_line,
    wait_until,
)


async def test_alertflow_ingest_starts_the_playbook_of_a_matching_alert(
    store: Engine, served_playbook: ServedPlaybook, prefect_server: LocalPrefectServer, tmp_path: Path
) -> None:
    import_profiles(
        store,
        {
            "response_profiles": [
                {
                    "name": "cli",
                    "match": {"source": "Suricata", "event": "2019284"},
                    "actions": [{"kind": "playbook", "deployment": served_playbook.deployment}],
                }
            ]
        },
    )
    events = tmp_path / "eve.json"
    events.write_bytes(suricata_line(3, tag="cli"))
    env = {
        **os.environ,
        **prefect_server.client_env(),
        "ALERTFLOW_DATABASE_URL": store.url.render_as_string(hide_password=False),
        "ALERTFLOW_NODE": "node1",
    }
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("alertflow")), "ingest", "--source", f"file:{events}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        await wait_until(lambda: outbox_states(store) == {"done": 1}, 120, "the playbook action done")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        output = process.communicate(timeout=60)[0].decode()
    assert process.returncode == 0, output
    [run] = playbook_runs(store)
    runs = flow_runs_of(prefect_server.api_url, served_playbook.deployment_id)
    assert [r["parameters"]["alert"]["alert_uuid"] for r in runs if r["id"] == run.flow_run_id] == [
        run.alert_uuid
    ]
