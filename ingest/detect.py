"""Guess an event's source from its shape, for `source="auto"`."""

from __future__ import annotations

from typing import Any

SOURCES = ("wazuh", "suricata", "falco", "modsecurity", "generic", "altprobe")


def detect_source(event: dict[str, Any]) -> str | None:
    """The source whose shape `event` has, or None.

    Wazuh: a `rule` object; Suricata: an `event_type` string; Falco: `rule`, `priority`
    and `output`; ModSecurity: a `transaction` object; generic: `source` and `event`;
    altprobe: an `altprobe` (alert) or `altprobe_stats` (statistics) object.
    """
    rule = event.get("rule")
    if type(rule) is dict:
        return "wazuh"
    if type(event.get("event_type")) is str:
        return "suricata"
    if type(rule) is str and "priority" in event and "output" in event:
        return "falco"
    if type(event.get("transaction")) is dict:
        return "modsecurity"
    if "source" in event and "event" in event:
        return "generic"
    if type(event.get("altprobe")) is dict or type(event.get("altprobe_stats")) is dict:
        return "altprobe"
    return None
