"""A playbook for the crash tests: its first run for an alert sleeps (so its worker can be killed
mid-run), a later run for the same alert and deployment completes at once.

No `from __future__ import annotations`: Prefect builds the parameter model from the annotations.
"""

import os
import time
from pathlib import Path

from prefect import flow
from prefect.runtime import deployment

from alertmodel import AlertRead


@flow(name="sleep-once")
def sleep_once(alert: AlertRead, alerts: list[AlertRead] | None = None) -> str:
    """Leave `<alert_uuid>.<deployment>.started` in $RECORD_DIR; sleep the first time, then `.done`."""
    base = Path(os.environ["RECORD_DIR"]) / f"{alert.alert_uuid}.{deployment.name}"
    started = base.with_name(base.name + ".started")
    first = not started.exists()
    started.write_text("x")
    if first:
        time.sleep(600)
    base.with_name(base.name + ".done").write_text("x")
    return alert.alert_uuid
