"""Escalation to TheHive and JIRA: the alert gets an incident (if it has none) and the external id is
stored on it, so a re-run finds it there. A crash after the product filed it but before the id was
stored is covered by the tasks: they look for the alert's TheHive alert (sourceRef) or JIRA issue
(label `alertflow-<uuid>`) before creating one."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import Engine

from alertmodel import Incident
from alertmodel.errors import IncidentError
from alertmodel.repository import load_alerts
from blocks.jira import JiraSite
from blocks.loader import load_block
from blocks.thehive import TheHiveServer
from response import incidents
from response.payload import OutboxItem
from tasks.jira import file_alert_in_jira
from tasks.thehive import create_thehive_alert


class EscalationLocks:
    """One lock per alert while its escalations run.

    The incident table does not stop two incidents for one alert; the TheHive and JIRA actions of
    one alert run concurrently, so their escalation is serialised per alert.
    """

    def __init__(self) -> None:
        self._locks: dict[str, list[Any]] = {}

    async def escalate(self, engine: Engine, item: OutboxItem) -> Incident:
        request = item.request
        entry = self._locks.setdefault(request.alert_uuid, [asyncio.Lock(), 0])
        entry[1] += 1  # users of this alert's lock; the last one out drops it
        try:
            async with entry[0]:
                return await asyncio.to_thread(
                    incidents.open_incident,
                    engine,
                    request.alert_uuid,
                    actor=f"profile:{request.profile}",
                    comment=f"escalated by response profile {request.profile} ({item.kind})",
                    if_absent=True,
                )
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del self._locks[request.alert_uuid]


class _Escalation:
    def __init__(self, engine: Engine, locks: EscalationLocks) -> None:
        self._engine = engine
        self._locks = locks

    async def _alert(self, item: OutboxItem) -> dict[str, Any]:
        [alert] = await asyncio.to_thread(load_alerts, self._engine, [item.request.alert_uuid])
        return alert.model_dump(mode="json")

    async def _store(self, item: OutboxItem, incident: Incident, field: str, value: str) -> None:
        await asyncio.to_thread(
            incidents.store_external_ref,
            self._engine,
            incident.id,  # type: ignore[arg-type]
            field,
            value,
            actor=f"profile:{item.request.profile}",
        )


class TheHiveExecutor(_Escalation):
    """Find or create the TheHive alert (by sourceRef) and store its id on the alert's incident."""

    async def __call__(self, item: OutboxItem) -> None:
        action = item.request.action
        assert action.kind == "thehive"
        thehive = await load_block(TheHiveServer, action.block)  # unconfigured: fail before escalating
        incident = await self._locks.escalate(self._engine, item)
        if incident.thehive_id:
            return
        ref = await create_thehive_alert.fn(thehive, await self._alert(item))
        await self._store(item, incident, "thehive_id", ref.id)


class JiraExecutor(_Escalation):
    """Find (by the alert's label) or file the alert's JIRA issue and store the key on the incident."""

    async def __call__(self, item: OutboxItem) -> None:
        action = item.request.action
        assert action.kind == "jira"
        site = await load_block(JiraSite, action.block)  # unconfigured: fail before escalating
        incident = await self._locks.escalate(self._engine, item)
        if incident.jira_key:
            return
        issue = await file_alert_in_jira.fn(site, await self._alert(item), project=action.project)
        await self._store(item, incident, "jira_key", issue.key)


ESCALATION_FIELDS = {"jira": "jira_key", "thehive": "thehive_id"}


async def escalate_incident(
    engine: Engine, incident_id: int, product: str, *, block: str, actor: str, project: str | None = None
) -> tuple[str, bool]:
    """Send an incident's alert to JIRA or TheHive by hand, once: (the key or id, whether it was sent now).

    An incident that has the product's key already gets it back without a request; a send whose key
    was lost is found by the tasks (issue label, alert sourceRef) rather than filed twice.
    """
    field = ESCALATION_FIELDS.get(product)
    if field is None:
        raise IncidentError(f"cannot escalate to {product!r} (expected jira or thehive)")
    view = await asyncio.to_thread(incidents.get_incident, engine, incident_id)
    existing = getattr(view.incident, field)
    if existing:
        return existing, False
    [alert] = await asyncio.to_thread(load_alerts, engine, [view.incident.alert_uuid])
    data = alert.model_dump(mode="json")
    if product == "jira":
        site = await load_block(JiraSite, block)
        value = (await file_alert_in_jira.fn(site, data, project=project)).key
    else:
        thehive = await load_block(TheHiveServer, block)
        value = (await create_thehive_alert.fn(thehive, data)).id
    await asyncio.to_thread(incidents.store_external_ref, engine, incident_id, field, value, actor=actor)
    return value, True
