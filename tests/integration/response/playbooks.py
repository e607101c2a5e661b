"""A playbook for the response tests: writes down the alert(s) it was started with, then completes.

No `from __future__ import annotations` here: Prefect builds the parameter model from the
annotations when the run starts, and a string "AlertRead" would not resolve there.

Run as a script it serves the deployment `record-alert/test` (the tests start it in a subprocess).
"""

import json
import os
from pathlib import Path

from prefect import flow

from alertmodel import AlertRead


@flow(name="record-alert")
def record_alert(alert: AlertRead, alerts: list[AlertRead] | None = None) -> str:
    """Write `<alert_uuid>.json` into $RECORD_DIR with what Prefect passed in (validated models)."""
    record = {
        "alert_uuid": alert.alert_uuid,
        "srcip": alert.srcip,
        "alerts": [a.alert_uuid for a in alerts or []],
    }
    out = Path(os.environ["RECORD_DIR"]) / f"{alert.alert_uuid}.json"
    out.write_text(json.dumps(record))
    return alert.alert_uuid


if __name__ == "__main__":
    record_alert.serve(name="test", limit=2)
