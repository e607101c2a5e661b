"""Playbook runs: a profile's `playbook` action becomes a Prefect flow run, created once.

The run is created with the idempotency key `alert_uuid:profile`, so a dispatcher that dies
between creating it and marking its outbox row done creates nothing new when the row is
taken again. Its state is copied back from Prefect into `playbook_run`.

A run whose worker died is Crashed (Prefect marks it: the worker's own report, or, when the
whole worker is gone, the automation of `response.zombie_runs` that notices its missing
heartbeats). `CrashedRuns` runs a Crashed playbook again only when its deployment carries the
tag `SAFE_TO_REPEAT_TAG` (deployments/catalog.py declares which: their steps are idempotent),
once: the new run's idempotency key is the crashed run's id, so two dispatchers create one,
and the row then points at it with `rerun_of` set. A row left Crashed (a playbook not declared
safe to repeat, or a repeat that crashed again) needs a human.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

import httpx
from sqlalchemy import Engine, or_, select

from alertmodel import PlaybookRun
from alertmodel.errors import ConfigurationError, IntegrationError, ServiceUnavailableError
from alertmodel.repository import insert_ignoring_duplicates, load_alerts
from alertmodel.types import utcnow
from response.payload import OutboxItem

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.objects import FlowRun

RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}
T = TypeVar("T")
_RUNS = PlaybookRun.__table__


def group_members(engine: Engine, lead: str, profile: str) -> tuple[list[str], bool]:
    """The alert uuids recorded for a playbook run of `lead` (itself first), and whether it is a group."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(_RUNS.c.alert_uuid, _RUNS.c.group_lead)
            .where(_RUNS.c.profile == profile, or_(_RUNS.c.alert_uuid == lead, _RUNS.c.group_lead == lead))
            .order_by(_RUNS.c.id)
        ).all()
    grouped = any(r.group_lead is not None for r in rows)
    members = [lead] + [r.alert_uuid for r in rows if r.alert_uuid != lead]
    return members, grouped


def playbook_parameters(engine: Engine, lead: str, profile: str) -> dict[str, Any]:
    """The flow run's parameters: `alert`, plus `alerts` (the group so far) for a grouped profile."""
    members, grouped = group_members(engine, lead, profile)
    alerts = load_alerts(engine, members)
    parameters: dict[str, Any] = {"alert": alerts[0].model_dump(mode="json")}
    if grouped:
        parameters["alerts"] = [a.model_dump(mode="json") for a in alerts]
    return parameters


def flow_run_idempotency_key(alert_uuid: str, profile: str) -> str:
    """The key that makes creating a profile's flow run for an alert happen once."""
    return f"{alert_uuid}:{profile}"


async def create_run_of_stored_alerts(
    client: PrefectClient, deployment_id: UUID, parameters: dict[str, Any], idempotency_key: str
) -> FlowRun:
    """Create a flow run whose parameters are stored alerts, without the server's schema check.

    Prefect's check first validates the deployment's JSON schema itself against the JSON Schema
    meta-schema, on every call: 27 ms of the server's CPU for the YAML playbook's schema, about
    a third of what creating the run costs it. These parameters are `PlaybookAlert` dumps of
    rows the store already checked, and the flow validates them again with pydantic before any
    task runs, so only these runs skip it (`enforce_parameter_schema` of one run, part of
    Prefect's API). Runs started with parameters of a person's own keep the server's check.
    """
    from prefect.client.schemas.actions import DeploymentFlowRunCreate
    from prefect.client.schemas.objects import FlowRun
    from prefect.states import Scheduled, to_state_create

    body = DeploymentFlowRunCreate(
        parameters=parameters,
        state=to_state_create(Scheduled()),
        idempotency_key=idempotency_key,
        enforce_parameter_schema=False,
    )
    response = await client.request(
        "POST",
        "/deployments/{id}/create_flow_run",
        path_params={"id": deployment_id},
        json=body.model_dump(mode="json", exclude_unset=True),
    )
    return FlowRun.model_validate(response.json())


