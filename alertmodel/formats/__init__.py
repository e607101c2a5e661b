"""Interchange formats: one stored alert rendered as a JSON-ready dict for another system.

`FORMATS` maps a format's name to its renderer. Every renderer is pure (no I/O, no clock) and
takes an `Alert` or a stored alert row (a mapping of the alert columns), so the export reads
rows without building ORM objects and a forwarder can pass whatever it holds.

- ``alertflex``: the Alertflex record, every column with `json_event` as the stored JSON text
  (what forwarders send; `alertflow alerts export -f jsonl` writes `to_alertflex`, the same
  record with the event parsed);
- ``ecs``: an Elastic Common Schema document, shaped like those of Elastic's Suricata, Falco
  and ModSecurity integrations;
- ``ocsf``: an OCSF Detection Finding (class 2004).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alertmodel.alert import Alert
from alertmodel.formats.alertflex import to_alertflex, to_alertflex_stored
from alertmodel.formats.ecs import ECS_VERSION, to_ecs
from alertmodel.formats.ocsf import OCSF_VERSION, to_ocsf

FORMATS: dict[str, Callable[[Alert], dict[str, Any]]] = {
    "alertflex": to_alertflex_stored,
    "ecs": to_ecs,
    "ocsf": to_ocsf,
}
"""Format name → renderer of one alert as a JSON-ready dict."""

__all__ = [
    "ECS_VERSION",
    "FORMATS",
    "OCSF_VERSION",
    "to_alertflex",
    "to_alertflex_stored",
    "to_ecs",
    "to_ocsf",
]
