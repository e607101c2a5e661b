"""The dashboard's figures and its server-drawn SVG bar charts.

`summarize` is the one place the figures come from: counts over the alert search's own
tenant filter and WHERE clauses (`alert_queries.visible`, `alert_queries.where`) and the
incident listing's. When a rollup table answers these faster, only this function changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from alertflow.api import alert_queries, incident_search
from alertflow.api.accounts import Principal
from alertflow.api.alert_schemas import AlertFilters
from alertflow.api.incident_schemas import IncidentSearch

WINDOWS = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
DEFAULT_WINDOW = "24h"
TOP = 10
OPEN_STATES = ["new", "in_progress", "reopened"]
SEVERITY_NAMES = {0: "0 info", 1: "1 low", 2: "2 medium", 3: "3 high"}


@dataclass
class Bar:
    """One bar of a chart: its label, count, and geometry in the chart's SVG units."""

    label: str
    count: int
    value: str
    y: int = 0
    width: int = 0


@dataclass
class Chart:
    """A horizontal bar chart, drawn by the template as SVG from these numbers."""

    title: str
    bars: list[Bar]
    height: int = 0
    filter_name: str = ""

    @property
    def total(self) -> int:
        return sum(b.count for b in self.bars)


@dataclass
class Dashboard:
    """Everything the dashboard shows for one principal and window."""

    window: str
    since: datetime
    total: int
    by_status: dict[str, int]
    charts: list[Chart]
    incidents_by_state: dict[str, int]
    open_incidents: list[dict[str, Any]] = field(default_factory=list)


BAR_HEIGHT, BAR_GAP, BAR_MAX_WIDTH = 22, 6, 300
LABEL_CHARS = 26


def summarize(conn: Connection, principal: Principal, *, window: str, now: datetime) -> Dashboard:
    """Alert totals and charts over the window, and incident counts, as this principal may see them."""
    since = now - WINDOWS[window]
    clauses = [alert_queries.visible(principal), *alert_queries.where(AlertFilters(since=since))]
    c = alert_queries.c

    def grouped(column: Any, limit: int | None = None) -> list[tuple[Any, int]]:
        count = func.count()
        query = select(column, count).where(*clauses).group_by(column).order_by(count.desc(), column)
        if limit is not None:
            query = query.limit(limit)
        return [(value, int(n)) for value, n in conn.execute(query)]

    by_status = dict(grouped(c.status))
    severity = sorted(grouped(c.severity), key=lambda pair: -pair[0])
    charts = [
        _chart("Alerts by severity", severity, "severity", SEVERITY_NAMES),
        _chart("Alerts by source", grouped(c.source, TOP), "source"),
        _chart("Alerts by category", grouped(c.category, TOP), "category"),
        _chart("Top source IPs", grouped(c.srcip, TOP), "srcip"),
    ]
    open_page, _ = incident_search.search(conn, principal, IncidentSearch(state=OPEN_STATES, limit=TOP))
    return Dashboard(
        window=window,
        since=since,
        total=sum(by_status.values()),
        by_status=by_status,
        charts=charts,
        incidents_by_state=incident_search.counts_by_state(conn, principal),
        open_incidents=open_page,
    )


def _chart(
    title: str, pairs: list[tuple[Any, int]], filter_name: str, names: dict[Any, str] | None = None
) -> Chart:
    top = max((n for _, n in pairs), default=0)
    bars = []
    for i, (value, count) in enumerate(pairs):
        width = round(BAR_MAX_WIDTH * count / top) if top else 0
        label = (names or {}).get(value, str(value))
        label = label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"
        bars.append(Bar(label, count, str(value), y=i * (BAR_HEIGHT + BAR_GAP), width=max(width, 1)))
    return Chart(
        title, bars, height=max(len(bars) * (BAR_HEIGHT + BAR_GAP), BAR_HEIGHT), filter_name=filter_name
    )
