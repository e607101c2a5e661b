"""Request and response bodies of the API (pydantic): what the OpenAPI document shows."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class Health(BaseModel):
    """The API and its alert store answer."""

    status: Literal["ok"]
