"""Alert rows as the ingest core emits them (every ALERT_COLUMNS name), for response tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from alertmodel import ALERT_COLUMNS, INDEF

_INTS = {"severity": 0, "score": 0, "srcport": 0, "dstport": 0}


def make_alert(**fields: Any) -> dict[str, Any]:
    """A Suricata-looking alert row; `fields` override any column."""
    row: dict[str, Any] = {name: INDEF for name in ALERT_COLUMNS}
    row.update(_INTS)
    row.update(
        alert_uuid=str(uuid.uuid4()),
        node_id="node1",
        source="Suricata",
        type="NET",
        event="2019284",
        severity=2,
        category="Attempted Information Leak",
        description="ET SCAN Nmap Scripting Engine User-Agent Detected",
        srcip="10.0.0.5",
        dstip="10.0.0.9",
        status="processed",
        time_collr=datetime(2026, 11, 23, 12, 0, tzinfo=UTC),
        time_cntrl=None,
        json_event='{"event_type":"alert"}',
    )
    row.update(fields)
    return row


def store_batch(engine: Any, rows: list[dict[str, Any]], *hooks: Any) -> None:
    """What the ingest worker does per batch: insert the alerts and run the hooks in one transaction."""
    from alertmodel.repository import insert_alerts

    with engine.begin() as conn:
        insert_alerts(conn, rows)
        for hook in hooks:
            hook(conn, rows)


def import_profiles(engine: Any, document: dict[str, Any]) -> None:
    """Store a profiles document (as `alertflow profiles import` does)."""
    from response.profiles import ProfileFile, store_profiles

    with engine.begin() as conn:
        store_profiles(conn, ProfileFile.model_validate(document), origin="test")
