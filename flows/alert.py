"""The alert a response profile hands to a playbook, as a flow parameter."""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict
from sqlalchemy import select

from alertmodel import Alert, AlertBase
from alertmodel.engine import make_engine
from alertmodel.settings import get_settings


class PlaybookAlert(AlertBase):
    """An stored alert as a playbook receives it; fields the sender leaves out keep Alertflex defaults."""

    model_config = ConfigDict(extra="ignore")  # type: ignore[assignment]

    alert_id: int | None = None
    time_collr: datetime | None = None  # type: ignore[assignment]


def stored_alert(alert_uuid: str) -> PlaybookAlert:
    """The alert with this uuid, read from the alert store; LookupError when there is none."""
    uuid = alert_uuid.strip()
    if not uuid or len(uuid) > 64:
        raise ValueError(f"alert_uuid must be 1..64 characters, not {alert_uuid[:80]!r}")
    engine = make_engine(get_settings().resolved_database_url)
    try:
        table = Alert.__table__
        with engine.connect() as conn:
            row = conn.execute(select(table).where(table.c.alert_uuid == uuid)).first()
    finally:
        engine.dispose()
    if row is None:
        raise LookupError(f"no stored alert has alert_uuid {uuid!r}")
    return PlaybookAlert.model_validate(dict(row._mapping))


def the_alert(alert: PlaybookAlert | None, alert_uuid: str | None) -> PlaybookAlert:
    """The run's alert: the one passed whole (response profiles), or the stored one `alert_uuid` names.

    A run started by hand from Prefect's UI gives only the uuid, so its form asks for one field
    instead of the alert's thirty-odd. Given both, they must agree.
    """
    if alert is not None:
        if alert_uuid and alert_uuid.strip() != alert.alert_uuid:
            raise ValueError(f"alert_uuid {alert_uuid[:64]!r} is not the uuid of the alert passed")
        return alert
    if not alert_uuid:
        raise ValueError("give the alert, or just its alert_uuid")
    return stored_alert(alert_uuid)
