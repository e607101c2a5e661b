"""`GET /api/v1/dashboard` on both stores: the rollups' figures equal GROUP BYs over the alert table."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest

from alertflow.api import dashboard
from alertmodel.types import utcnow
from ingest.batch import Batch
from ingest.store import BatchWriter
from response.incidents import open_incident
from tests.alertfactory import make_alert

from .conftest import TENANT_A, TENANT_B, USERS, LiveApi

WINDOWS = ["24h", "7d", "30d", "3h"]


@pytest.fixture(scope="module")
def spread(live_api: LiveApi) -> LiveApi:
    """Besides the sample files the fixture ingested, 3,500 alerts over the last 20 days, via the ingest writer."""
    rng = random.Random(5)
    now = utcnow()
    alerts = [
        make_alert(
            ref_id=rng.choice([TENANT_A, TENANT_B]),
            severity=rng.randint(0, 3),
            source=rng.choice(["Suricata", "Wazuh", "Falco"]),
            category=rng.choice(["scan", "sshd", "rootcheck", "Attempted Information Leak"]),
            srcip=f"198.51.100.{rng.randint(1, 40)}",
            time_collr=now - timedelta(seconds=rng.randint(0, 20 * 86400)),
        )
        for _ in range(2000)
    ]
    # and 1,500 from a skewed pool of 300 source addresses (a few very frequent), as real sources are
    alerts += [
        make_alert(
            ref_id=rng.choice([TENANT_A, TENANT_B]),
            srcip=f"203.0.{113 + i // 250}.{i % 250 + 1}",
            time_collr=now - timedelta(seconds=rng.randint(0, 20 * 86400)),
        )
        for i in (int(300 * rng.random() ** 4) for _ in range(1500))
    ]
    writer = BatchWriter(live_api.engine)
    for i in range(0, len(alerts), 250):
        writer.write(Batch(alerts=alerts[i : i + 250]))
    return live_api


def _expected(
    api: LiveApi, answer: dict[str, Any], tenants: list[str] | None, top: int = 10
) -> dict[str, Any]:
    since, until = (datetime.fromisoformat(answer[k]) for k in ("since", "until"))
    with api.engine.connect() as conn:
        return dashboard.scan(conn, since, until, tenants, top).model_dump(mode="json")


def _tenants(user: str) -> list[str] | None:
    return USERS[user][1] or None


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("user", ["viewer", "analyst-a", "viewer-b"])
def test_dashboard_figures_equal_a_group_by_over_the_alerts(spread: LiveApi, user: str, window: str) -> None:
    answer = spread.client(user).get("/api/v1/dashboard", params={"window": window}).json()
    assert answer["total"] > 0
    assert answer == _expected(spread, answer, _tenants(user))
    assert answer["total"] == sum(b["count"] for b in answer["histogram"])
    assert answer["total"] == sum(s["count"] for s in answer["by_severity"])


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("tenants", [None, [TENANT_A], [TENANT_B]])
@pytest.mark.parametrize("top", [1, 3, 10])
def test_the_bounded_top_srcip_equals_the_group_by(
    spread: LiveApi, window: str, tenants: list[str] | None, top: int
) -> None:
    until = utcnow()
    amount, unit = int(window[:-1]), window[-1]
    since, until = dashboard.align(until - timedelta(**{"hours" if unit == "h" else "days": amount}), until)
    with spread.engine.connect() as conn:
        bounded = dashboard._top(conn, "srcip", since, until, dashboard._ranges(since, until), tenants, top)
        expected = dashboard.scan(conn, since, until, tenants, top).top_srcip
    if window in ("7d", "30d"):
        assert bounded is not None  # the bound applied (no GROUP BY fallback)
    if bounded is not None:  # else too few of its seeds fall in a short window: the GROUP BY ranks
        assert bounded == [(v.value, v.count) for v in expected]


def test_the_top_srcip_counts_only_the_values_the_bound_leaves(
    spread: LiveApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted: list[str] = []
    totals = dashboard._totals

    def recording(conn: Any, dim: str, ranges: Any, tenants: set[str], keys: Any) -> Any:
        counted.extend(keys)
        return totals(conn, dim, ranges, tenants, keys)

    monkeypatch.setattr(dashboard, "_totals", recording)
    answer = spread.client("viewer").get("/api/v1/dashboard", params={"window": "30d", "top": 3}).json()
    assert answer == _expected(spread, answer, None, top=3)
    with spread.engine.connect() as conn:
        since, until = (datetime.fromisoformat(answer[k]) for k in ("since", "until"))
        distinct = len(dashboard.scan(conn, since, until, None, 10_000).top_srcip)
    assert 3 <= len(counted) < distinct / 2, (len(counted), distinct)


def test_a_tenant_bound_user_sees_only_its_tenants_figures(spread: LiveApi) -> None:
    every = spread.client("viewer").get("/api/v1/dashboard", params={"window": "30d"}).json()
    a = spread.client("analyst-a").get("/api/v1/dashboard", params={"window": "30d"}).json()
    b = spread.client("viewer-b").get("/api/v1/dashboard", params={"window": "30d"}).json()
    assert 0 < a["total"] < every["total"]
    assert 0 < b["total"] < every["total"]
    assert a["total"] + b["total"] == every["total"]  # every alert here belongs to one of the two
    other = spread.client("analyst-a").get("/api/v1/dashboard", params={"window": "30d", "tenant": TENANT_B})
    assert other.json()["total"] == 0
    own = (
        spread.client("viewer").get("/api/v1/dashboard", params={"window": "30d", "tenant": TENANT_B}).json()
    )
    assert own["total"] == b["total"]


def test_explicit_times_are_widened_to_whole_hours(spread: LiveApi) -> None:
    until = utcnow() - timedelta(days=2, minutes=17)
    since = until - timedelta(days=3, hours=5, minutes=3)
    answer = (
        spread.client("viewer")
        .get("/api/v1/dashboard", params={"since": since.isoformat(), "until": until.isoformat(), "top": 3})
        .json()
    )
    assert answer["since"] == since.replace(minute=0, second=0, microsecond=0).isoformat().replace(
        "+00:00", "Z"
    )
    assert len(answer["top_srcip"]) == 3
    assert answer == _expected(spread, answer, None, top=3)


def test_opening_an_incident_moves_the_alert_to_the_incident_status(spread: LiveApi) -> None:
    before = spread.client("viewer").get("/api/v1/dashboard", params={"window": "30d"}).json()
    alert = make_alert(ref_id=TENANT_A, time_collr=utcnow() - timedelta(days=1))
    BatchWriter(spread.engine).write(Batch(alerts=[alert]))
    open_incident(spread.engine, alert["alert_uuid"], actor="analyst")
    after = spread.client("viewer").get("/api/v1/dashboard", params={"window": "30d"}).json()
    statuses = {s["value"]: s["count"] for s in after["by_status"]}
    old = {s["value"]: s["count"] for s in before["by_status"]}
    assert after["total"] == before["total"] + 1
    assert statuses["incident"] == old.get("incident", 0) + 1
    assert after == _expected(spread, after, None)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"window": "0h"}, "window"),
        ({"window": "1w"}, "window"),
        ({"window": "401d"}, "window"),
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "since"),
        ({"since": "2020-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "since"),
        ({"until": "9999-12-31T23:30:00Z"}, "until"),
        ({"top": 101}, "top"),
        ({"since": "0.5"}, "since"),
    ],
)
def test_bad_windows_are_a_422_naming_the_field(
    live_api: LiveApi, params: dict[str, Any], field: str
) -> None:
    response = live_api.client("viewer").get("/api/v1/dashboard", params=params)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][-1] == field
