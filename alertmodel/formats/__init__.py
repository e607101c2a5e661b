"""Alert interchange formats: name → a function from one stored alert (an Alert or AlertRead) to a document."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from alertmodel.alert import ALERT_COLUMNS, AlertBase

_columns = operator.attrgetter(*ALERT_COLUMNS)


def alertflex_record(alert: AlertBase) -> dict[str, Any]:
    """The Alertflex alert record: every stored column by its Alertflex name, as Alertflex stores it.

    `json_event` stays the sensor's event as JSON text (Alertflex's column), not an object: one
    index takes alerts of every source, and as objects their events clash in a receiver's dynamic
    mapping (Wazuh's `rule` is an object, Falco's a string) and make attacker-chosen keys into
    index fields. The ECS and OCSF formats map the event's fields instead.
    """
    return dict(zip(ALERT_COLUMNS, _columns(alert), strict=True))


FORMATS: dict[str, Callable[[AlertBase], dict[str, Any]]] = {"alertflex": alertflex_record}
"""Format name → renderer of one alert."""
