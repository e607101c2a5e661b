"""Falco JSON output → alert records.

The native level is the priority ladder (Emergency 7 … Debug 0); the policy's `crs`
ladder then translates it. The container is `container.name` (else `container.id`), the
alert's categories are the rule's tags.
"""

from __future__ import annotations

from typing import Any

from alertmodel.errors import NormalizationError
from ingest.record import TEMPLATE, W, address, port, text

SOURCE = "Falco"
PRIORITY_LEVELS = {
    "emergency": 7,
    "alert": 6,
    "critical": 5,
    "error": 4,
    "warning": 3,
    "notice": 2,
    "informational": 1,
    "info": 1,
    "debug": 0,
}


def normalize_falco(event: dict[str, Any]) -> list[dict[str, Any]]:
    """One record draft for one Falco event; raises NormalizationError on a missing rule or unknown priority."""
    rule = event.get("rule")
    if type(rule) is not str or not rule:
        raise NormalizationError(f"falco: rule must be a non-empty string, got {rule!r:.60}")
    priority = event.get("priority")
    level = PRIORITY_LEVELS.get(priority.lower()) if type(priority) is str else None
    if level is None:
        raise NormalizationError(f"falco: unknown priority {priority!r:.60}")
    of = event.get("output_fields")
    if type(of) is not dict:
        of = {}
    tags = event.get("tags")
    fd_name = of.get("fd.name")
    hostname = text(event.get("hostname"), W["agent"])
    d = {
        **TEMPLATE,
        "source": SOURCE,
        "type": "HOST",
        "event": text(rule, W["event"]),
        "description": text(event.get("output"), W["description"]),
        "agent": hostname,
        "sensor": hostname,
        "location": text(event.get("source"), W["location"]),
        "time_event": text(event.get("time"), W["time_event"]),
        "container": text(of.get("container.name") or of.get("container.id"), W["container"]),
        "process": text(of.get("proc.name"), W["process"]),
        "user": text(of.get("user.name"), W["user"]),
        "info": text(of.get("proc.cmdline"), W["info"]),
        # fd.name is a path for files, "ip:port->ip:port" for sockets
        "file": text(fd_name, W["file"]) if type(fd_name) is str and fd_name.startswith("/") else "indef",
        "srcip": address(of.get("fd.cip")),
        "dstip": address(of.get("fd.sip")),
        "srcport": port(of.get("fd.cport")),
        "dstport": port(of.get("fd.sport")),
        "proto": text(of.get("fd.l4proto"), W["proto"]),
        "_level": level,
        "_cats": [t for t in tags if type(t) is str and t] if type(tags) is list else [],
    }
    return [d]
