"""A small synchronous client for the few Prefect REST calls `alertflow up` makes itself.

Plain httpx rather than the Prefect client: the supervisor stays light (no Prefect import
in the parent process), and every call retries the 503s an SQLite-backed server answers
under lock contention (shared PREFECT.md, "Triggering latency").
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from alertmodel.errors import IntegrationError


class PrefectApi:
    """Calls to one Prefect server's REST API, with basic auth when it has an auth string."""

    def __init__(self, api_url: str, auth_string: str | None = None, *, timeout_s: float = 10) -> None:
        self.api_url = api_url.rstrip("/")
        auth = None
        if auth_string:
            user, _, password = auth_string.partition(":")
            auth = httpx.BasicAuth(user, password)
        self._http = httpx.Client(base_url=self.api_url, auth=auth, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PrefectApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, *, json: Any = None, attempts: int = 8) -> Any:
        """One API call; 503 and connection errors are retried with backoff, other errors raise."""
        delay = 0.2
        for attempt in range(1, attempts + 1):
            try:
                response = self._http.request(method, path, json=json)
            except httpx.TransportError as exc:
                if attempt == attempts:
                    raise IntegrationError(f"Prefect API {self.api_url}{path}: {exc}") from exc
            else:
                if response.status_code != 503 or attempt == attempts:
                    if response.status_code >= 400:
                        raise IntegrationError(
                            f"Prefect API {method} {path} answered {response.status_code}: "
                            f"{response.text[:300]}"
                        )
                    return response.json() if response.content else None
            time.sleep(delay)
            delay = min(delay * 2, 3.0)
        raise AssertionError("unreachable")  # pragma: no cover

    def healthy(self) -> bool:
        """Whether `/health` answers 200 now."""
        try:
            return self._http.get("/health", timeout=3).status_code == 200
        except httpx.HTTPError:
            return False

    def deployment_names(self) -> set[str]:
        """Every deployment as `flow-name/deployment-name`."""
        flows = {f["id"]: f["name"] for f in self.request("POST", "/flows/filter", json={"limit": 200})}
        deployments = self.request("POST", "/deployments/filter", json={"limit": 200})
        return {f"{flows.get(d['flow_id'], '?')}/{d['name']}" for d in deployments}

    def deployment_by_name(self, name: str) -> dict[str, Any]:
        """A deployment by `flow-name/deployment-name`."""
        return self.request("GET", f"/deployments/name/{name}")
