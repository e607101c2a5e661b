"""Suricata EVE → alert records (`event_type: alert`) or observations (everything else).

Non-alert events (flow, dns, http, fileinfo, tls, anomaly, drop, ...) are not alerts; they are
passed on whole as observations for the IOC checks. `stats` and `engine` events describe the
sensor, not traffic, and are skipped.
"""

from __future__ import annotations

from typing import Any

from alertmodel.errors import NormalizationError
from ingest.record import port, text

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
    fields: dict[str, Any] = {
        "source": SOURCE,
        "type": "NET",
        "event": str(sid),
        "description": text(alert.get("signature")),
        "srcip": text(event.get("src_ip")),
        "dstip": text(event.get("dest_ip")),
        "srcport": port(event.get("src_port")),
        "dstport": port(event.get("dest_port")),
        "proto": text(event.get("proto")),
        "sensor": text(event.get("host")),
        "agent": text(event.get("host")),
        "location": text(event.get("in_iface")),
        "time_event": text(event.get("timestamp")),
        "_level": alert.get("severity"),
        "_cats": [category] if type(category) is str and category else [],
    }
    http = event.get("http")
    if type(http) is dict:
        host = http.get("hostname")
        path = http.get("url")
        if type(path) is str:
            fields["url"] = f"{host}{path}" if type(host) is str else path
    files = event.get("files")
    if type(files) is list and files and type(files[0]) is dict:
        f = files[0]
        fields["file"] = text(f.get("filename"))
        fields["hash_md5"] = text(f.get("md5"))
        fields["hash_sha1"] = text(f.get("sha1"))
        fields["hash_sha256"] = text(f.get("sha256"))
    return [fields]
