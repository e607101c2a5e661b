"""Distinct, real-shaped events for worker tests: a recorded Suricata alert with a unique tag."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import orjson
from sqlalchemy import Engine, func, select

from alertmodel import Alert, DeadLetter

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"
_ALERT = next(
    line
    for line in (SAMPLES / "suricata" / "eve-7.0.10-alerts.json").read_bytes().splitlines()
    if orjson.loads(line).get("event_type") == "alert"
)
BAD_LINES = (SAMPLES / "malformed" / "bad-lines.jsonl").read_bytes().splitlines()


def suricata_alert(tag: str) -> bytes:
    """One Suricata EVE alert line (no newline) that no other tag produces."""
    return b'{"alertflow_test":"' + tag.encode() + b'",' + _ALERT[1:]


def suricata_alerts(n: int, prefix: str, start: int = 0) -> list[bytes]:
    """`n` distinct alert lines."""
    return [suricata_alert(f"{prefix}-{i}") for i in range(start, start + n)]


def count_alerts(engine: Engine) -> tuple[int, int]:
    """(rows, distinct alert_uuids) in the alert table."""
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(Alert.__table__)).scalar_one()
        distinct = conn.execute(select(func.count(func.distinct(Alert.__table__.c.alert_uuid)))).scalar_one()
    return int(total), int(distinct)


def stored_tags(engine: Engine) -> list[str]:
    """The alertflow_test tag of every stored alert, in insertion order."""
    with engine.connect() as conn:
        events = conn.execute(
            select(Alert.__table__.c.json_event).order_by(Alert.__table__.c.alert_id)
        ).scalars()
        return [orjson.loads(e)["alertflow_test"] for e in events]


def dead_letter_reasons(engine: Engine) -> list[str]:
    """Every dead letter's reason."""
    with engine.connect() as conn:
        return list(conn.execute(select(DeadLetter.__table__.c.reason)).scalars())


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    """Poll `predicate` until it is true; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)
