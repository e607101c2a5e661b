"""`GET /metrics`: this API process's Prometheus metrics and the database gauges, for admins.

The ingest worker's counters live in the worker process; scrape them at its own `--metrics-port`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from alertflow.api.auth import GlobalAdmin
from alertmodel.metrics import REGISTRY, DatabaseGauges

router = APIRouter(tags=["metrics"])

REFRESH_AFTER_S = 5.0
"""A scrape reads the database again only when the last reading is older than this."""


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition format (version 0.0.4).",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
def metrics(request: Request, _principal: GlobalAdmin) -> Response:
    """Outbox depth and oldest due age, playbook runs by deployment and state, actions failed,
    forwarder lag and this process's resource use. Admins bound to no tenant only: the figures
    span every tenant."""
    state = request.app.state
    if getattr(state, "metrics_registry", None) is None:
        state.metrics_database = DatabaseGauges(state.engine)
        state.metrics_registry = CollectorRegistry()
        state.metrics_registry.register(state.metrics_database)
    state.metrics_database.refresh_if_older(REFRESH_AFTER_S)
    body = generate_latest(REGISTRY) + generate_latest(state.metrics_registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
