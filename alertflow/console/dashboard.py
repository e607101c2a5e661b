"""The dashboard's figures and its server-drawn SVG bar charts.

`summarize` is the one place the figures come from: the dashboard rollups the API's
`/dashboard` reads (`alertflow.api.dashboard.read`, with the principal's tenants), the
incident listing, and the health figures (`alertflow.console.health`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from alertflow.api import dashboard as dashboard_figures
from alertflow.api import incident_search
from alertflow.api.accounts import Principal
from alertflow.api.incident_schemas import IncidentSearch
from alertflow.console import health
from alertmodel.user_settings import DEFAULT_DASHBOARD_WINDOW

WINDOWS = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
DEFAULT_WINDOW = DEFAULT_DASHBOARD_WINDOW
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
    health: health.Health | None = None


BAR_HEIGHT, BAR_GAP, BAR_MAX_WIDTH = 22, 6, 300
LABEL_CHARS = 26


def summarize(conn: Connection, principal: Principal, *, window: str, now: datetime) -> Dashboard:
    """Alert totals and charts over the window (whole hours, from the dashboard rollups), and incident counts."""
    since, until = dashboard_figures.align(now - WINDOWS[window], now)
    figures = dashboard_figures.read(conn, since, until, list(principal.tenants) or None, TOP)
    by_status = {v.value: v.count for v in figures.by_status}
    severity = [(s.severity, s.count) for s in sorted(figures.by_severity, key=lambda s: -s.severity)]
    charts = [
        _chart("Alerts by severity", severity, "severity", SEVERITY_NAMES),
        _chart("Alerts by source", [(v.value, v.count) for v in figures.by_source], "source"),
        _chart("Alerts by category", [(v.value, v.count) for v in figures.by_category], "category"),
        _chart("Top source IPs", [(v.value, v.count) for v in figures.top_srcip], "srcip"),
    ]
    open_page, _ = incident_search.search(conn, principal, IncidentSearch(state=OPEN_STATES, limit=TOP))
    return Dashboard(
        window=window,
        since=since,
        total=figures.total,
        by_status=by_status,
        charts=charts,
        incidents_by_state=incident_search.counts_by_state(conn, principal),
        open_incidents=open_page,
        health=health.read(conn, principal, now, hourly=figures),
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
