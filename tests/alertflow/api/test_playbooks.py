"""`/playbooks` and `POST /alerts/{alert_uuid}/playbook-runs` against the live API and the real Prefect
server: the deployments with their parameter schemas, and a manual run created once per alert,
deployment and user, recorded on the alert with its Prefect UI link."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select

from alertflow.up.prefect_server import LocalPrefectServer
from alertmodel import AuditEntry
from flows.alert_digest import alert_digest
from tests.alertfactory import make_alert, store_batch
from tests.integration.response.conftest import flow_runs_of
from tests.integration.response.playbooks import record_alert

from .conftest import TENANT_A, TENANT_B, LiveApi


@pytest.fixture(scope="module")
def deployments(prefect_server: LocalPrefectServer) -> dict[str, str]:
    """A deployment of a flow that takes `alert` (nobody serves it: its runs stay Scheduled), and one that does not."""

    async def apply() -> dict[str, str]:
        suffix = uuid.uuid4().hex[:6]
        takes = await record_alert.ato_deployment(
            name=f"manual-{suffix}", description="Writes the alert down."
        )
        other = await alert_digest.ato_deployment(name=f"digest-{suffix}")
        return {
            f"record-alert/manual-{suffix}": str(await takes.aapply()),
            f"alert-digest/digest-{suffix}": str(await other.aapply()),
        }

    return asyncio.run(apply())


def _alert(live_api: LiveApi, tenant: str) -> str:
    row = make_alert(ref_id=tenant)
    store_batch(live_api.engine, [row])
    return str(row["alert_uuid"])


def test_the_deployments_are_listed_with_their_parameter_schemas(
    live_api: LiveApi, deployments: dict[str, str]
) -> None:
    listed = {p["name"]: p for p in live_api.client("viewer").get("/api/v1/playbooks").json()}

    manual, digest = list(deployments)
    assert listed[manual]["id"] == deployments[manual]
    assert listed[manual]["description"] == "Writes the alert down."
    assert "alert" in listed[manual]["parameter_schema"]["properties"]
    assert (listed[manual]["takes_alert"], listed[digest]["takes_alert"]) == (True, False)
    assert "hours" in listed[digest]["parameter_schema"]["properties"]


def test_a_manual_run_is_created_once_per_alert_deployment_and_user(
    live_api: LiveApi, deployments: dict[str, str], prefect_server: LocalPrefectServer
) -> None:
    deployment = next(iter(deployments))
    alert_uuid = _alert(live_api, TENANT_A)
    path = f"/api/v1/alerts/{alert_uuid}/playbook-runs"

    first = live_api.client("analyst").post(path, json={"deployment": deployment})
    again = live_api.client("analyst").post(path, json={"deployment": deployment})
    by_other = live_api.client("analyst-a").post(path, json={"deployment": deployment})

    assert first.status_code == again.status_code == by_other.status_code == 200, first.text
    run = first.json()
    assert again.json()["flow_run_id"] == run["flow_run_id"]
    assert by_other.json()["flow_run_id"] != run["flow_run_id"]
    assert (run["deployment"], run["profile"], run["state"]) == (
        deployment,
        f"manual:analyst:{deployment}",
        "SCHEDULED",
    )
    assert run["ui_url"] == f"http://127.0.0.1:4200/runs/flow-run/{run['flow_run_id']}"
    runs = {
        r["id"]: r
        for r in flow_runs_of(prefect_server.api_url, deployments[deployment])
        if r["parameters"]["alert"]["alert_uuid"] == alert_uuid
    }
    assert set(runs) == {run["flow_run_id"], by_other.json()["flow_run_id"]}
    assert runs[run["flow_run_id"]]["idempotency_key"] == f"{alert_uuid}:manual:analyst:{deployment}"
    response = live_api.client("viewer").get(f"/api/v1/alerts/{alert_uuid}/response").json()
    shown = {r["flow_run_id"]: r for r in response["playbook_runs"]}
    assert shown[run["flow_run_id"]]["ui_url"] == run["ui_url"]
    assert len(shown) == 2
    audit = AuditEntry.__table__
    with live_api.engine.connect() as conn:
        entries = conn.execute(select(audit).where(audit.c.target == f"alert/{alert_uuid}")).all()
    assert {(e.actor, e.action, e.after["flow_run_id"]) for e in entries} == {
        ("analyst", "playbook.run", run["flow_run_id"]),
        ("analyst-a", "playbook.run", by_other.json()["flow_run_id"]),
    }


def test_an_unknown_deployment_or_one_without_an_alert_parameter_is_a_422_naming_it(
    live_api: LiveApi, deployments: dict[str, str]
) -> None:
    path = f"/api/v1/alerts/{_alert(live_api, TENANT_A)}/playbook-runs"
    analyst = live_api.client("analyst")

    unknown = analyst.post(path, json={"deployment": "record-alert/no-such-deployment"})
    no_alert = analyst.post(path, json={"deployment": list(deployments)[1]})
    no_slash = analyst.post(path, json={"deployment": "nameless"})

    for answer in (unknown, no_alert, no_slash):
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"][0]["loc"] == ["body", "deployment"]
    assert "takes no `alert` parameter" in no_alert.json()["detail"][0]["msg"]
    assert "no deployment" in unknown.json()["detail"][0]["msg"]


def test_parameters_the_deployment_does_not_take_or_that_come_from_the_alert_are_a_422_naming_each(
    live_api: LiveApi, deployments: dict[str, str], prefect_server: LocalPrefectServer
) -> None:
    deployment = next(iter(deployments))
    alert_uuid = _alert(live_api, TENANT_A)

    answer = live_api.client("analyst").post(
        f"/api/v1/alerts/{alert_uuid}/playbook-runs",
        json={"deployment": deployment, "parameters": {"alert_uuid": alert_uuid, "hours": 3}},
    )

    assert answer.status_code == 422, answer.text
    assert {tuple(e["loc"]): e["msg"] for e in answer.json()["detail"]} == {
        ("body", "parameters", "alert_uuid"): "filled from the alert; not given by hand",
        ("body", "parameters", "hours"): "the deployment takes no such parameter",
    }
    runs = flow_runs_of(prefect_server.api_url, deployments[deployment])
    assert all(r["parameters"]["alert"]["alert_uuid"] != alert_uuid for r in runs)


def test_another_tenants_alert_is_a_404_and_starts_nothing(
    live_api: LiveApi, deployments: dict[str, str], prefect_server: LocalPrefectServer
) -> None:
    deployment = next(iter(deployments))
    alert_uuid = _alert(live_api, TENANT_B)

    answer = live_api.client("analyst-a").post(
        f"/api/v1/alerts/{alert_uuid}/playbook-runs", json={"deployment": deployment}
    )

    assert answer.status_code == 404
    runs = flow_runs_of(prefect_server.api_url, deployments[deployment])
    assert all(r["parameters"]["alert"]["alert_uuid"] != alert_uuid for r in runs)


def test_an_api_without_a_prefect_server_answers_503_saying_how_to_give_it_one(live_api: LiveApi) -> None:
    import httpx

    from alertflow.api.app import create_app

    from .conftest import PASSWORD
    from .live import serve

    with serve(create_app(live_api.engine)) as base_url:
        answer = httpx.get(f"{base_url}/api/v1/playbooks", auth=("viewer", PASSWORD))

    assert answer.status_code == 503
    assert "PREFECT_API_URL" in answer.json()["detail"]
