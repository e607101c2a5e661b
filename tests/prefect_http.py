"""Raw HTTP calls to a test Prefect server that survive its SQLite lock stalls.

An SQLite-backed Prefect server answers 503 or stalls for up to a minute under write
contention (shared PREFECT.md, "Burst test"); tests retry both within a bounded budget
instead of failing on a slow machine.
"""

from __future__ import annotations

import time
from typing import Any

import httpx


def prefect_call(
    http: httpx.Client, method: str, path: str, *, budget_s: float = 240, **kwargs: Any
) -> httpx.Response:
    """`http.request(...)`, retried on 503 and timeouts until `budget_s` has passed."""
    deadline = time.monotonic() + budget_s
    while True:
        try:
            response = http.request(method, path, **kwargs)
            if response.status_code != 503 or time.monotonic() > deadline:
                return response
        except httpx.TimeoutException:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.5)
