"""A playbook with parameters of every form kind, deployed on the test Prefect server (nobody serves it)."""

from __future__ import annotations

from typing import Any, Literal

from prefect import flow

from alertmodel import AlertRead


@flow(name="console-manual")
def console_manual(
    alert: AlertRead,
    note: str = "from the console",
    hours: int = 24,
    mode: Literal["watch", "block"] = "watch",
    extra: dict[str, Any] | None = None,
) -> str:
    """Return the alert's uuid: the console tests look at the run's parameters, not at what it does."""
    return alert.alert_uuid
