"""Response-profile actions that reach products: Slack, Twilio SMS, TheHive and JIRA.

Each executor loads its block by name (the action's `block`, default "default") from the Prefect
server, so credentials live in one place. TheHive and JIRA escalate: the alert gets an incident
(if it has none) and the external id is stored on it, which also makes a re-run after a crash
find the earlier issue instead of filing a second one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from prefect.blocks.core import Block
from sqlalchemy import Engine

from alertflow import incidents
from alertflow.actions import OutboxItem, load_alerts
from alertmodel import Incident
from alertmodel.errors import IntegrationError
from alertmodel.types import utcnow
from blocks.jira import JiraSite
from blocks.slack import SlackWorkspace
from blocks.thehive import TheHiveServer
from blocks.twilio import TwilioAccount
from ingest.profiles import UserGroupSpec, read_user_group
from tasks.jira import file_alert_in_jira
from tasks.slack import notify_slack
from tasks.thehive import create_alert_in_thehive
from tasks.twilio import notify_twilio

B = TypeVar("B", bound=Block)
BlockLoader = Callable[[type[B], str], Awaitable[B]]
_INCIDENTS = Incident.__table__


async def load_block(block_type: type[B], name: str) -> B:
    """The saved block `name` of `block_type`; IntegrationError naming the product when there is none."""
    try:
        return await block_type.aload(name)  # type: ignore[return-value]
    except ValueError as exc:
        raise IntegrationError(
            f"no {block_type.get_block_type_name()} block {name!r} configured; create it in the Prefect UI "
            "after `alertflow blocks register`"
        ) from exc


def _group(engine: Engine, name: str) -> UserGroupSpec:
    with engine.connect() as conn:
        return read_user_group(conn, name)


class _Executor:
    def __init__(
        self,
        engine: Engine,
        load: BlockLoader[Any] = load_block,
        locks: dict[str, list[Any]] | None = None,
    ) -> None:
        self._engine = engine
        self._load = load
        # The incident table does not stop two incidents for one alert; the TheHive and JIRA actions of
        # one alert run concurrently, so their escalation is serialised per alert here.
        self._locks = locks if locks is not None else {}

    async def _escalate(self, item: OutboxItem) -> Incident:
        alert_uuid = item.payload["alert_uuid"]
        entry = self._locks.setdefault(alert_uuid, [asyncio.Lock(), 0])
        entry[1] += 1  # users of this alert's lock; the last one out drops it
        try:
            async with entry[0]:
                return await asyncio.to_thread(_escalate, self._engine, item)
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del self._locks[alert_uuid]

    async def _alert(self, item: OutboxItem) -> dict[str, Any]:
        [alert] = await asyncio.to_thread(load_alerts, self._engine, [item.payload["alert_uuid"]])
        return alert.model_dump(mode="json")


class SlackExecutor(_Executor):
    """Post the alert to the Slack channel of the action's user group."""

    async def __call__(self, item: OutboxItem) -> None:
        action = item.payload["action"]
        group = await asyncio.to_thread(_group, self._engine, action["group"])
        if not group.slack_channel:
            raise IntegrationError(f"user group {group.name!r} has no Slack channel")
        slack = await self._load(SlackWorkspace, action.get("block", "default"))
        await notify_slack(slack, await self._alert(item), channel=group.slack_channel)


class TwilioExecutor(_Executor):
    """Text the alert to every phone number of the action's user group."""

    async def __call__(self, item: OutboxItem) -> None:
        action = item.payload["action"]
        group = await asyncio.to_thread(_group, self._engine, action["group"])
        if not group.phones:
            raise IntegrationError(f"user group {group.name!r} has no phone numbers")
        twilio = await self._load(TwilioAccount, action.get("block", "default"))
        await notify_twilio(twilio, await self._alert(item), group.phones)


def _escalate(engine: Engine, item: OutboxItem) -> Incident:
    return incidents.open_incident(
        engine,
        item.payload["alert_uuid"],
        actor=f"profile:{item.payload['profile']}",
        comment=f"escalated by response profile {item.payload['profile']} ({item.kind})",
        if_absent=True,
    )


