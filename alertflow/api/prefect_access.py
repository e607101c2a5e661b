"""The Prefect server the API starts playbooks on and loads blocks from, and what its failures answer.

The app is given the server's address (`create_app(prefect=...)`); a route enters it with
`prefect_settings(request)`. No address is a 503 that says how to give one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from fastapi import HTTPException, Request
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.exceptions import PrefectHTTPStatusError

from alertflow.api.schemas import Problem
from alertflow.up.prefect_address import PrefectAddress, use_prefect_server
from alertmodel.errors import ConfigurationError, IncidentError, IntegrationError, ServiceUnavailableError

OUTSIDE_ERRORS: dict[int | str, dict[str, Any]] = {
    502: {
        "model": Problem,
        "description": "The product (or its block on the Prefect server) refused or failed.",
    },
    503: {"model": Problem, "description": "The Prefect server or the product is unavailable; retry later."},
}


@contextmanager
def prefect_settings(request: Request) -> Iterator[PrefectAddress]:
    """Within the block, Prefect clients and block loads talk to the app's Prefect server; 503 without one."""
    address: PrefectAddress | None = request.app.state.prefect
    if address is None:
        raise HTTPException(
            503, "this API has no Prefect server: start it with PREFECT_API_URL set, or under `alertflow up`"
        )
    with use_prefect_server(address):
        yield address


@contextmanager
def outside_errors(conflict_status: int = 409) -> Iterator[None]:
    """The project's errors as answers: a refused incident move 409, a bad setting 422, the outside world 502/503."""
    try:
        yield
    except ServiceUnavailableError as exc:
        raise HTTPException(503, str(exc)) from None
    except IntegrationError as exc:
        raise HTTPException(502, str(exc)) from None
    except IncidentError as exc:
        raise HTTPException(conflict_status, str(exc)) from None
    except ConfigurationError as exc:
        raise HTTPException(422, str(exc)) from None


@contextmanager
def prefect_client(request: Request) -> Iterator[SyncPrefectClient]:
    """A client of the app's Prefect server; 503 when there is none or it does not answer."""
    with prefect_settings(request):
        try:
            with get_client(sync_client=True) as client:
                yield client
        except (httpx.TransportError, PrefectHTTPStatusError) as exc:
            status = getattr(getattr(exc, "response", None), "status_code", None)
            if isinstance(exc, PrefectHTTPStatusError) and status is not None and status < 500:
                raise
            raise HTTPException(503, "Prefect's server does not answer; retry later") from None