class PlaybookExecutor:
    """Create a flow run of the profile's deployment with the alert as parameter `alert`.

    A grouped profile's run also gets `alerts`: every alert of the group recorded so far.
    """

    def __init__(self, engine: Engine, client: PrefectClient) -> None:
        self._engine = engine
        self._client = client
        self._deployment_ids: dict[str, UUID] = {}

    async def __call__(self, item: OutboxItem) -> None:
        request = item.request
        assert request.action.kind == "playbook"
        lead, profile, deployment = request.alert_uuid, request.profile, request.action.deployment
        parameters = await asyncio.to_thread(playbook_parameters, self._engine, lead, profile)
        deployment_id = await self._deployment_id(deployment)
        key = flow_run_idempotency_key(lead, profile)
        try:  # the idempotency key makes every retry of this call safe
            flow_run = await call_prefect(
                lambda: create_run_of_stored_alerts(self._client, deployment_id, parameters, key),
                f"creating a run of {deployment}",
            )
        except IntegrationError as exc:
            if isinstance(exc.__cause__, httpx.HTTPStatusError) and exc.__cause__.response.status_code == 404:
                self._deployment_ids.pop(deployment, None)
            raise
        state = flow_run.state.type.value if flow_run.state is not None else "SCHEDULED"
        await asyncio.to_thread(record_flow_run, self._engine, lead, profile, str(flow_run.id), state)

    async def _deployment_id(self, name: str) -> UUID:
        cached = self._deployment_ids.get(name)
        if cached is not None:
            return cached
        from prefect.exceptions import ObjectNotFound

        try:
            deployment = await call_prefect(
                lambda: self._client.read_deployment_by_name(name), f"looking up deployment {name}"
            )
        except ObjectNotFound as exc:
            raise IntegrationError(
                f"Prefect has no deployment {name!r} (expected flow-name/deployment-name)"
            ) from exc
        self._deployment_ids[name] = deployment.id
        return deployment.id


# An SQLite-backed Prefect server answers 503 when a request loses a race for the write lock;
# the same request a moment later usually succeeds. The Prefect client's own backoff waits
# 2**n s (2 s for the first retry), which made one lost race the p99 of alert -> flow run, so
# the dispatcher's client does not retry and these short delays do instead; a server that is
# still busy after them is handed to the dispatcher's pause.
PREFECT_RETRY_DELAYS_S = (0.02, 0.05, 0.1, 0.2, 0.4, 0.8)
_RETRYABLE_TRANSPORT = (httpx.ConnectError, httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)


async def call_prefect(call: Callable[[], Awaitable[T]], doing: str) -> T:
    """Await `call()`, retrying busy answers and dropped connections after short delays.

    Raises ServiceUnavailableError when the server stays busy or unreachable, IntegrationError
    for any other HTTP error; a read timeout is not retried (the call may still be running).
    """
    for delay in (*PREFECT_RETRY_DELAYS_S, None):
        try:
            return await call()
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code not in RETRYABLE_STATUS or delay is None:
                raise _prefect_error(exc, doing) from exc
        except _RETRYABLE_TRANSPORT as exc:
            if delay is None:
                raise _prefect_error(exc, doing) from exc
        except httpx.TransportError as exc:
            raise _prefect_error(exc, doing) from exc
        await asyncio.sleep(delay)
    raise AssertionError("unreachable")


def _prefect_error(exc: httpx.HTTPError, doing: str) -> IntegrationError:
    if isinstance(exc, httpx.TransportError):
        return ServiceUnavailableError(f"Prefect API unreachable while {doing}: {type(exc).__name__}: {exc}")
    assert isinstance(exc, httpx.HTTPStatusError)
    status = exc.response.status_code
    detail = exc.response.text[:300]
    if status in RETRYABLE_STATUS:
        return ServiceUnavailableError(f"Prefect API answered {status} while {doing}: {detail}")
    return IntegrationError(f"Prefect API answered {status} while {doing}: {detail}")


