from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from prefect.client.orchestration import get_client
from sqlalchemy import Engine

from alertflow.up.prefect_server import LocalPrefectServer, free_port
from alertmodel import migrate
from alertmodel.engine import make_engine
from alertmodel.errors import IntegrationError, ServiceUnavailableError
from alertmodel.repository import load_alerts
from response.executors import MissingIntegration
from response.outbox_writer import ResponseHook
from response.payload import OutboxItem
from response.playbook_runs import PREFECT_RETRY_DELAYS_S, PlaybookExecutor, call_prefect
from tests.alertfactory import import_profiles, make_alert, store_batch
from tests.integration.response.conftest import flow_runs_of
from tests.integration.response.playbooks import record_alert


@pytest.fixture
def engine(sqlite_database: str) -> Iterator[Engine]:
    migrate.upgrade(sqlite_database)
    engine = make_engine(sqlite_database)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def unserved_deployment(prefect_server: LocalPrefectServer) -> str:
    """A deployment nobody runs: its runs stay Scheduled, which is all these tests look at."""
    import asyncio

    asyncio.run(record_alert.to_deployment(name="unit").aapply())
    return "record-alert/unit"


def item_for(alert_uuid: str, kind: str = "playbook", deployment: str = "record-alert/unit") -> OutboxItem:
    return OutboxItem(
        id=1,
        kind=kind,
        key=f"{alert_uuid}:p:0",
        payload={
            "profile": "p",
            "action_index": 0,
            "alert_uuid": alert_uuid,
            "action": {"kind": kind, "deployment": deployment},
        },
        attempts=1,
    )


@pytest.mark.parametrize(
    ("kind", "product"), [("slack", "Slack"), ("twilio", "Twilio"), ("thehive", "TheHive"), ("jira", "JIRA")]
)
async def test_unwired_integrations_raise_a_clear_error(kind: str, product: str) -> None:
    with pytest.raises(
        IntegrationError,
        match=f"^no {product} block configured: cannot perform the {kind} action of profile 'p'$",
    ):
        await MissingIntegration(product)(item_for("a", kind=kind))


async def test_playbook_run_is_created_once_per_alert_and_profile(
    engine: Engine, unserved_deployment: str
) -> None:
    import_profiles(
        engine,
        {
            "response_profiles": [
                {"name": "p", "actions": [{"kind": "playbook", "deployment": unserved_deployment}]}
            ]
        },
    )
    alert = make_alert(action="p")
    store_batch(engine, [alert], ResponseHook())
    async with get_client() as client:
        executor = PlaybookExecutor(engine, client)
        await executor(item_for(alert["alert_uuid"]))
        await executor(item_for(alert["alert_uuid"]))  # a redelivered row after a crash
        deployment = await client.read_deployment_by_name(unserved_deployment)
    [run] = playbook_runs_of(engine)
    assert run.flow_run_id is not None and run.state == "SCHEDULED"
    created = [
        r
        for r in flow_runs_of(prefect_api_url(), str(deployment.id))
        if r["parameters"]["alert"]["alert_uuid"] == alert["alert_uuid"]
    ]
    assert [r["id"] for r in created] == [run.flow_run_id]
    assert created[0]["idempotency_key"] == f"{alert['alert_uuid']}:p"
    assert created[0]["parameters"] == {
        "alert": load_alerts(engine, [alert["alert_uuid"]])[0].model_dump(mode="json")
    }


async def test_unknown_deployment_is_a_clear_error(
    engine: Engine, prefect_server: LocalPrefectServer
) -> None:
    alert = make_alert()
    store_batch(engine, [alert])
    async with get_client() as client:
        with pytest.raises(IntegrationError, match="Prefect has no deployment 'nope/none'"):
            await PlaybookExecutor(engine, client)(item_for(alert["alert_uuid"], deployment="nope/none"))


async def test_unreachable_prefect_is_reported_as_unavailable(engine: Engine) -> None:
    from prefect.client.orchestration import PrefectClient
    from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    alert = make_alert()
    store_batch(engine, [alert])
    with temporary_settings(updates={PREFECT_CLIENT_MAX_RETRIES: 0}):
        async with PrefectClient(f"http://127.0.0.1:{free_port()}/api") as client:
            with pytest.raises(
                ServiceUnavailableError, match="Prefect API unreachable while looking up deployment"
            ):
                await PlaybookExecutor(engine, client)(item_for(alert["alert_uuid"]))


