"""An alert as an OCSF Detection Finding (class 2004, category Findings), schema version 1.7.0.

Alertflex severities 0-3 (Info, Minor, Major, Critical) map to OCSF severity_id by name:
Informational (1), Low (2), High (4), Critical (5). The addresses, ports, user, file, process
and container go into one `evidences` entry and are listed as `observables`; the rule that
fired is `finding_info.analytic`. Alertflex fields without an OCSF attribute are kept under
`unmapped.alertflex`, and the sensor's event under `raw_data`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alertmodel.formats._fields import (
    AlertLike,
    address,
    categories,
    columns,
    compact,
    event_time,
    hashes,
    number,
    raw_event,
    text,
    utc,
)

OCSF_VERSION = "1.7.0"
"""The OCSF schema version of the findings (metadata.version)."""

CLASS_UID = 2004
CATEGORY_UID = 2
ACTIVITY_CREATE = 1
SEVERITY_IDS: dict[int, tuple[int, str]] = {
    0: (1, "Informational"),
    1: (2, "Low"),
    2: (4, "High"),
    3: (5, "Critical"),
}
"""Alertflex severity → (OCSF severity_id, severity)."""

_VENDORS = {"suricata": "OISF", "wazuh": "Wazuh", "falco": "Falco", "modsecurity": "OWASP", "misp": "MISP"}
_FINGERPRINTS = {"md5": 1, "sha1": 2, "sha256": 3}
_OBSERVABLE = {
    "hostname": (1, "Hostname"),
    "ip": (2, "IP Address"),
    "user": (4, "User Name"),
    "url": (6, "URL String"),
    "file": (7, "File Name"),
    "hash": (8, "Hash"),
    "process": (9, "Process Name"),
    "port": (11, "Port"),
}
_UNMAPPED = (
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


def to_ocsf(alert: AlertLike) -> dict[str, Any]:
    """The alert as one OCSF Detection Finding (values are copied as data, never interpreted)."""
    row = columns(alert)
    source = str(row.get("source") or "")
    severity = int(row.get("severity") or 0)
    severity_id, severity_name = SEVERITY_IDS.get(severity, (99, "Other"))
    uid = str(row.get("alert_uuid") or "")
    description = text(row.get("description"))

    analytic = compact({"type_id": 1, "type": "Rule", "uid": text(row.get("event"))})
    if source.lower() == "falco":  # Falco names its rules; its description is the output line
        analytic["name"] = text(row.get("event"))
    elif description:
        analytic["name"] = description
    finding_info = compact(
        {
            "uid": uid,
            "title": description or text(row.get("event")) or source or "alert",
            "types": categories(row),
            "analytic": analytic,
        }
    )
    product = compact({"name": source or "alertflow", "vendor_name": _VENDORS.get(source.lower())})
    metadata = compact(
        {
            "version": OCSF_VERSION,
            "product": product,
            "uid": uid,
            "logged_time": _ms(row["time_collr"]),
            "original_time": text(row.get("time_event")),
            "tenant_uid": text(row.get("ref_id")),
        }
    )
    evidence, observables = _evidence(row)
    finding: dict[str, Any] = {
        "class_uid": CLASS_UID,
        "class_name": "Detection Finding",
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "activity_id": ACTIVITY_CREATE,
        "activity_name": "Create",
        "type_uid": CLASS_UID * 100 + ACTIVITY_CREATE,
        "type_name": "Detection Finding: Create",
        "severity_id": severity_id,
        "severity": severity_name,
        "time": int(event_time(row).timestamp() * 1000),
        "message": description,
        "is_alert": True,
        "metadata": metadata,
        "finding_info": finding_info,
        "evidences": [evidence] if evidence else None,
        "observables": observables,
        "raw_data": raw_event(row),
        "unmapped": {
            "alertflex": {
                **{name: row.get(name) for name in _UNMAPPED if text(row.get(name)) is not None},
                **{  # a sensor may write a name or anything else where an address belongs
                    name: row.get(name)
                    for name in ("srcip", "dstip")
                    if text(row.get(name)) is not None and address(row.get(name)) is None
                },
                "severity": severity,
            }
        },
    }
    if host := text(row.get("agent")):
        finding["device"] = {"hostname": host, "name": host, "type_id": 0, "type": "Unknown"}
    return compact(finding)


def _evidence(row: Mapping[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    evidence: dict[str, Any] = {}
    observables: list[dict[str, Any]] = []

    def observe(kind: str, name: str, value: Any) -> None:
        type_id, caption = _OBSERVABLE[kind]
        observables.append({"name": name, "type_id": type_id, "type": caption, "value": str(value)})

    for side, ip_column, port_column in (
        ("src_endpoint", "srcip", "srcport"),
        ("dst_endpoint", "dstip", "dstport"),
    ):
        endpoint = compact({"ip": address(row.get(ip_column)), "port": number(row.get(port_column))})
        if endpoint:
            evidence[side] = endpoint
            for attribute, kind in (("ip", "ip"), ("port", "port")):
                if attribute in endpoint:
                    observe(kind, f"evidences[0].{side}.{attribute}", endpoint[attribute])
    protocol = str(row.get("proto") or "").split(",")[0].strip().lower()
    if text(protocol):
        evidence["connection_info"] = {"protocol_name": protocol, "direction_id": 0, "direction": "Unknown"}
    if user := text(row.get("user")):
        evidence["user"] = {"name": user}
        observe("user", "evidences[0].user.name", user)
    file = _file(row)
    if file:
        evidence["file"] = file
        observe("file", "evidences[0].file.name", file["name"])
        for fingerprint in file.get("hashes", []):
            observe("hash", "evidences[0].file.hashes.value", fingerprint["value"])
    if process := text(row.get("process")):
        evidence["process"] = {"name": process}
        if str(row.get("source") or "").lower() == "falco" and (command := text(row.get("info"))):
            evidence["process"]["cmd_line"] = command
        observe("process", "evidences[0].process.name", process)
    if container := text(row.get("container")):
        evidence["container"] = {"name": container}
    if url := text(row.get("url")):
        evidence["url"] = {"url_string": url}
        observe("url", "evidences[0].url.url_string", url)
    if host := text(row.get("agent")):
        observe("hostname", "device.hostname", host)
    return evidence, observables


def _file(row: Mapping[str, Any]) -> dict[str, Any]:
    path = text(row.get("file"))
    found = hashes(row)
    if path is None and not found:
        return {}
    name = (path or "").rstrip("/").rsplit("/", 1)[-1] or path or "unknown"
    file: dict[str, Any] = {"name": name, "type_id": 0, "type": "Unknown"}
    if path is not None:
        file["path"] = path
    if found:
        file["hashes"] = [{"algorithm_id": _FINGERPRINTS[k], "value": v} for k, v in found.items()]
    return file


def _ms(value: Any) -> int:
    return int(utc(value).timestamp() * 1000)
