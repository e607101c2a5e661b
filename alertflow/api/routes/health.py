"""`GET /health`: the process answers and the alert store can be reached (signed-in callers only)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from alertflow.api.auth import Viewer
from alertflow.api.deps import EngineDep
from alertflow.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
def health(engine: EngineDep, _principal: Viewer) -> Health:
    """200 when the alert store answers a trivial query."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return Health(status="ok")
