"""The Alertflex STIX endpoint that the STIX-shifter alertflex connector (8.1.3) queries, unchanged.

The connector's paths are fixed (`/alertflex-ctrl/rest/stix-alerts/...`), it signs in with HTTP
Basic only, does no paging and reads a top-level JSON array of flat alerts whose field names
its to_stix map knows. A query that does not parse is 400 with the connector's error shape
(`code` 2000), which it reports as a query-parsing error.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Select, select, text, union
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BooleanClauseList, Grouping

from alertflow.api.alert_queries import c as col
from alertflow.api.alert_queries import visible
from alertflow.api.auth import Viewer
from alertflow.api.deps import EngineDep
from alertflow.api.stix_query import MAX_QUERY_LENGTH, QueryError, parse

STIX_PREFIX = "/alertflex-ctrl/rest/stix-alerts"
MAX_RESULTS = 10_000
"""The connector asks for everything at once; a search answers at most this many, newest first."""

router = APIRouter(prefix=STIX_PREFIX, tags=["stix"])

_TEXT_FIELDS = {
    "srcip": col.srcip,
    "dstip": col.dstip,
    "protocol": col.proto,
    "user": col.user,
    "file": col.file,
    "process": col.process,
    "md5": col.hash_md5,
    "sha1": col.hash_sha1,
    "sha256": col.hash_sha256,
    "event": col.event,
    "category": col.category,
    "description": col.description,
    "info": col.info,
    "agent": col.agent,
    "source": col.source,
    "node": col.node_id,
    "type": col.type,
}
"""Connector field -> alert column; `indef` and empty values are left out, as the connector skips them."""
_COLUMNS = [col.time_collr, col.severity, col.srcport, col.dstport, *_TEXT_FIELDS.values()]
_NAMES = list(_TEXT_FIELDS)
_EMPTY = {"", "indef"}


class StixStatus(BaseModel):
    """The connector's ping: any JSON body with 200 means reachable and signed in."""

    status: str = "ok"


class StixAlert(BaseModel):
    """One alert in the connector's flat shape (fields without a value are left out)."""

    model_config = {"extra": "allow"}
    create_time: int = Field(description="Collection time, epoch milliseconds.")
    severity: int


class StixError(BaseModel):
    """The connector's error body: `code` 2000 is a query that does not parse, 1005 a bad field or value."""

    code: int
    message: str
    messages: list[dict[str, str]]


@router.get("/status", response_model=StixStatus)
def stix_status(engine: EngineDep, _principal: Viewer) -> StixStatus:
    """200 with a JSON body when the alert store answers (the connector's `ping`)."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return StixStatus()


@router.get("/search", response_model=list[StixAlert], responses={400: {"model": StixError}})
def stix_search(
    engine: EngineDep,
    principal: Viewer,
    query: Annotated[
        str,
        Query(
            max_length=MAX_QUERY_LENGTH,
            description="`SELECT a FROM Alert a WHERE ...` as the connector writes it.",
        ),
    ],
) -> Any:
    """The visible alerts matching `query`, newest first, at most MAX_RESULTS, as a JSON array."""
    try:
        where = parse(query)
    except QueryError as exc:
        message = str(exc)
        body = {"code": exc.code, "message": message, "messages": [{"text": message}]}
        return JSONResponse(body, status_code=400)
    with engine.connect() as conn:
        rows = conn.execute(search_statement(visible(principal), where)).all()
    # orjson: thousands of rows encode in a tenth of the time of the standard library's JSONResponse
    return Response(orjson.dumps([_flat(row) for row in rows]), media_type="application/json")


def search_statement(visible_rows: ColumnElement[bool], where: ColumnElement[bool]) -> Select[Any]:
    """The newest MAX_RESULTS visible alerts matching `where`, in `_COLUMNS` order.

    The connector asks for an address as `(a.dstIp = X OR a.srcIp = X) AND ...`. No single index
    serves an OR across two columns, and MariaDB then reads the whole time window (300 ms at a
    million alerts); so a top-level OR (alone or ANDed with the rest) becomes a UNION of one
    newest-first branch per alternative, each on its own index. The alert id in every branch
    keeps two alerts with the same fields apart and an alert matching twice once.
    """
    alternatives, rest = _alternatives(where)
    newest = (col.time_collr.desc(), col.alert_id.desc())
    if len(alternatives) < 2:
        return select(*_COLUMNS).where(visible_rows, where).order_by(*newest).limit(MAX_RESULTS)
    branches = [
        select(
            select(col.alert_id, *_COLUMNS)
            .where(visible_rows, alternative, *rest)
            .order_by(*newest)
            .limit(MAX_RESULTS)
            .subquery()
        )
        for alternative in alternatives
    ]
    matched = union(*branches).subquery()
    return (
        select(*(matched.c[column.name] for column in _COLUMNS))
        .order_by(matched.c.time_collr.desc(), matched.c.alert_id.desc())
        .limit(MAX_RESULTS)
    )


MAX_UNION_BRANCHES = 8
"""An OR of more alternatives than this stays one query: so many index reads cost more than a scan."""


def _alternatives(where: ColumnElement[bool]) -> tuple[list[ColumnElement[bool]], list[ColumnElement[bool]]]:
    """(the alternatives of `where`'s one top-level OR, the other terms ANDed with it), or ([], [])."""
    if (either := _terms(where, operators.or_)) is not None:
        alternatives, rest = either, []
    elif (terms := _terms(where, operators.and_)) is not None:
        ors = [alternatives for term in terms if (alternatives := _terms(term, operators.or_)) is not None]
        if len(ors) != 1:
            return [], []
        alternatives, rest = ors[0], [term for term in terms if _terms(term, operators.or_) is None]
    else:
        return [], []
    return (alternatives, rest) if len(alternatives) <= MAX_UNION_BRANCHES else ([], [])


def _terms(clause: ColumnElement[bool], operator: Any) -> list[ColumnElement[bool]] | None:
    """The terms of `clause` if it is an AND or OR (as `operator` says), parenthesized or not."""
    while isinstance(clause, Grouping):
        clause = clause.element
    if isinstance(clause, BooleanClauseList) and clause.operator is operator:
        return list(clause.clauses)
    return None


def _flat(row: Any) -> dict[str, Any]:
    """One row (in _COLUMNS order) in the connector's shape; positional, as this runs for thousands of rows."""
    time_collr, severity, srcport, dstport, *texts = row
    alert: dict[str, Any] = {"create_time": int(time_collr.timestamp() * 1000), "severity": severity}
    if srcport:
        alert["srcport"] = srcport
    if dstport:
        alert["dstport"] = dstport
    for name, value in zip(_NAMES, texts, strict=True):
        if value not in _EMPTY:
            alert[name] = value
    return alert
