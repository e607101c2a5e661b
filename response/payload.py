"""The outbox row's payload: what the outbox writer records and every executor reads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alertmodel.errors import ConfigurationError
from response.profiles import Action


class OutboxPayload(BaseModel):
    """One action of one response profile, fired by one alert."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: str = Field(description="Name of the response profile that fired.")
    action_index: int = Field(ge=0, description="Position of the action in the profile's list.")
    alert_uuid: str = Field(description="The alert that fired it (the group's lead for a grouped profile).")
    action: Action = Field(description="The action as the profile had it when the alert fired.")


@dataclass(slots=True)
class OutboxItem:
    """One claimed outbox row, as an executor sees it."""

    id: int
    kind: str
    key: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime | None = None
    """When the row was written (in the transaction that stored its alert)."""
    _request: OutboxPayload | None = field(default=None, repr=False, compare=False)

    @property
    def request(self) -> OutboxPayload:
        """The payload, validated; ConfigurationError naming the row when it is not one."""
        if self._request is None:
            try:
                self._request = OutboxPayload.model_validate(self.payload)
            except ValidationError as exc:
                raise ConfigurationError(f"outbox row {self.key} has an invalid payload: {exc}") from exc
        return self._request


Executor = Callable[[OutboxItem], Awaitable[None]]
"""Performs one outbox row; must be safe to run again for the same row."""
