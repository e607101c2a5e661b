"""The dashboard's health figures, per principal, on a migrated SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from alertflow.api import dashboard as dashboard_figures
from alertflow.api.accounts import Principal
from alertflow.console import health
from alertmodel import Outbox, migrate
from alertmodel.engine import make_engine
from response.outbox_writer import ResponseHook
from tests.alertfactory import import_profiles, make_alert, store_batch
from tests.alertflow.api.ops import dead_letter

EVERYONE = Principal("admin", "admin", ())
TENANT_A = Principal("analyst-a", "analyst", ("tenant-a",))


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'health.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def test_health_counts_alerts_by_hour_dead_letters_and_the_outbox_of_the_principals_tenants(
    engine: Engine,
) -> None:
    now = datetime.now(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    import_profiles(
        engine, {"response_profiles": [{"name": "p", "actions": [{"kind": "jira", "block": "x"}]}]}
    )
    alerts = [
        make_alert(ref_id="tenant-a", action="p", time_collr=hour + timedelta(seconds=1)),
        make_alert(ref_id="tenant-b", action="p", time_collr=hour + timedelta(seconds=2)),
        make_alert(ref_id="tenant-b", action="p", time_collr=hour - timedelta(minutes=30)),
    ]
    store_batch(engine, alerts, ResponseHook())
    table = Outbox.__table__
    with engine.begin() as conn:
        conn.execute(
            table.update()
            .where(table.c.key.like(f"{alerts[2]['alert_uuid']}:%"))
            .values(state="failed", created_at=now - timedelta(hours=2))
        )
        conn.execute(
            table.update()
            .where(table.c.key.like(f"{alerts[1]['alert_uuid']}:%"))
            .values(created_at=now - timedelta(minutes=5))
        )
    dead_letter(engine)
    with engine.connect() as conn:
        everyone = health.read(conn, EVERYONE, now)
        tenant = health.read(conn, TENANT_A, now)
        day = dashboard_figures.read(conn, *dashboard_figures.align(now - timedelta(hours=24), now), None, 10)
        assert health.read(conn, EVERYONE, now, hourly=day) == everyone  # the dashboard's own figures reused
    assert (everyone.this_hour, everyone.last_hour) == (2, 1)
    assert (everyone.dead_letters, everyone.outbox_pending, everyone.outbox_failed) == (1, 2, 1)
    assert everyone.outbox_oldest_s is not None and 299 <= everyone.outbox_oldest_s <= 360
    assert everyone.outbox_oldest == "5 min"
    assert (tenant.this_hour, tenant.last_hour) == (1, 0)
    assert (tenant.dead_letters, tenant.outbox_pending, tenant.outbox_failed) == (None, 1, 0)