def record_flow_run(engine: Engine, lead: str, profile: str, flow_run_id: str, state: str) -> None:
    """Point the lead's playbook_run row, and every alert grouped under it, at the flow run."""
    with engine.begin() as conn:
        conn.execute(
            _RUNS.update()
            .where(_RUNS.c.profile == profile, or_(_RUNS.c.alert_uuid == lead, _RUNS.c.group_lead == lead))
            .values(flow_run_id=flow_run_id, state=state, updated_at=utcnow())
        )


FINAL_STATES = ("COMPLETED", "FAILED", "CANCELLED", "CRASHED")


async def refresh_playbook_runs(
    engine: Engine, client: PrefectClient, *, alert_uuid: str | None = None
) -> int:
    """Copy the current state of unfinished playbook runs from Prefect; how many rows changed.

    Alerts grouped under a run whose flow run id was recorded after they joined get it here.
    """
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    def pending() -> list[tuple[str, str]]:
        with engine.begin() as conn:
            # MariaDB cannot UPDATE a table from a subquery on itself, hence two steps.
            orphans = conn.execute(
                select(_RUNS.c.group_lead, _RUNS.c.profile)
                .where(_RUNS.c.flow_run_id.is_(None), _RUNS.c.group_lead.is_not(None))
                .distinct()
            ).all()
            for lead, profile in orphans:
                flow_run_id = conn.execute(
                    select(_RUNS.c.flow_run_id).where(_RUNS.c.alert_uuid == lead, _RUNS.c.profile == profile)
                ).scalar()
                if flow_run_id is not None:
                    conn.execute(
                        _RUNS.update()
                        .where(
                            _RUNS.c.group_lead == lead,
                            _RUNS.c.profile == profile,
                            _RUNS.c.flow_run_id.is_(None),
                        )
                        .values(flow_run_id=flow_run_id, updated_at=utcnow())
                    )
            query = select(_RUNS.c.flow_run_id, _RUNS.c.state).where(
                _RUNS.c.flow_run_id.is_not(None), _RUNS.c.state.not_in(FINAL_STATES)
            )
            if alert_uuid is not None:
                query = query.where(_RUNS.c.alert_uuid == alert_uuid)
            return [(r.flow_run_id, r.state) for r in conn.execute(query.limit(500))]

    rows = await asyncio.to_thread(pending)
    if not rows:
        return 0
    ids = sorted({UUID(flow_run_id) for flow_run_id, _ in rows})
    flow_runs = await call_prefect(
        lambda: client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids))),
        "reading playbook run states",
    )
    known = dict(rows)
    changes = {
        str(run.id): run.state.type.value
        for run in flow_runs
        if run.state is not None and known.get(str(run.id)) != run.state.type.value
    }

    def store() -> None:
        with engine.begin() as conn:
            for flow_run_id, state in changes.items():
                conn.execute(
                    _RUNS.update()
                    .where(_RUNS.c.flow_run_id == flow_run_id)
                    .values(state=state, updated_at=utcnow())
                )

    if changes:
        await asyncio.to_thread(store)
    return len(changes)


SAFE_TO_REPEAT_TAG = "alertflow:safe-to-repeat"
"""A deployment with this tag may be run again after it crashed: each of its steps is idempotent."""


def rerun_idempotency_key(crashed_flow_run_id: str) -> str:
    """The key that makes repeating a crashed flow run happen once, whoever asks."""
    return f"rerun-of:{crashed_flow_run_id}"


