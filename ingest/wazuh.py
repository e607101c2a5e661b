"""Wazuh `alerts.json` (4.x) → alert records, as the Alertflex collector maps them.

Beyond DESIGN.md: rootcheck alerts carry the checked file in `data.file`, used when there is
no `syscheck.path`; `manager.name` becomes the sensor; `data.protocol` and `data.url` fill
proto and url when a decoder provides them.
"""

from __future__ import annotations

from typing import Any

from alertmodel.errors import NormalizationError
from ingest.record import TEMPLATE, W, address, port, text

SOURCE = "Wazuh"
_COMPLIANCE = ("pci_dss", "hipaa", "gdpr", "nist_800_53")


def _level(rule: dict[str, Any]) -> int:
    level = rule.get("level")
    if type(level) is int:
        return level
    if type(level) is str and level.isdigit():
        return int(level)
    raise NormalizationError(f"wazuh: rule.level must be an integer, got {level!r:.60}")


def _categories(rule: dict[str, Any]) -> list[str]:
    groups = rule.get("groups")
    cats = [g for g in groups if type(g) is str and g] if type(groups) is list else []
    for key in _COMPLIANCE:
        ids = rule.get(key)
        if type(ids) is list:
            cats.extend(f"{key}_{i}" for i in ids if type(i) is str)
    mitre = rule.get("mitre")
    if type(mitre) is dict:
        ids = mitre.get("id")
        if type(ids) is list:
            cats.extend(f"mitre_{i}" for i in ids if type(i) is str)
    return cats


def _get(d: Any, key: str) -> Any:
    return d.get(key) if type(d) is dict else None


def normalize_wazuh(event: dict[str, Any]) -> list[dict[str, Any]]:
    """One record draft for one Wazuh alert; raises NormalizationError when rule.id or rule.level is unusable."""
    rule = event.get("rule")
    if type(rule) is not dict:
        raise NormalizationError("wazuh: missing rule object")
    rule_id = rule.get("id")
    if type(rule_id) is not str or not rule_id:
        raise NormalizationError(f"wazuh: rule.id must be a non-empty string, got {rule_id!r:.60}")
    level = _level(rule)
    data = event.get("data")
    if type(data) is not dict:
        data = {}
    user = data.get("srcuser") or data.get("dstuser")
    file = data.get("file")
    d = {
        **TEMPLATE,
        "source": SOURCE,
        "type": "HOST",
        "event": text(rule_id, W["event"]),
        "description": text(rule.get("description"), W["description"]),
        "info": text(event.get("full_log"), W["info"]),
        "agent": text(_get(event.get("agent"), "name"), W["agent"]),
        "sensor": text(_get(event.get("manager"), "name"), W["sensor"]),
        "location": text(event.get("location"), W["location"]),
        "time_event": text(event.get("timestamp"), W["time_event"]),
        "srcip": address(data.get("srcip")),
        "dstip": address(data.get("dstip")),
        "srcport": port(data.get("srcport")),
        "dstport": port(data.get("dstport")),
        "proto": text(data.get("protocol"), W["proto"]),
        "url": text(data.get("url"), W["url"]),
        "_level": level,
        "_cats": _categories(rule),
    }
    syscheck = event.get("syscheck")
    if type(syscheck) is dict:
        d["type"] = "FILE"
        file = syscheck.get("path") or file
        d["hash_md5"] = text(syscheck.get("md5_after"), W["hash_md5"])
        d["hash_sha1"] = text(syscheck.get("sha1_after"), W["hash_sha1"])
        d["hash_sha256"] = text(syscheck.get("sha256_after"), W["hash_sha256"])
        audit = syscheck.get("audit")
        if type(audit) is dict:
            user = _get(audit.get("user"), "name") or user
            d["process"] = text(_get(audit.get("process"), "name"), W["process"])
    d["user"] = text(user, W["user"])
    d["file"] = text(file, W["file"])
    return [d]
