"""Late auto-scheduled runs are skipped as Missed; runs created on purpose are never touched."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.states import Scheduled

from alertflow.up.late_runs import MISSED_STATE_NAME, late_run_filter, skip_late_runs
from alertflow.up.prefect_api import PrefectApi
from alertflow.up.prefect_server import LocalPrefectServer
from deployments.schedules import recurring_interval

pytestmark = pytest.mark.integration


@flow
def _never_served() -> None:
    """A flow no runner serves, so its runs stay Scheduled."""


def test_the_filter_asks_for_scheduled_runs_older_than_the_grace() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    body = late_run_filter(now, timedelta(minutes=15))
    assert body["flow_runs"]["state"] == {"type": {"any_": ["SCHEDULED"]}}
    assert body["flow_runs"]["expected_start_time"] == {"before_": "2026-01-01T11:45:00+00:00"}


async def test_late_auto_scheduled_runs_are_cancelled_as_missed_and_manual_ones_wait(
    prefect_server: LocalPrefectServer,
) -> None:
    deployment = await _never_served.ato_deployment(
        name=f"late-{uuid.uuid4().hex[:8]}", schedules=[recurring_interval(timedelta(seconds=2))]
    )
    deployment_id = await deployment.apply()
    async with get_client() as client:
        manual = await client.create_flow_run_from_deployment(
            deployment_id, state=Scheduled(scheduled_time=datetime.now(UTC) - timedelta(hours=1))
        )
        try:
            api = PrefectApi(prefect_server.api_url)
            deadline = time.monotonic() + 120
            skipped: list[str] = []
            while not skipped and time.monotonic() < deadline:
                await asyncio.sleep(1)
                skipped = skip_late_runs(api, now=datetime.now(UTC), grace=timedelta(seconds=1))
            assert skipped, "no auto-scheduled run became late"
            for run_id in skipped:
                run = await client.read_flow_run(uuid.UUID(run_id))
                assert run.auto_scheduled
                assert run.state is not None and run.state.is_cancelled()
                assert run.state.name == MISSED_STATE_NAME
                assert "still not started" in (run.state.message or "")
            assert manual.id not in {uuid.UUID(r) for r in skipped}
            manual_now = await client.read_flow_run(manual.id)
            assert manual_now.state is not None and manual_now.state.is_scheduled()
        finally:
            await client.delete_deployment(deployment_id)  # and its runs
