"""1,000 matching alerts at once: every alert stored and acted on, the Prefect server stays healthy.

These run against their own Prefect server so the burst's SQLite load cannot slow the rest
of the suite; the deployment is not served, so runs stay Scheduled and only creation is load.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL, temporary_settings
from sqlalchemy import Engine

from alertflow.up.prefect_server import HealthWatch, LocalPrefectServer
from response.playbook_runs import refresh_playbook_runs
from tests.alertfactory import import_profiles
from tests.integration.response.conftest import (
    alert_uuids_of,
    count_alerts,
    flow_runs_of,
    outbox_states,
    own_prefect_server,
    playbook_runs,
    running_dispatcher,
    running_worker,
    suricata_line,
    wait_for_deployment,
    wait_until,
)
from tests.integration.response.playbooks import record_alert

BURST = 1000


@pytest.fixture(scope="module")
def burst_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPrefectServer]:
    with own_prefect_server(tmp_path_factory.mktemp("burst-prefect"), "the burst tests") as server:
        yield server


def profile(deployment: str, **extra: object) -> dict[str, object]:
    return {
        "response_profiles": [
            {
                "name": "burst",
                "match": {"source": "Suricata", "event": "2019284"},
                "actions": [{"kind": "playbook", "deployment": deployment}],
                **extra,
            }
        ]
    }


async def burst(store: Engine, events: Path, srcips: int, tag: str) -> None:
    """Write BURST alert lines at once and wait until the worker stored them all."""
    with running_worker(store, events) as worker:
        with events.open("ab") as f:
            f.writelines(suricata_line(i, srcip=f"198.18.0.{i % srcips + 1}", tag=tag) for i in range(BURST))
        await wait_until(lambda: worker.stats.stored == BURST, 120, f"{BURST} alerts stored")


async def test_grouped_burst_creates_at_most_one_run_per_srcip(
    store: Engine, burst_server: LocalPrefectServer, tmp_path: Path
) -> None:
    with temporary_settings(updates={PREFECT_API_URL: burst_server.api_url}):
        await (await record_alert.ato_deployment(name="burst-grouped")).aapply()
        deployment_id = wait_for_deployment(burst_server, "record-alert/burst-grouped")
        import_profiles(
            store, profile("record-alert/burst-grouped", group={"key": "srcip", "window_seconds": 3600})
        )
        with HealthWatch(burst_server.api_url, timeout_s=10) as health:
            async with running_dispatcher(store):
                await burst(store, tmp_path / "eve.json", srcips=25, tag="grouped")
                await wait_until(lambda: outbox_states(store) == {"done": 25}, 240, "one run per srcip")
            async with get_client() as client:
                await refresh_playbook_runs(store, client)
    assert count_alerts(store) == BURST
    rows = playbook_runs(store)
    assert len(rows) == BURST and all(r.flow_run_id is not None for r in rows)
    runs = flow_runs_of(burst_server.api_url, deployment_id)
    assert len(runs) == 25
    assert {r.flow_run_id for r in rows} == {r["id"] for r in runs}
    assert sorted(alert_uuids_of(runs)) == sorted(r.alert_uuid for r in rows if r.group_lead == r.alert_uuid)
    assert health.checks > 0 and health.unanswered == 0


@pytest.mark.timeout(1500)
async def test_ungrouped_burst_creates_every_run_once_and_the_server_stays_healthy(
    store: Engine, burst_server: LocalPrefectServer, tmp_path: Path
) -> None:
    with temporary_settings(updates={PREFECT_API_URL: burst_server.api_url}):
        await (await record_alert.ato_deployment(name="burst-all")).aapply()
        deployment_id = wait_for_deployment(burst_server, "record-alert/burst-all")
        import_profiles(store, profile("record-alert/burst-all"))
        with HealthWatch(burst_server.api_url, timeout_s=10) as health:
            async with running_dispatcher(store):
                await burst(store, tmp_path / "eve.json", srcips=200, tag="ungrouped")
                await wait_until(
                    lambda: outbox_states(store) == {"done": BURST}, 1300, "every run created", poll_s=2
                )
    runs = flow_runs_of(burst_server.api_url, deployment_id)
    created = alert_uuids_of(runs)
    assert len(created) == len(set(created)) == BURST
    assert set(created) == {r.alert_uuid for r in playbook_runs(store)}
    assert health.checks > 0 and health.unanswered == 0
