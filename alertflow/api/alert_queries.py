"""Alert searches as SQLAlchemy Core: every value a bound parameter, every page a keyset seek.

A page is the rows after the cursor in (sort key, alert_id) order, so it costs the same on
page 1 and page 10,000 and neither repeats nor skips rows when alerts arrive meanwhile.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import HTTPException
from sqlalchemy import ColumnElement, Connection, Select, and_, false, or_, select

from alertflow.api.accounts import Principal
from alertflow.api.alert_schemas import AlertFilters, AlertSearch
from alertflow.api.auth import tenant_filter
from alertflow.api.cursor import cursor_error, decode_cursor, encode_cursor
from alertflow.api.timeparam import as_utc
from alertmodel.alert import Alert
from alertmodel.catalog import UnknownProfileError, in_category_profile

ALERTS = Alert.__table__
c = ALERTS.c
SUMMARY_COLUMNS = [col for col in ALERTS.columns if col.name not in ("json_event",)]
_EXACT = {
    "source": c.source,
    "category": c.category,
    "node": c.node_id,
    "event": c.event,
    "agent": c.agent,
    "sensor": c.sensor,
    "tenant": c.ref_id,
    "user": c.user,
    "file": c.file,
    "process": c.process,
    "srcport": c.srcport,
    "dstport": c.dstport,
}
_SORT_KEYS = {"time_collr": (c.time_collr, c.alert_id), "severity": (c.severity, c.time_collr, c.alert_id)}
_HASH_COLUMNS = {32: c.hash_md5, 40: c.hash_sha1, 64: c.hash_sha256}


def visible(principal: Principal) -> ColumnElement[bool]:
    """The alerts this principal may see."""
    return tenant_filter(principal, c.ref_id)


def search(conn: Connection, principal: Principal, f: AlertSearch) -> tuple[list[dict[str, Any]], str | None]:
    """One page of matching alerts (without json_event) and the cursor of the next page."""
    query = select(*SUMMARY_COLUMNS).where(visible(principal), *where(f))
    if f.profile is not None:
        query = query.where(in_profile(conn, f.profile))
    descending = f.sort.startswith("-")
    keys = _SORT_KEYS[f.sort.lstrip("-")]
    if f.cursor is not None:
        query = query.where(*_seek(keys, _cursor_values(f), descending))
    order = [k.desc() if descending else k.asc() for k in keys]
    rows = conn.execute(query.order_by(*order).limit(f.limit + 1)).all()
    page = [dict(r._mapping) for r in rows[: f.limit]]
    if len(rows) <= f.limit:
        return _public(page), None
    last = page[-1]
    values = [last[k.name] for k in keys]
    return _public(page), encode_cursor(
        [f.sort, *[v.isoformat() if isinstance(v, datetime) else v for v in values]]
    )


def where(f: AlertFilters) -> list[ColumnElement[bool]]:
    """The WHERE clauses of a search's filters."""
    clauses: list[ColumnElement[bool]] = []
    for name, column in _EXACT.items():
        value = getattr(f, name)
        if value is not None:
            clauses.append(column == value)
    if f.since is not None:
        clauses.append(c.time_collr >= as_utc(f.since, "since"))
    if f.until is not None:
        clauses.append(c.time_collr < as_utc(f.until, "until"))
    if f.severity:
        clauses.append(c.severity.in_(f.severity))
    if f.min_severity is not None:
        clauses.append(c.severity >= f.min_severity)
    if f.status:
        clauses.append(c.status.in_(f.status))
    if f.srcip is not None:
        clauses.append(ip_matches(c.srcip, f.srcip))
    if f.dstip is not None:
        clauses.append(ip_matches(c.dstip, f.dstip))
    if f.ip is not None:
        clauses.append(or_(ip_matches(c.srcip, f.ip), ip_matches(c.dstip, f.ip)))
    if f.port is not None:
        clauses.append(or_(c.srcport == f.port, c.dstport == f.port))
    if f.hash is not None:
        clauses.append(_HASH_COLUMNS[len(f.hash)] == f.hash)
    if f.q is not None:
        clauses.append(c.description.icontains(f.q, autoescape=True))
    return clauses


