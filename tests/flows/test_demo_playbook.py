"""The demo playbook completes with nothing configured, and a run may name its alert by uuid only."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from alertflow.up.prefect_server import LocalPrefectServer
from alertmodel import migrate
from alertmodel.engine import make_engine
from flows.alert import PlaybookAlert
from flows.yaml_playbook import yaml_playbook
from tests.alertfactory import make_alert, store_batch

pytestmark = pytest.mark.integration


@pytest.fixture
def store(
    prefect_server: LocalPrefectServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    url = f"sqlite:///{tmp_path / 'alertflow.db'}"
    migrate.upgrade(url)
    monkeypatch.setenv("ALERTFLOW_DATABASE_URL", url)
    attacker = f"198.51.100.{uuid.uuid4().int % 200 + 1}"
    rows = [
        make_alert(
            source="Suricata",
            event="9000001",
            srcip=attacker,
            ref_id="tenant-a",
            description="<img src=x onerror=alert(1)> brute force",
        ),
        make_alert(source="Suricata", event="9000001", srcip=attacker, ref_id="tenant-a"),
        make_alert(source="Suricata", event="9000001", srcip=attacker, ref_id="tenant-b"),
    ]
    engine = make_engine(url)
    store_batch(engine, rows)
    engine.dispose()
    return {"rows": rows, "attacker": attacker}


async def test_the_demo_playbook_completes_without_a_host_and_counts_only_its_tenant(
    store: dict[str, Any],
) -> None:
    lead = store["rows"][0]
    result = await yaml_playbook(
        playbook="demo-contain",
        params={"host_block": f"absent-{uuid.uuid4().hex[:8]}"},
        alert_uuid=lead["alert_uuid"],
    )
    assert result.status == "completed"
    status = {job.name: job.status for job in result.jobs}
    assert status == {
        "seen-before": "completed",
        "report": "completed",
        "inspect": "skipped",
        "record-attacker": "skipped",
    }
    counts = {c["field"]: c["alerts"] for c in result.jobs[0].result["counts"]}
    assert counts["srcip"] == 2 and counts["event"] == 2  # tenant-b's alert is not counted
    async with get_client() as client:
        [artifact] = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["demo-contain-report"])),
            limit=1,
            sort="CREATED_DESC",
        )
    assert store["attacker"].replace(".", "\\.") in artifact.data
    assert "<img" not in artifact.data


async def test_the_demo_playbook_runs_its_host_jobs_where_the_host_is_configured(
    store: dict[str, Any], ssh_hosts: Any
) -> None:
    name = f"demo-host-{uuid.uuid4().hex[:8]}"
    await ssh_hosts.profile(0).save(name)
    result = await yaml_playbook(
        playbook="demo-contain",
        params={"host_block": name},
        alert=PlaybookAlert.model_validate(store["rows"][1]),
    )
    assert [job.status for job in result.jobs] == ["completed"] * 4


async def test_a_missing_block_still_fails_a_job_that_does_not_say_skip(store: dict[str, Any]) -> None:
    # skip_without_blocks is per job: the same playbook shape without it fails as before
    from flows.playbook_spec import load_bundled_playbook

    spec = load_bundled_playbook("demo-contain")
    spec.jobs[2].skip_without_blocks = False
    state = await yaml_playbook(
        playbook=spec,
        params={"host_block": f"absent-{uuid.uuid4().hex[:8]}"},
        alert_uuid=store["rows"][0]["alert_uuid"],
        return_state=True,
    )
    assert state.is_failed() and "absent-" in (state.message or "")


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"alert_uuid": "no-such-alert"}, "no stored alert has alert_uuid 'no-such-alert'"),
        ({}, "give the alert, or just its alert_uuid"),
    ],
)
async def test_an_alert_uuid_that_names_no_stored_alert_fails_the_run_saying_so(
    store: dict[str, Any], given: dict[str, Any], message: str
) -> None:
    from flows.block_attacker import block_attacker

    state = await block_attacker(sensors=["unused"], misp=None, block="always", return_state=True, **given)
    assert state.is_failed()
    assert message in (state.message or "")


async def test_an_alert_and_a_different_alert_uuid_are_refused(store: dict[str, Any]) -> None:
    alert = PlaybookAlert.model_validate(store["rows"][0])
    state = await yaml_playbook(
        playbook="demo-contain", alert=alert, alert_uuid=store["rows"][1]["alert_uuid"], return_state=True
    )
    assert state.is_failed() and "is not the uuid of the alert passed" in (state.message or "")
