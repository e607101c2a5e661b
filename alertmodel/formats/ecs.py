"""An alert as an Elastic Common Schema document (ECS 9.x), nested as Elasticsearch stores it.

The fields are those Elastic's Suricata, Falco and ModSecurity integrations fill: event.*,
rule.*, source/destination, host, user, file, process, network, url, observer, related and
message; the sensor's event is kept whole in event.original. Alertflex fields with no ECS home
(tenant, score, status, filter, info, ...) go under the custom `alertflex` namespace, as ECS
asks of custom fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alertmodel.alert import INDEF, SEVERITY_NAMES
from alertmodel.formats._fields import (
    AlertLike,
    address,
    columns,
    compact,
    event_time,
    hashes,
    iso,
    number,
    raw_event,
    text,
    utc,
)

ECS_VERSION = "9.4.0"
"""The ECS version the documents follow (ecs.version)."""

_MODULES: dict[str, tuple[str, str, str]] = {
    # source → (event.module, event.dataset, observer.type), as Elastic's integrations name them
    "suricata": ("suricata", "suricata.eve", "ids"),
    "wazuh": ("wazuh", "wazuh.alerts", "hids"),
    "falco": ("falco", "falco.alerts", "sensor"),
    "modsecurity": ("modsecurity", "modsecurity.auditlog", "waf"),
    "misp": ("misp", "misp.ioc", "threat-intelligence"),
}
_VENDORS = {"suricata": "OISF", "wazuh": "Wazuh", "falco": "Falco", "modsecurity": "OWASP", "misp": "MISP"}
_CATEGORY_BY_TYPE = {"NET": "network", "FILE": "file", "HOST": "host"}
_TRANSPORTS = frozenset({"tcp", "udp", "icmp", "ipv6-icmp", "sctp", "gre", "esp", "ah"})
_DENIED = ("block", "drop", "deny", "denied", "reject")
_DENIABLE = frozenset({"network", "intrusion_detection"})
_CUSTOM = (
    "alert_uuid",
    "node_id",
    "ref_id",
    "type",
    "score",
    "status",
    "action",
    "filter",
    "info",
    "location",
    "sensor",
    "srcagent",
    "dstagent",
    "time_event",
)


def to_ecs(alert: AlertLike) -> dict[str, Any]:
    """The alert as one ECS document (attacker-written values are copied as data, never parsed)."""
    row = columns(alert)
    source = str(row.get("source") or "")
    key = source.lower()
    module, dataset, observer_type = _MODULES.get(
        key, (key or "alertflow", f"{key or 'alertflow'}.alerts", "sensor")
    )
    severity = int(row.get("severity") or 0)
    action = text(row.get("action"))

    event_categories = _event_categories(row, key)
    denied = bool(action and action.lower().startswith(_DENIED))
    event: dict[str, Any] = {
        "kind": "alert",
        "category": event_categories,
        # ECS expects "denied" with network and intrusion_detection only (not host, file, web)
        "type": ["denied" if denied and _DENIABLE.issuperset(event_categories) else "info"],
        "severity": severity,
        "module": module,
        "dataset": dataset,
        "id": str(row.get("alert_uuid") or ""),
        "created": iso(row.get("time_collr")),
    }
    if action:
        event["action"] = action
    if (original := raw_event(row)) is not None:
        event["original"] = original

    doc: dict[str, Any] = {
        "@timestamp": utc(event_time(row)).isoformat(),
        "ecs": {"version": ECS_VERSION},
        "event": event,
        "message": text(row.get("description")),
        "rule": _rule(row, key),
        "observer": compact(
            {
                "name": text(row.get("sensor")),
                "product": source or None,
                "vendor": _VENDORS.get(key),
                "type": observer_type,
            }
        ),
        "agent": compact({"name": text(row.get("node_id")), "type": "alertflow"}),
        "log": {"level": SEVERITY_NAMES.get(severity, str(severity)).lower()},
    }
    for side, ip_column, port_column in (("source", "srcip", "srcport"), ("destination", "dstip", "dstport")):
        # address takes whatever the sensor wrote (ECS allows a name there); ip only an address
        endpoint = compact(
            {
                "address": text(row.get(ip_column)),
                "ip": address(row.get(ip_column)),
                "port": number(row.get(port_column)),
            }
        )
        if endpoint:
            doc[side] = endpoint
    if host := text(row.get("agent")):
        doc["host"] = {"name": host, "hostname": host}
    if user := text(row.get("user")):
        doc["user"] = {"name": user}
    file = _file(row)
    if file:
        doc["file"] = file
    if process := text(row.get("process")):
        doc["process"] = {"name": process}
        if key == "falco" and (command := text(row.get("info"))):
            doc["process"]["command_line"] = command
    if container := text(row.get("container")):
        doc["container"] = {"name": container}
    transport = str(row.get("proto") or "").split(",")[0].strip().lower()
    if transport in _TRANSPORTS:
        doc["network"] = {"transport": transport}
    if url := text(row.get("url")):
        doc["url"] = {"original": url}
    related = {
        "ip": sorted({e["ip"] for side in ("source", "destination") if "ip" in (e := doc.get(side, {}))}),
        "user": [doc["user"]["name"]] if "user" in doc else [],
        "hash": list(file.get("hash", {}).values()),
        "hosts": [doc["host"]["name"]] if "host" in doc else [],
    }
    doc["related"] = compact(related)
    custom = {name: row.get(name) for name in _CUSTOM if row.get(name) not in (None, "", INDEF)}
    custom["severity_name"] = SEVERITY_NAMES.get(severity, str(severity))
    doc["alertflex"] = custom
    return compact(doc)


def _event_categories(row: Mapping[str, Any], key: str) -> list[str]:
    first = "web" if key == "modsecurity" else _CATEGORY_BY_TYPE.get(str(row.get("type") or ""))
    return [first, "intrusion_detection"] if first else ["intrusion_detection"]


def _rule(row: Mapping[str, Any], key: str) -> dict[str, Any]:
    category = text(row.get("category"))
    if key == "falco":  # Falco names its rules; its description is the rule's output line
        return compact({"name": text(row.get("event")), "category": category})
    return compact({"id": text(row.get("event")), "name": text(row.get("description")), "category": category})


def _file(row: Mapping[str, Any]) -> dict[str, Any]:
    file: dict[str, Any] = {}
    if path := text(row.get("file")):
        file["path"] = path
        name = path.rstrip("/").rsplit("/", 1)[-1]
        if name:
            file["name"] = name
    if found := hashes(row):
        file["hash"] = found
    return file
