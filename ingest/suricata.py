"""Suricata EVE → alert records (`event_type: alert`) or observations (everything else).

Non-alert events (flow, dns, http, fileinfo, tls, anomaly, drop, ...) are not alerts; they are
passed on whole as observations for the IOC checks. `stats` and `engine` events describe the
sensor, not traffic, and are skipped. The native level is alert.severity; the policy maps it
with Suricata's fixed map (rule 2).
"""

from __future__ import annotations

from typing import Any

from alertmodel.errors import NormalizationError
from ingest.record import TEMPLATE, W, address, port, text

SOURCE = "Suricata"
SKIPPED_EVENT_TYPES = frozenset({"stats", "engine"})


def normalize_suricata(event: dict[str, Any]) -> list[dict[str, Any]]:
    """One record draft for an EVE alert; raises NormalizationError on a missing signature id."""
    alert = event.get("alert")
    if type(alert) is not dict:
        raise NormalizationError("suricata: missing alert object")
    sid = alert.get("signature_id")
    if type(sid) is not int:
        raise NormalizationError(f"suricata: missing alert.signature_id (got {sid!r:.60})")
    category = alert.get("category")
    host = text(event.get("host"), W["sensor"])
    d = {
        **TEMPLATE,
        "source": SOURCE,
        "type": "NET",
        "event": str(sid),
        "description": text(alert.get("signature"), W["description"]),
        "srcip": address(event.get("src_ip")),
        "dstip": address(event.get("dest_ip")),
        "srcport": port(event.get("src_port")),
        "dstport": port(event.get("dest_port")),
        "proto": text(event.get("proto"), W["proto"]),
        "sensor": host,
        "agent": host,
        "location": text(event.get("in_iface"), W["location"]),
        "time_event": text(event.get("timestamp"), W["time_event"]),
        "_level": alert.get("severity"),
        "_cats": [category] if type(category) is str and category else [],
    }
    http = event.get("http")
    if type(http) is dict:
        hostname = http.get("hostname")
        path = http.get("url")
        if type(path) is str:
            d["url"] = text(f"{hostname}{path}" if type(hostname) is str else path, W["url"])
    files = event.get("files")
    if type(files) is list and files and type(files[0]) is dict:
        f = files[0]
        d["file"] = text(f.get("filename"), W["file"])
        d["hash_md5"] = text(f.get("md5"), W["hash_md5"])
        d["hash_sha1"] = text(f.get("sha1"), W["hash_sha1"])
        d["hash_sha256"] = text(f.get("sha256"), W["hash_sha256"])
    return [d]