def in_profile(conn: Connection, name: str) -> ColumnElement[bool]:
    """Alerts in the categories profile `name` (see `in_category_profile`); a 422 if there is no such profile."""
    try:
        return in_category_profile(conn, name)
    except UnknownProfileError:
        raise HTTPException(
            422, [{"loc": ["query", "profile"], "msg": "no such categories profile", "type": "value_error"}]
        ) from None


def ip_matches(column: Any, value: str) -> ColumnElement[bool]:
    """`column` holds the address, or (for an IPv4 CIDR) an address inside the network.

    Addresses are stored as text, so a network becomes text ranges: the prefix length is
    rounded up to a whole octet and each of the (at most 256) octet prefixes is a range
    ['10.1.', '10.1/') that the column's index answers ('/' sorts right after '.').
    """
    network = ipaddress.ip_network(value, strict=False)
    if network.version == 6 or network.prefixlen == 32:
        address = network.network_address
        # sensors write IPv6 compressed or in full (Suricata: 0000:...:0001)
        forms = sorted({str(address), address.exploded})
        return column == forms[0] if len(forms) == 1 else column.in_(forms)
    octets = max(1, -(-network.prefixlen // 8))
    ranges = []
    for subnet in network.subnets(new_prefix=octets * 8):
        prefix = ".".join(str(subnet.network_address).split(".")[:octets]) + "."
        ranges.append(and_(column >= prefix, column < prefix[:-1] + "/"))
    return or_(*ranges) if ranges else false()


def _cursor_values(f: AlertSearch) -> list[Any]:
    assert f.cursor is not None
    kinds: tuple[type, ...] = (str, str, int) if f.sort.lstrip("-") == "time_collr" else (str, int, str, int)
    values = decode_cursor(f.cursor, kinds)
    if values[0] != f.sort:
        raise cursor_error()
    values = values[1:]
    time_index = 0 if f.sort.lstrip("-") == "time_collr" else 1
    try:
        at = datetime.fromisoformat(values[time_index])
    except ValueError:
        raise cursor_error() from None
    values[time_index] = at if at.tzinfo else at.replace(tzinfo=UTC)
    return values


def _seek(keys: Sequence[Any], values: Sequence[Any], descending: bool) -> list[ColumnElement[bool]]:
    """Rows strictly after `values` in (keys) order, plus a bound on the first key for the index range."""
    after = []
    for i, key in enumerate(keys):
        ties = [k == v for k, v in zip(keys[:i], values[:i], strict=True)]
        after.append(and_(*ties, key < values[i] if descending else key > values[i]))
    bound = keys[0] <= values[0] if descending else keys[0] >= values[0]
    return [bound, or_(*after)]


def _public(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        row.pop("alert_id", None)
    return rows


def one_alert(conn: Connection, principal: Principal, alert_uuid: str) -> dict[str, Any] | None:
    """Every column of one alert the principal may see, or None."""
    row = conn.execute(select(ALERTS).where(c.alert_uuid == alert_uuid, visible(principal))).first()
    return None if row is None else dict(row._mapping)


def related(
    conn: Connection, principal: Principal, alert: dict[str, Any], limit: int
) -> dict[str, list[Any]]:
    """The newest other visible alerts with the same srcip, the same (source, event), the same agent."""
    groups: dict[str, list[ColumnElement[bool]]] = {
        "srcip": [c.srcip == alert["srcip"]],
        "event": [c.source == alert["source"], c.event == alert["event"]],
        "agent": [c.agent == alert["agent"]],
    }
    empty = {"", "indef"}
    result: dict[str, list[Any]] = {}
    for name, same in groups.items():
        if alert[name] in empty:
            result[name] = []
            continue
        query: Select[Any] = (
            select(*SUMMARY_COLUMNS)
            .where(*same, c.alert_uuid != alert["alert_uuid"], visible(principal))
            .order_by(c.time_collr.desc(), c.alert_id.desc())
            .limit(limit)
        )
        result[name] = _public([dict(r._mapping) for r in conn.execute(query)])
    return result
