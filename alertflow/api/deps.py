"""FastAPI dependencies every route group uses."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine


async def get_engine(request: Request) -> Engine:
    """The alert-store engine the app was created with (async: no worker-thread hop for an attribute read)."""
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]