async def test_runs_of_stored_alerts_skip_the_servers_schema_check_and_no_other_run_does(
    engine: Engine, prefect_server: LocalPrefectServer
) -> None:
    """A deployment whose enforced schema refuses every stored alert: Prefect refuses a run
    another caller asks for, the dispatcher's run is created, and the flow itself still
    refuses an alert its model does not accept."""
    from prefect.exceptions import ParameterTypeError

    import_profiles(
        engine,
        {
            "response_profiles": [
                {"name": "p", "actions": [{"kind": "playbook", "deployment": "record-alert/strict"}]}
            ]
        },
    )
    alert = make_alert(action="p")
    store_batch(engine, [alert], ResponseHook())
    parameters = {"alert": load_alerts(engine, [alert["alert_uuid"]])[0].model_dump(mode="json")}
    refuses_every_alert = {
        "type": "object",
        "properties": {"alert": {"type": "object", "required": ["never_stored"]}},
        "required": ["alert"],
    }
    async with get_client() as client:
        flow_id = await client.create_flow_from_name("record-alert")
        deployment_id = await client.create_deployment(
            flow_id, "strict", parameter_openapi_schema=refuses_every_alert, enforce_parameter_schema=True
        )
        with pytest.raises(httpx.HTTPStatusError) as refused:
            await client.create_flow_run_from_deployment(deployment_id, parameters=parameters)
        assert refused.value.response.status_code == 409
        assert "never_stored" in refused.value.response.text
        await PlaybookExecutor(engine, client)(
            item_for(alert["alert_uuid"], deployment="record-alert/strict")
        )
        [run] = playbook_runs_of(engine)
        assert run.flow_run_id is not None
        created = await client.read_flow_run(run.flow_run_id)
    assert created.deployment_id == deployment_id and created.parameters == parameters
    with pytest.raises(ParameterTypeError, match="srcport"):
        record_alert.validate_parameters({"alert": {**parameters["alert"], "srcport": "not a port"}})


def prefect_api_url() -> str:
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    assert url
    return url


def playbook_runs_of(engine: Engine) -> list:
    from sqlalchemy import select

    from alertmodel import PlaybookRun

    with engine.connect() as conn:
        return conn.execute(select(PlaybookRun.__table__)).all()


def status_error(status: int) -> httpx.HTTPStatusError:
    request = httpx.Request("POST", "http://127.0.0.1/api/deployments/x/create_flow_run")
    return httpx.HTTPStatusError(
        f"{status}", request=request, response=httpx.Response(status, request=request, text="busy")
    )


class Flaky:
    """A Prefect call that fails with `errors` in turn, then answers "run"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors, self.calls = list(errors), 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "run"


async def test_call_prefect_retries_a_lost_lock_race_within_milliseconds_not_seconds() -> None:
    call = Flaky(status_error(503), httpx.ReadError("reset"), status_error(503))
    started = time.monotonic()
    assert await call_prefect(call, "creating a run") == "run"
    assert call.calls == 4
    assert time.monotonic() - started < sum(PREFECT_RETRY_DELAYS_S[:3]) + 0.5


async def test_call_prefect_hands_a_server_that_stays_busy_to_the_dispatcher_pause() -> None:
    call = Flaky(*(status_error(503) for _ in range(len(PREFECT_RETRY_DELAYS_S) + 1)))
    with pytest.raises(ServiceUnavailableError, match="answered 503 while creating a run: busy"):
        await call_prefect(call, "creating a run")
    assert call.calls == len(PREFECT_RETRY_DELAYS_S) + 1


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (status_error(409), IntegrationError),  # a parameter the deployment refuses: retrying cannot help
        (httpx.ReadTimeout("slow"), ServiceUnavailableError),  # the call may still be running
    ],
)
async def test_call_prefect_does_not_retry_what_a_retry_cannot_fix(
    error: Exception, expected: type[Exception]
) -> None:
    call = Flaky(error)
    with pytest.raises(expected):
        await call_prefect(call, "creating a run")
    assert call.calls == 1
