"""The alert a response profile hands to a playbook, as a flow parameter."""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict

from alertmodel import AlertBase


class PlaybookAlert(AlertBase):
    """An stored alert as a playbook receives it; fields the sender leaves out keep Alertflex defaults."""

    model_config = ConfigDict(extra="ignore")  # type: ignore[assignment]

    alert_id: int | None = None
    time_collr: datetime | None = None  # type: ignore[assignment]
