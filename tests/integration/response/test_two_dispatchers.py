"""Two dispatcher processes on one MariaDB outbox and one Prefect server: every action once,
also when one of them is killed with SIGKILL while it has rows in flight."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings
from sqlalchemy import Engine, select

from alertflow.up.prefect_server import LocalPrefectServer
from alertmodel import Incident, migrate
from alertmodel.engine import make_engine
from response.outbox_writer import ResponseHook
from tests.alertfactory import import_profiles, make_alert, store_batch
from tests.integration.response.conftest import (
    REPO,
    alert_uuids_of,
    flow_runs_of,
    outbox_rows,
    outbox_states,
    playbook_runs,
    wait_for_deployment,
    wait_until,
)
from tests.integration.response.playbooks import record_alert

pytestmark = pytest.mark.integration

ALERTS = 100
LEASE_S = 3


@pytest.fixture
def mariadb_store(mariadb_database: str) -> Iterator[Engine]:
    migrate.upgrade(mariadb_database)
    engine = make_engine(mariadb_database)
    yield engine
    engine.dispose()


class DispatchProcess:
    """`alertflow dispatch` in its own process group, its output in a log file."""

    def __init__(self, url: str, server: LocalPrefectServer, log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "alertflow",
                    "dispatch",
                    "--lease",
                    str(LEASE_S),
                    "--concurrency",
                    "4",
                ],
                cwd=REPO,
                env={
                    **os.environ,
                    **server.client_env(),
                    "ALERTFLOW_DATABASE_URL": url,
                    "PYTHONPATH": str(REPO),
                },
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(10)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


async def test_two_dispatchers_one_killed_mid_batch_perform_every_action_once(
    mariadb_store: Engine, prefect_server: LocalPrefectServer, tmp_path: Path
) -> None:
    with temporary_settings(updates={PREFECT_API_URL: prefect_server.api_url}):
        await (await record_alert.ato_deployment(name="two-dispatchers")).aapply()
    deployment_id = wait_for_deployment(prefect_server, "record-alert/two-dispatchers")
    import_profiles(
        mariadb_store,
        {
            "response_profiles": [
                {
                    "name": "contain",
                    "match": {"source": "Suricata", "event": "2019284"},
                    "actions": [
                        {"kind": "playbook", "deployment": "record-alert/two-dispatchers"},
                        {"kind": "incident"},
                    ],
                }
            ]
        },
    )
    alerts = [make_alert(srcip=f"198.18.1.{i % 250 + 1}") for i in range(ALERTS)]
    store_batch(mariadb_store, alerts, ResponseHook())
    uuids = sorted(a["alert_uuid"] for a in alerts)
    assert outbox_states(mariadb_store) == {"pending": 2 * ALERTS}

    url = mariadb_store.url.render_as_string(hide_password=False)
    doomed = DispatchProcess(url, prefect_server, tmp_path / "doomed.log")
    survivor = DispatchProcess(url, prefect_server, tmp_path / "survivor.log")
    try:
        await wait_until(
            lambda: outbox_states(mariadb_store).get("done", 0) >= ALERTS // 2,
            180,
            "a quarter of the actions",
        )
        doomed.kill()
        left = outbox_states(mariadb_store).get("pending", 0)
        assert left > 0, "every action was done before the kill; the test proved nothing"
        await wait_until(
            lambda: outbox_states(mariadb_store) == {"done": 2 * ALERTS},
            240,
            "every action done by the survivor",
        )
    finally:
        doomed.stop()
        code = survivor.stop()
    assert code == 0, survivor.tail()

    rows = outbox_rows(mariadb_store)
    taken_over = [r for r in rows if r.attempts >= 2 and r.last_error is None]
    assert taken_over, "no row of the killed dispatcher was taken over after its lease ran out"
    runs = flow_runs_of(prefect_server.api_url, deployment_id)
    assert sorted(alert_uuids_of(runs)) == uuids  # one flow run per alert, none doubled
    assert sorted(r["idempotency_key"] for r in runs) == sorted(f"{u}:contain" for u in uuids)
    recorded = {r.alert_uuid: r.flow_run_id for r in playbook_runs(mariadb_store)}
    assert recorded == {alert_uuids_of([r])[0]: r["id"] for r in runs}
    with mariadb_store.connect() as conn:
        incidents = Counter(conn.execute(select(Incident.__table__.c.alert_uuid)).scalars())
    assert sorted(incidents) == uuids and set(incidents.values()) == {1}
