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
from sqlalchemy import select, text

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
    statement = (
        select(*_COLUMNS)
        .where(visible(principal), where)
        .order_by(col.time_collr.desc(), col.alert_id.desc())
        .limit(MAX_RESULTS)
    )
    with engine.connect() as conn:
        rows = conn.execute(statement).all()
    # orjson: thousands of rows encode in a tenth of the time of the standard library's JSONResponse
    return Response(orjson.dumps([_flat(row) for row in rows]), media_type="application/json")


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