class CrashedRuns:
    """Run Crashed playbook runs of deployments declared safe to repeat again, once each."""

    def __init__(self, engine: Engine, client: PrefectClient) -> None:
        self._engine = engine
        self._client = client
        self._safe: dict[str, bool] = {}

    async def rerun(self) -> list[tuple[str, str]]:
        """(crashed flow run id, its repeat's id) for each run repeated now."""

        def crashed() -> list[tuple[str, str]]:
            with self._engine.connect() as conn:
                rows = conn.execute(
                    select(_RUNS.c.flow_run_id, _RUNS.c.deployment)
                    .where(
                        _RUNS.c.state == "CRASHED",
                        _RUNS.c.rerun_of.is_(None),
                        _RUNS.c.flow_run_id.is_not(None),
                    )
                    .distinct()
                    .limit(100)
                ).all()
            return [(r.flow_run_id, r.deployment) for r in rows]

        repeated = []
        for flow_run_id, deployment in await asyncio.to_thread(crashed):
            if await self._safe_to_repeat(deployment):
                repeated.append((flow_run_id, await self._repeat(flow_run_id)))
        return repeated

    async def _safe_to_repeat(self, name: str) -> bool:
        safe = self._safe.get(name)
        if safe is None:
            try:
                deployment = await read_deployment(self._client, name)
            except UnknownDeployment:
                return False  # not cached: a deployment registered later may be safe
            safe = self._safe[name] = SAFE_TO_REPEAT_TAG in (deployment.tags or [])
        return safe

    async def _repeat(self, crashed_id: str) -> str:
        crashed = await call_prefect(
            lambda: self._client.read_flow_run(UUID(crashed_id)), f"reading crashed flow run {crashed_id}"
        )
        assert crashed.deployment_id is not None
        flow_run = await call_prefect(
            lambda: self._client.create_flow_run_from_deployment(
                crashed.deployment_id,
                parameters=crashed.parameters,
                idempotency_key=rerun_idempotency_key(crashed_id),
                tags=[*crashed.tags, f"alertflow:rerun-of:{crashed_id}"],
            ),
            f"repeating crashed flow run {crashed_id}",
        )
        state = flow_run.state.type.value if flow_run.state is not None else "SCHEDULED"

        def point_at_repeat() -> None:
            with self._engine.begin() as conn:
                conn.execute(
                    _RUNS.update()
                    .where(
                        _RUNS.c.flow_run_id == crashed_id,
                        _RUNS.c.state == "CRASHED",
                        _RUNS.c.rerun_of.is_(None),
                    )
                    .values(
                        flow_run_id=str(flow_run.id), rerun_of=crashed_id, state=state, updated_at=utcnow()
                    )
                )

        await asyncio.to_thread(point_at_repeat)
        return str(flow_run.id)


class UnknownDeployment(IntegrationError):
    """Prefect has no deployment of that name."""


def manual_profile(deployment: str, user: str) -> str:
    """The `profile` of a playbook run a user started by hand: one per alert, deployment and user."""
    return f"manual:{user}:{deployment}"[:255]


async def read_deployment(client: PrefectClient, name: str) -> Any:
    """The deployment `flow-name/deployment-name`; UnknownDeployment when Prefect has none."""
    from prefect.exceptions import ObjectNotFound

    if name.count("/") != 1 or not all(name.split("/")):
        raise UnknownDeployment(f"{name!r} is not a deployment name (expected flow-name/deployment-name)")
    try:
        return await call_prefect(
            lambda: client.read_deployment_by_name(name), f"looking up deployment {name}"
        )
    except (ObjectNotFound, httpx.InvalidURL) as exc:  # a name no URL can hold names no deployment
        raise UnknownDeployment(f"Prefect has no deployment {name!r}") from exc


