"""What an outbox row does to the world: one executor per action kind.

Every executor is safe to run again for the same row (a dispatcher can die between doing
the work and marking the row done): a playbook run is created with the idempotency key
`alert_uuid:profile`, an incident is opened only when the alert has none, and an e-mail
carries the outbox key as its Message-ID so a resend after a crash is recognisable.
"""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

import httpx
from sqlalchemy import Engine, or_, select

from alertflow import incidents
from alertmodel import Alert, AlertRead, PlaybookRun
from alertmodel.alert import SEVERITY_NAMES
from alertmodel.errors import IntegrationError, ServiceUnavailableError
from alertmodel.types import utcnow
from ingest.profiles import read_user_group

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient
    from prefect_email import EmailServerCredentials

RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}
T = TypeVar("T")
_RUNS = PlaybookRun.__table__
_ALERTS = Alert.__table__


@dataclass(slots=True)
class OutboxItem:
    """One claimed outbox row, as an executor sees it."""

    id: int
    kind: str
    key: str
    payload: dict[str, Any]
    attempts: int


Executor = Callable[[OutboxItem], Awaitable[None]]


def load_alerts(engine: Engine, uuids: Sequence[str]) -> list[AlertRead]:
    """The stored alerts with these uuids, in the order given; IntegrationError when one is missing."""
    with engine.connect() as conn:
        rows = {r.alert_uuid: r for r in conn.execute(select(_ALERTS).where(_ALERTS.c.alert_uuid.in_(uuids)))}
    missing = [u for u in uuids if u not in rows]
    if missing:
        raise IntegrationError(f"alert {missing[0]} is not in the alert store")
    return [AlertRead.model_validate(dict(rows[u]._mapping)) for u in uuids]


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


class PlaybookExecutor:
    """Create a flow run of the profile's deployment with the alert as parameter `alert`.

    A grouped profile's run also gets `alerts`: every alert of the group recorded so far.
    """

    def __init__(self, engine: Engine, client: PrefectClient) -> None:
        self._engine = engine
        self._client = client
        self._deployment_ids: dict[str, UUID] = {}

    async def __call__(self, item: OutboxItem) -> None:
        lead, profile = item.payload["alert_uuid"], item.payload["profile"]
        deployment = item.payload["action"]["deployment"]
        parameters = await asyncio.to_thread(playbook_parameters, self._engine, lead, profile)
        deployment_id = await self._deployment_id(deployment)
        key = flow_run_idempotency_key(lead, profile)
        try:  # the idempotency key makes every retry of this call safe
            flow_run = await call_prefect(
                lambda: self._client.create_flow_run_from_deployment(
                    deployment_id, parameters=parameters, idempotency_key=key
                ),
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


class IncidentExecutor:
    """Open an incident for the alert unless it already has one."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def __call__(self, item: OutboxItem) -> None:
        action = item.payload["action"]
        await asyncio.to_thread(
            incidents.open_incident,
            self._engine,
            item.payload["alert_uuid"],
            actor=f"profile:{item.payload['profile']}",
            assignee=action.get("assignee"),
            comment=f"opened by response profile {item.payload['profile']}",
            if_absent=True,
        )


SmtpLoader = Callable[[str], Awaitable["EmailServerCredentials"]]


async def load_smtp_server(name: str) -> EmailServerCredentials:
    """The SmtpServer block called `name` (issue 7's block type, a prefect-email subclass)."""
    try:
        from blocks.smtp import SmtpServer
    except ImportError as exc:
        raise IntegrationError("no SMTP server block type installed (blocks.smtp)") from exc
    try:
        return await SmtpServer.aload(name)
    except ValueError as exc:
        raise IntegrationError(
            f"no SMTP server block {name!r} configured; create one with `alertflow blocks register` "
            "and the Prefect UI"
        ) from exc


class EmailExecutor:
    """E-mail the alert to the action's user group through an SMTP server block."""

    def __init__(self, engine: Engine, load_server: SmtpLoader = load_smtp_server) -> None:
        self._engine = engine
        self._load_server = load_server

    async def __call__(self, item: OutboxItem) -> None:
        action = item.payload["action"]
        [alert] = await asyncio.to_thread(load_alerts, self._engine, [item.payload["alert_uuid"]])
        server = await self._load_server(action.get("block", "default"))
        subject, body = describe_alert(alert, profile=item.payload["profile"])
        await send_to_group(self._engine, server, action["group"], subject, body, message_id=item.key)


def describe_alert(alert: AlertRead, *, profile: str | None = None) -> tuple[str, str]:
    """A short subject and a plain-text body describing an alert."""
    severity = SEVERITY_NAMES.get(alert.severity, str(alert.severity))
    subject = f"[alertflow] {severity} {alert.source} {alert.event}: {alert.description}"[:200]
    lines = [f"{name}: {getattr(alert, name)}" for name in (
        "alert_uuid", "time_collr", "node_id", "source", "event", "severity", "category",
        "description", "srcip", "srcport", "dstip", "dstport", "agent", "user", "process", "file",
    )]  # fmt: skip
    if profile:
        lines.insert(0, f"response profile: {profile}")
    return subject, "\n".join(lines) + "\n"


async def send_to_group(
    engine: Engine,
    server: EmailServerCredentials,
    group: str,
    subject: str,
    body: str,
    *,
    message_id: str,
) -> list[str]:
    """Send one message to every address of user group `group`; the recipients it went to."""

    def load_group() -> list[str]:
        with engine.connect() as conn:
            return read_user_group(conn, group).emails

    recipients = await asyncio.to_thread(load_group)
    if not recipients:
        raise IntegrationError(f"user group {group!r} has no e-mail addresses")
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = getattr(server, "sender", None) or server.username or "alertflow@localhost"
    message["To"] = ", ".join(recipients)
    message["Message-ID"] = f"<{message_id.replace(':', '.')}@alertflow>"
    message.set_content(body)

    def send() -> None:
        try:
            with server.get_server() as smtp:
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            host = server.smtp_server if isinstance(server.smtp_server, str) else server.smtp_server.value
            raise IntegrationError(
                f"SMTP server {host}:{server.smtp_port} refused the message: {exc}"
            ) from exc

    await asyncio.to_thread(send)
    return recipients


class MissingIntegration:
    """An action whose integration block is not wired yet: fail loudly, never pretend to succeed."""

    def __init__(self, product: str) -> None:
        self.product = product

    def error(self, doing: str) -> IntegrationError:
        return IntegrationError(f"no {self.product} block configured: cannot {doing}")

    async def __call__(self, item: OutboxItem) -> None:
        raise self.error(f"perform the {item.kind} action of profile {item.payload.get('profile')!r}")


def default_executors(engine: Engine, client: PrefectClient) -> dict[str, Executor]:
    """One executor per action kind of ingest.profiles."""
    from alertflow.product_actions import product_executors

    return {
        "playbook": PlaybookExecutor(engine, client),
        "incident": IncidentExecutor(engine),
        "email": EmailExecutor(engine),
        **product_executors(engine),
    }


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
