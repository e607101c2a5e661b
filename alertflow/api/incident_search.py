"""Incident listings as SQLAlchemy Core, kept to the caller's tenants through the incident's alert."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, exists, func, select

from alertflow.api.accounts import Principal
from alertflow.api.auth import tenant_filter
from alertflow.api.cursor import decode_cursor, encode_cursor
from alertflow.api.incident_schemas import IncidentSearch
from alertflow.api.timeparam import as_utc
from alertmodel.alert import Alert
from alertmodel.incident import Incident

INCIDENTS = Incident.__table__
_ALERTS = Alert.__table__


def visible(principal: Principal) -> ColumnElement[bool]:
    """The incidents whose alert this principal may see."""
    if not principal.tenants:
        return tenant_filter(principal, _ALERTS.c.ref_id)
    return exists().where(
        _ALERTS.c.alert_uuid == INCIDENTS.c.alert_uuid, tenant_filter(principal, _ALERTS.c.ref_id)
    )


def search(
    conn: Connection, principal: Principal, f: IncidentSearch
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of incidents, newest first, and the cursor of the next page."""
    query: Select[Any] = select(INCIDENTS).where(visible(principal))
    if f.state:
        query = query.where(INCIDENTS.c.state.in_(f.state))
    if f.min_severity is not None:
        query = query.where(INCIDENTS.c.severity >= f.min_severity)
    if f.assignee is not None:
        query = query.where(INCIDENTS.c.assignee == f.assignee)
    if f.since is not None:
        query = query.where(INCIDENTS.c.created_at >= as_utc(f.since, "since"))
    if f.alert_uuid is not None:
        query = query.where(INCIDENTS.c.alert_uuid == f.alert_uuid)
    if f.cursor is not None:
        (last_id,) = decode_cursor(f.cursor, (int,))
        query = query.where(INCIDENTS.c.id < last_id)
    rows = conn.execute(query.order_by(INCIDENTS.c.id.desc()).limit(f.limit + 1)).all()
    page = [dict(r._mapping) for r in rows[: f.limit]]
    return page, encode_cursor([page[-1]["id"]]) if len(rows) > f.limit else None


def counts_by_state(conn: Connection, principal: Principal) -> dict[str, int]:
    """How many visible incidents are in each state."""
    query = select(INCIDENTS.c.state, func.count()).where(visible(principal)).group_by(INCIDENTS.c.state)
    return {state: int(n) for state, n in conn.execute(query)}


def is_visible(conn: Connection, principal: Principal, incident_id: int) -> bool:
    """Whether the incident exists and its alert is one of the principal's tenants'."""
    query = select(INCIDENTS.c.id).where(INCIDENTS.c.id == incident_id, visible(principal))
    return conn.execute(query).first() is not None
