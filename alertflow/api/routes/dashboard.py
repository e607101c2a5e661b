"""`GET /dashboard`: alert figures over a window, from the rollups written with each ingest batch."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response

from alertflow.api import dashboard
from alertflow.api.auth import Viewer
from alertflow.api.deps import EngineDep
from alertflow.api.timeparam import IsoDateTime, as_utc
from alertmodel.alert import ALERT_FIELD_WIDTHS
from alertmodel.types import utcnow

router = APIRouter(tags=["dashboard"])
MAX_WINDOW = timedelta(days=400)
_WINDOW = re.compile(r"^([1-9][0-9]{0,4})([hd])$")


@router.get("/dashboard", response_model=dashboard.Dashboard)
def get_dashboard(
    engine: EngineDep,
    principal: Viewer,
    window: Annotated[
        str, Query(pattern=_WINDOW.pattern, description="How far back from `until`: e.g. 24h, 7d.")
    ] = "24h",
    since: Annotated[
        IsoDateTime | None, Query(description="Start (naive = UTC); instead of `window`.")
    ] = None,
    until: Annotated[IsoDateTime | None, Query(description="End (naive = UTC); default now.")] = None,
    tenant: Annotated[
        str | None,
        Query(max_length=ALERT_FIELD_WIDTHS["ref_id"], description="Only this ref_id (within your tenants)."),
    ] = None,
    top: Annotated[int, Query(ge=1, le=100, description="How many sources, categories and srcips.")] = 10,
) -> Response:
    """Totals by status, counts by severity, source and category, top source IPs and a histogram.

    The window is whole UTC hours (see `since` and `until` in the answer); at most 400 days.
    """
    end = as_utc(until, "until") if until is not None else utcnow()
    if since is not None:
        start = as_utc(since, "since")
    else:
        match = _WINDOW.match(window)
        assert match is not None  # the Query pattern has checked it
        amount, unit = int(match[1]), match[2]
        span = timedelta(hours=amount) if unit == "h" else timedelta(days=amount)
        if span > MAX_WINDOW:
            raise _invalid("window", "the window is at most 400 days")
        try:
            start = end - span
        except OverflowError:
            raise _invalid("until", "time out of range") from None
    if start >= end:
        raise _invalid("since", "since must be before until")
    if end - start > MAX_WINDOW:
        raise _invalid("since", "the window is at most 400 days")
    try:
        start, end = dashboard.align(start, end)
    except OverflowError:
        raise _invalid("until", "time out of range") from None
    tenants: list[str] | None = list(principal.tenants) if principal.tenants else None
    if tenant is not None:
        tenants = [tenant] if tenants is None or tenant in tenants else []
    with engine.connect() as conn:
        figures = dashboard.read(conn, start, end, tenants, top)
    # already validated: its JSON directly, not validated again by FastAPI in a worker thread
    return Response(figures.model_dump_json(), media_type="application/json")


def _invalid(field: str, message: str) -> HTTPException:
    return HTTPException(422, [{"loc": ["query", field], "msg": message, "type": "value_error"}])
