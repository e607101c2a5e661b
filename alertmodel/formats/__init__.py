"""Alert interchange formats: name → a function from one stored alert (an Alert or AlertRead) to a document."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from alertmodel.alert import ALERT_COLUMNS, AlertBase


def _parsed(raw: Any) -> Any:
    try:
        return orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError):
        return raw


def alertflex_record(alert: AlertBase) -> dict[str, Any]:
    """The Alertflex alert record: every stored column by its Alertflex name, json_event as JSON.

    The same document `alertflow alerts export --format jsonl` writes per line.
    """
    record = {name: getattr(alert, name) for name in ALERT_COLUMNS}
    record["json_event"] = _parsed(record["json_event"])
    return record


FORMATS: dict[str, Callable[[AlertBase], dict[str, Any]]] = {"alertflex": alertflex_record}
"""Format name → renderer of one alert."""