class RefusedParameters(ConfigurationError):
    """Parameters given for a manual run that its deployment does not take, or that do not fit their schema."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {why}" for name, why in problems.items()))
        self.problems = problems


ALERT_PARAMETERS = ("alert", "alerts", "alert_uuid")
"""Parameters a manual run fills from the stored alert itself; never given by hand."""


def check_parameters(schema: dict[str, Any], parameters: dict[str, Any]) -> None:
    """Refuse (RefusedParameters, by parameter name) what the deployment's parameter schema does not accept."""
    from prefect.utilities.schema_tools.validation import validate

    accepted = schema.get("properties", {})
    problems = {
        name: "filled from the alert; not given by hand"
        if name in ALERT_PARAMETERS
        else "the deployment takes no such parameter"
        for name in parameters
        if name in ALERT_PARAMETERS or name not in accepted
    }
    if not problems and parameters:
        for error in validate(parameters, schema, ignore_required=True):
            name = str(error.path[0]) if error.path else "parameters"
            problems.setdefault(name, error.message[:300])
    if problems:
        raise RefusedParameters(problems)


async def run_playbook_by_hand(
    engine: Engine,
    client: PrefectClient,
    alert_uuid: str,
    deployment: str,
    *,
    user: str,
    parameters: dict[str, Any] | None = None,
) -> PlaybookRun:
    """Alertflex's manual run mode: a flow run of `deployment` with the stored alert as `alert`.

    `parameters` are the run's other parameters (checked against the deployment's schema; the
    rest keep the deployment's defaults). Created once per (alert, deployment, user): the
    idempotency key makes a repeat return the same flow run, whatever its parameters, and the
    alert's playbook_run row (profile `manual:<user>:<deployment>`) records it.
    """
    found = await read_deployment(client, deployment)
    schema = found.parameter_openapi_schema or {}
    if "alert" not in schema.get("properties", {}):
        raise ConfigurationError(f"deployment {deployment!r} takes no `alert` parameter")
    given = dict(parameters or {})
    check_parameters(schema, given)
    profile = manual_profile(deployment, user)
    [alert] = await asyncio.to_thread(load_alerts, engine, [alert_uuid])

    def record_request() -> None:
        now = utcnow()
        with engine.begin() as conn:
            insert_ignoring_duplicates(
                conn,
                _RUNS,
                [
                    {
                        "alert_uuid": alert_uuid,
                        "profile": profile,
                        "deployment": deployment,
                        "state": "pending",
                        "created_at": now,
                        "updated_at": now,
                    }
                ],
                ("alert_uuid", "profile"),
            )

    await asyncio.to_thread(record_request)
    flow_run = await call_prefect(
        lambda: client.create_flow_run_from_deployment(
            found.id,
            parameters={**given, "alert": alert.model_dump(mode="json")},
            idempotency_key=flow_run_idempotency_key(alert_uuid, profile),
        ),
        f"creating a run of {deployment}",
    )
    state = flow_run.state.type.value if flow_run.state is not None else "SCHEDULED"
    await asyncio.to_thread(record_flow_run, engine, alert_uuid, profile, str(flow_run.id), state)

    def read_back() -> PlaybookRun:
        with engine.connect() as conn:
            row = conn.execute(
                select(_RUNS).where(_RUNS.c.alert_uuid == alert_uuid, _RUNS.c.profile == profile)
            ).one()
        return PlaybookRun.model_validate(dict(row._mapping))

    return await asyncio.to_thread(read_back)


async def list_deployments(client: PrefectClient) -> list[dict[str, Any]]:
    """Every deployment on the Prefect server, by name: its description, parameters and their schema."""
    deployments = await call_prefect(lambda: client.read_deployments(), "listing deployments")
    flows = await call_prefect(lambda: client.read_flows(), "listing flows")
    flow_names = {f.id: f.name for f in flows}
    listed = [
        {
            "name": f"{flow_names.get(d.flow_id, d.flow_id)}/{d.name}",
            "id": str(d.id),
            "description": d.description or "",
            "tags": list(d.tags or []),
            "parameters": dict(d.parameters or {}),
            "parameter_schema": dict(d.parameter_openapi_schema or {}),
            "paused": bool(d.paused),
        }
        for d in deployments
    ]
    return sorted(listed, key=lambda d: d["name"])
