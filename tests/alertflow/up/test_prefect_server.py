from __future__ import annotations

import httpx
from prefect import flow, get_client

from alertflow.up.prefect_server import LocalPrefectServer


@flow
def _add(a: int, b: int) -> int:
    return a + b


def test_the_session_prefect_server_runs_flows_and_records_them(prefect_server: LocalPrefectServer) -> None:
    assert prefect_server.healthy()
    assert _add(2, 3) == 5
    response = httpx.post(f"{prefect_server.api_url}/flow_runs/filter", json={"limit": 50}, timeout=120)
    assert response.status_code == 200
    assert any(run["name"] and run["state_type"] == "COMPLETED" for run in response.json())


async def test_the_client_in_this_process_points_at_the_session_server(
    prefect_server: LocalPrefectServer,
) -> None:
    async with get_client() as client:
        assert str(client.api_url).rstrip("/") == prefect_server.api_url
        assert (await client.api_healthcheck()) is None
