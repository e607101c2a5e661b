"""Helpers for task tests that run inside real flows on the session Prefect server."""

from __future__ import annotations

from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId


async def artifacts_of(flow_run_id: Any) -> list[Any]:
    """The artifacts attached to a flow run (and its task runs)."""
    async with get_client() as client:
        return await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
