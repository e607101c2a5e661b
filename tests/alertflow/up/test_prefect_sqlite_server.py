"""The embedded Prefect server begins its SQLite writes IMMEDIATE: concurrent flow-run creations
from one deployment wait their turn for the write lock instead of failing with 503 (Prefect's
DEFERRED begin answers most of them 503 at this concurrency)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from alertflow.up.prefect_server import LocalPrefectServer, free_port

CONCURRENT = 16
CREATIONS = 160


async def _create_runs(api_url: str) -> dict[int | str, int]:
    answers: dict[int | str, int] = {}
    async with httpx.AsyncClient(base_url=api_url, timeout=60) as api:
        flow = (await api.post("/flows/", json={"name": "write-race"})).raise_for_status().json()
        deployment = (
            (await api.post("/deployments/", json={"name": "d", "flow_id": flow["id"]}))
            .raise_for_status()
            .json()
        )
        slots = asyncio.Semaphore(CONCURRENT)

        async def create() -> None:
            async with slots:
                try:
                    answer: int | str = (
                        await api.post(f"/deployments/{deployment['id']}/create_flow_run", json={})
                    ).status_code
                except httpx.TransportError as exc:
                    answer = type(exc).__name__
                answers[answer] = answers.get(answer, 0) + 1

        await asyncio.gather(*(create() for _ in range(CREATIONS)))
    return answers


def test_concurrent_flow_run_creations_all_succeed_without_a_retry(tmp_path: Path) -> None:
    server = LocalPrefectServer(home=tmp_path / "prefect", port=free_port()).start()
    try:
        answers = asyncio.run(_create_runs(server.api_url))
        with httpx.Client(base_url=server.api_url, timeout=30) as api:
            stored = api.post("/flow_runs/count", json={}).raise_for_status().json()
    finally:
        server.stop()
    assert answers == {201: CREATIONS}
    assert stored == CREATIONS
