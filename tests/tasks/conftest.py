"""Helpers for task tests: real flows on the session Prefect server, stalled servers, no-secret checks."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response


class StalledServer:
    """A local HTTP server of its own whose `stall()` handler answers only at teardown (timeout tests).

    Its own server, not the shared `httpserver`: a handler still sleeping after its test would
    answer into the next test's request log.
    """

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.server = HTTPServer(host="127.0.0.1", port=0)

    def stall(self, body: str = "{}") -> Callable[[Request], Response]:
        def handler(_: Request) -> Response:
            self.gate.wait(60)
            return Response(body, status=200, content_type="application/json")

        return handler


@pytest.fixture
def stalled() -> Iterator[StalledServer]:
    stalled = StalledServer()
    stalled.server.start()
    try:
        yield stalled
    finally:
        stalled.gate.set()
        stalled.server.stop()


def assert_secret_absent(secret: str, error: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    """The secret is in neither the error text, its causes' texts as we show them, nor any log record."""
    assert secret not in str(error)
    assert secret not in repr(error)
    for record in caplog.records:
        assert secret not in record.getMessage(), record.getMessage()


@pytest.fixture(autouse=True)
def _capture_all_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)


SAMPLE_ALERT = {
    "alert_uuid": "6f1c2a4e-0b7d-5c3e-9a8f-1e2d3c4b5a69",
    "node_id": "node1",
    "source": "Suricata",
    "type": "NET",
    "event": "2010935",
    "severity": 3,
    "category": "Attempted Information Leak",
    "description": "ET SCAN Suspicious inbound to MSSQL port 1433",
    "srcip": "203.0.113.5",
    "dstip": "10.0.0.8",
    "srcport": 51544,
    "dstport": 1433,
    "agent": "indef",
    "user": "indef",
    "file": "indef",
    "hash_md5": "indef",
    "hash_sha1": "indef",
    "hash_sha256": "indef",
    "time_collr": "2026-11-23T16:00:00+00:00",
}


async def artifacts_of(flow_run_id: Any) -> list[Any]:
    """The artifacts attached to a flow run (and its task runs)."""
    async with get_client() as client:
        return await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
