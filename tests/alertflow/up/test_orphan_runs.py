"""Runs a dead runner had taken go back to Scheduled; runs without a deployment are left alone."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.states import Crashed, Pending, Running

from alertflow.up.orphan_runs import (
    RESCHEDULED_STATE_NAME,
    reschedule_crashed_runs,
    reschedule_orphaned_runs,
)
from alertflow.up.prefect_api import PrefectApi
from alertflow.up.prefect_server import LocalPrefectServer

pytestmark = pytest.mark.integration


@flow
def _orphan() -> None:
    """A flow no runner serves: its runs stay in whatever state the test sets."""


async def test_running_and_pending_deployment_runs_of_a_dead_runner_are_scheduled_again(
    prefect_server: LocalPrefectServer,
) -> None:
    deployment_id = await (await _orphan.ato_deployment(name=f"orphan-{uuid.uuid4().hex[:8]}")).apply()
    async with get_client() as client:
        running = await client.create_flow_run_from_deployment(deployment_id)
        pending = await client.create_flow_run_from_deployment(deployment_id)
        await client.set_flow_run_state(running.id, Running(), force=True)
        await client.set_flow_run_state(pending.id, Pending(), force=True)
        local = await client.create_flow_run(_orphan, state=Running())  # no deployment: not a runner's
        try:
            api = PrefectApi(prefect_server.api_url)
            rescheduled = reschedule_orphaned_runs(api, now=datetime.now(UTC))
            assert {running.id, pending.id} <= {uuid.UUID(r) for r in rescheduled}
            assert local.id not in {uuid.UUID(r) for r in rescheduled}
            for run_id in (running.id, pending.id):
                run = await client.read_flow_run(run_id)
                assert run.state is not None and run.state.is_scheduled()
                assert run.state.name == RESCHEDULED_STATE_NAME
                assert "process executing it died" in (run.state.message or "")
            still = await client.read_flow_run(local.id)
            assert still.state is not None and still.state.is_running()
        finally:
            await client.set_flow_run_state(local.id, Running(), force=True)
            await client.delete_flow_run(local.id)
            await client.delete_deployment(deployment_id)  # and its runs


async def test_a_crashed_deployment_run_is_scheduled_again_once_and_older_crashes_are_left_alone(
    prefect_server: LocalPrefectServer,
) -> None:
    deployment_id = await (await _orphan.ato_deployment(name=f"crashed-{uuid.uuid4().hex[:8]}")).apply()
    async with get_client() as client:
        old = await client.create_flow_run_from_deployment(deployment_id)
        await client.set_flow_run_state(old.id, Crashed(message="an earlier up"), force=True)
        since = datetime.now(UTC) + timedelta(milliseconds=10)
        await asyncio.sleep(0.05)
        crashed = await client.create_flow_run_from_deployment(deployment_id)
        await client.set_flow_run_state(
            crashed.id, Crashed(message="Process exited with status code: 1"), force=True
        )
        try:
            api = PrefectApi(prefect_server.api_url)
            tried: set[str] = set()
            first = reschedule_crashed_runs(api, now=datetime.now(UTC), since=since, tried=tried)
            assert [uuid.UUID(r) for r in first] == [crashed.id]
            run = await client.read_flow_run(crashed.id)
            assert run.state is not None and run.state.is_scheduled()
            assert run.state.name == RESCHEDULED_STATE_NAME
            still_old = await client.read_flow_run(old.id)
            assert still_old.state is not None and still_old.state.is_crashed()
            await client.set_flow_run_state(crashed.id, Crashed(message="again"), force=True)
            assert reschedule_crashed_runs(api, now=datetime.now(UTC), since=since, tried=tried) == []
        finally:
            await client.delete_deployment(deployment_id)  # and its runs