def store_external_ref(engine: Engine, incident_id: int, field: str, value: str, *, actor: str) -> None:
    """Record a TheHive id or JIRA key on an incident, with a note in its history."""
    if field not in ("jira_key", "thehive_id"):
        raise ValueError(f"field must be jira_key or thehive_id, not {field!r}")
    with engine.begin() as conn:
        conn.execute(
            _INCIDENTS.update()
            .where(_INCIDENTS.c.id == incident_id)
            .values({field: value, "updated_at": utcnow()})
        )
    incidents.record_note(engine, incident_id, actor=actor, comment=f"{field} = {value}")


class TheHiveExecutor(_Executor):
    """Create the TheHive alert (idempotent by sourceRef) and store its id on the alert's incident."""

    async def __call__(self, item: OutboxItem) -> None:
        action = item.payload["action"]
        thehive = await self._load(TheHiveServer, action.get("block", "default"))  # unconfigured: fail first
        incident = await self._escalate(item)
        if incident.thehive_id:
            return
        ref = await create_alert_in_thehive(thehive, await self._alert(item))
        await asyncio.to_thread(
            store_external_ref,
            self._engine,
            incident.id,  # type: ignore[arg-type]
            "thehive_id",
            ref.id,
            actor=f"profile:{item.payload['profile']}",
        )


class JiraExecutor(_Executor):
    """File the alert as a JIRA issue, once per incident, and store the key on the incident."""

    async def __call__(self, item: OutboxItem) -> None:
        action = item.payload["action"]
        site = await self._load(
            JiraSite, action.get("block", "default")
        )  # unconfigured: fail before escalating
        incident = await self._escalate(item)
        if incident.jira_key:
            return
        issue = await file_alert_in_jira(site, await self._alert(item), project=action.get("project"))
        await asyncio.to_thread(
            store_external_ref,
            self._engine,
            incident.id,  # type: ignore[arg-type]
            "jira_key",
            issue.key,
            actor=f"profile:{item.payload['profile']}",
        )


async def notify_incident(
    engine: Engine,
    incident_id: int,
    group: str,
    *,
    via: str,
    actor: str,
    block: str = "default",
    load: BlockLoader[Any] = load_block,
) -> list[str]:
    """Tell a user group about an incident by Slack or SMS; recorded in its history. Returns recipients."""
    view = await asyncio.to_thread(incidents.get_incident, engine, incident_id)
    [alert] = await asyncio.to_thread(load_alerts, engine, [view.incident.alert_uuid])
    data = alert.model_dump(mode="json")
    data["description"] = f"[incident #{incident_id} {view.incident.state}] {data['description']}"
    members = await asyncio.to_thread(_group, engine, group)
    if via == "slack":
        if not members.slack_channel:
            raise IntegrationError(f"user group {members.name!r} has no Slack channel")
        await notify_slack(await load(SlackWorkspace, block), data, channel=members.slack_channel)
        recipients = [members.slack_channel]
    elif via == "twilio":
        if not members.phones:
            raise IntegrationError(f"user group {members.name!r} has no phone numbers")
        await notify_twilio(await load(TwilioAccount, block), data, members.phones)
        recipients = list(members.phones)
    else:
        raise ValueError(f"via must be slack or twilio, not {via!r}")
    await asyncio.to_thread(
        incidents.record_note,
        engine,
        incident_id,
        actor=actor,
        comment=f"notified {group} by {via}: {', '.join(recipients)}",
    )
    return recipients


def product_executors(engine: Engine, load: BlockLoader[Any] = load_block) -> dict[str, Any]:
    """The Slack, Twilio, TheHive and JIRA executors, keyed by action kind."""
    locks: dict[str, list[Any]] = {}
    return {
        "slack": SlackExecutor(engine, load),
        "twilio": TwilioExecutor(engine, load),
        "thehive": TheHiveExecutor(engine, load, locks),
        "jira": JiraExecutor(engine, load, locks),
    }
