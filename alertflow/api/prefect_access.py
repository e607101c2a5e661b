"""The API's way to Prefect's server: configured by PREFECT_API_URL, never a temporary server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from fastapi import HTTPException, Request
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.exceptions import PrefectHTTPStatusError
from prefect.settings import PREFECT_API_URL, temporary_settings


def configured_api_url() -> str | None:
    """The Prefect API this process is configured for (PREFECT_API_URL), read when the app is made."""
    return PREFECT_API_URL.value() or None


@contextmanager
def prefect_client(request: Request) -> Iterator[SyncPrefectClient]:
    """A client of the app's Prefect server; 503 when none is configured or it does not answer.

    Without PREFECT_API_URL Prefect would start a temporary server inside the API process,
    whose runs nobody executes: refuse instead. The address is the one the app was made
    with, because request threads do not see settings changed after Prefect was imported.
    """
    url = request.app.state.prefect_api_url
    if not url:
        raise HTTPException(
            503, "no Prefect server is configured (PREFECT_API_URL); playbook runs are unavailable"
        )
    try:
        with temporary_settings(updates={PREFECT_API_URL: url}), get_client(sync_client=True) as client:
            yield client
    except (httpx.TransportError, PrefectHTTPStatusError) as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if isinstance(exc, PrefectHTTPStatusError) and status is not None and status < 500:
            raise
        raise HTTPException(503, "Prefect's server does not answer; retry later") from None
