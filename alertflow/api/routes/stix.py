"""The Alertflex STIX endpoint that the STIX-shifter alertflex connector (8.1.3) queries, unchanged.

The connector's paths are fixed (`/alertflex-ctrl/rest/stix-alerts/...`), it signs in with HTTP
Basic only, does no paging and reads a top-level JSON array of flat alerts whose field names
its to_stix map knows. A query that does not parse is 400 with the connector's error shape
(`code` 2000), which it reports as a query-parsing error.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    case,
    cast,
    func,
    literal,
    literal_column,
    select,
    text,
)

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
_EMPTY = ("", "indef")


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
        rows = conn.execute(search_statement(conn.dialect.name, visible(principal), where)).scalars().all()
    return Response(("[" + ",".join(rows) + "]").encode(), media_type="application/json")


def search_statement(
    dialect: str, visible_rows: ColumnElement[bool], where: ColumnElement[bool]
) -> Select[Any]:
    """The newest MAX_RESULTS visible alerts matching `where`, each as its JSON text."""
    return (
        select(alert_json(dialect))
        .where(visible_rows, where)
        .order_by(col.time_collr.desc(), col.alert_id.desc())
        .limit(MAX_RESULTS)
    )


def alert_json(dialect: str) -> ColumnElement[str]:
    """One alert in the connector's flat shape, as JSON text built by the database.

    A search answers thousands of rows; decoding one text column per row and joining them
    costs the driver a fraction of decoding 21 typed columns (pymysql decodes in Python).
    Values go through the database's own JSON_QUOTE, never through string pasting.
    """
    body: ColumnElement[str] = (
        literal('{"create_time":')
        + cast(_epoch_ms(dialect), String)
        + literal(',"severity":')
        + cast(col.severity, String)
    )
    for name, port in (("srcport", col.srcport), ("dstport", col.dstport)):
        body = body + case((port != 0, literal(f',"{name}":') + cast(port, String)), else_=literal(""))
    for name, column in _TEXT_FIELDS.items():
        member = literal(f',"{name}":') + func.json_quote(column, type_=String)
        body = body + case((column.in_(_EMPTY), literal("")), else_=member)
    return body + literal("}")


def _epoch_ms(dialect: str) -> ColumnElement[int]:
    """Collection time in whole epoch milliseconds (time_collr is naive UTC in both stores)."""
    if dialect in ("mysql", "mariadb"):
        micros = func.timestampdiff(
            literal_column("MICROSECOND"), literal("1970-01-01 00:00:00"), col.time_collr
        )
        return micros.op("DIV")(1000)
    # SQLite keeps it as text 'YYYY-MM-DD HH:MM:SS.ffffff'; its date functions round to the
    # millisecond (.999999 would become the next second), so the two parts are read apart.
    seconds = cast(func.strftime("%s", func.substr(col.time_collr, 1, 19)), Integer)
    return seconds * 1000 + cast(func.substr(col.time_collr, 21, 3), Integer)
