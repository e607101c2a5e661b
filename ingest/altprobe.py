"""Alertflex collector (Altprobe) messages: alerts it already normalized, and node statistics.

Altprobe sends each alert to the controller's ActiveMQ queue `jms/alertflex/alerts` as a
TextMessage with an empty body and the record in its properties (`msg_type` 1, `alert_uuid`,
`alert_source`, `alert_severity`, `event_severity`, `categories`, `src_ip` ... see
`ALERT_PROPERTIES`), which STOMP delivers as headers. The STOMP source turns such a message
into one line `{"altprobe": {<properties>}}` (`altprobe_line`); `normalize_altprobe` maps it
field for field to an alert record, without re-normalizing. The collector ran its own filter
policy when the message names one (`filter` set): the record is stored as it came. When it
says it was not filtered (`filter` empty or "indef"), this node's policy applies, in the section
of the alert's source (Wazuh hids, Suricata nids, ModSecurity waf, Falco crs) with the source's
own level (`event_severity`) as the native level.

Statistics come on `jms/alertflex/info` as BytesMessages (`msg_type` 1, `ref_id`, `node_id`,
`host_name`; a gzip body with a trailing NUL holding `{"stats": [...]}`). They become one line
`{"altprobe_stats": {...}}` and a `node_stats` row (`alertmodel.NodeStats`); no alert.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from alertmodel.alert import ALERT_STATUSES, ALERT_TYPES, INDEF
from alertmodel.errors import NormalizationError
from ingest.record import TEMPLATE, W, address, port, text

ALERT_PROPERTIES = (
    "msg_type",
    "ref_id",
    "node",
    "alert_uuid",
    "alert_source",
    "alert_type",
    "probe",
    "alert_severity",
    "description",
    "event_id",
    "event_severity",
    "location",
    "action",
    "status",
    "filter",
    "info",
    "event_time",
    "collr_time",
    "user_name",
    "agent_name",
    "categories",
    "src_ip",
    "dst_ip",
    "src_hostname",
    "dst_hostname",
    "src_port",
    "dst_port",
    "reg_value",
    "file_name",
    "hash_md5",
    "hash_sha1",
    "hash_sha256",
    "process_id",
    "process_name",
    "process_cmdline",
    "process_path",
    "url_hostname",
    "url_path",
    "container_id",
    "container_name",
    "cloud_instance",
    "log_alert",
)
"""The properties of an Altprobe alert message, in the order the collector sets them."""
SECTION_OF_SOURCE = {"wazuh": "hids", "suricata": "nids", "modsecurity": "waf", "falco": "crs"}
MAX_STATS_BYTES = 4 * 1024 * 1024
"""A statistics report inflates to at most this much; a bigger one is refused (a gzip bomb)."""
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_alert_message(headers: Mapping[str, Any]) -> bool:
    """An Altprobe alert: `msg_type` 1 with the alert properties only the collector sets."""
    return headers.get("msg_type") == "1" and "alert_uuid" in headers and "alert_source" in headers


def is_stats_message(headers: Mapping[str, Any], body: bytes) -> bool:
    """An Altprobe statistics report: `msg_type` 1, `node_id`, and a gzip body."""
    return headers.get("msg_type") == "1" and "node_id" in headers and body[:2] == b"\x1f\x8b"


def altprobe_line(headers: Mapping[str, Any]) -> bytes:
    """The alert message's properties as one JSON line for `normalize_altprobe`."""
    return orjson.dumps({"altprobe": {k: str(headers[k]) for k in ALERT_PROPERTIES if k in headers}})


def stats_line(headers: Mapping[str, Any], body: bytes) -> bytes:
    """A statistics message as one JSON line; NormalizationError when the body is not a JSON report."""
    try:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        data = inflater.decompress(body, MAX_STATS_BYTES + 1)
    except zlib.error as exc:
        raise NormalizationError(f"altprobe stats: the body is not gzip ({exc})") from None
    if len(data) > MAX_STATS_BYTES:
        raise NormalizationError(f"altprobe stats: the report inflates past {MAX_STATS_BYTES} bytes")
    try:
        report = orjson.loads(data.rstrip(b"\x00"))
    except orjson.JSONDecodeError as exc:
        raise NormalizationError(f"altprobe stats: the report is not JSON ({exc})") from None
    if not isinstance(report, dict) or not isinstance(report.get("stats"), list):
        raise NormalizationError('altprobe stats: expected {"stats": [...]}')
    meta = {k: str(headers.get(k, INDEF)) for k in ("ref_id", "node_id", "host_name")}
    return orjson.dumps({"altprobe_stats": {**meta, "stats": report["stats"]}})


def _int(value: Any, low: int, high: int) -> int | None:
    if type(value) is str and value.lstrip("-").isdigit() and len(value) < 12:
        number = int(value)
        return number if low <= number <= high else None
    return None


def _time(value: Any) -> datetime | None:
    if type(value) is not str or not value or value == INDEF:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace(" ", "T", 1) if "T" not in value else value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def normalize_altprobe(event: dict[str, Any]) -> list[dict[str, Any]]:
    """One record draft from an Altprobe alert's properties (`{"altprobe": {...}}`), as the collector made it.

    Extra keys the core reads and removes: `_section` (the policy section, None when the
    collector already filtered it), `_node`, `_uuid`, `_collr` (the collector's node, alert id and time).
    """
    p = event.get("altprobe")
    if not isinstance(p, dict):
        raise NormalizationError("altprobe: expected an object of message properties")
    source, ev = p.get("alert_source"), p.get("event_id")
    if type(source) is not str or not source or source == INDEF:
        raise NormalizationError(f"altprobe: alert_source must be set, got {source!r:.60}")
    if type(ev) is not str or not ev:
        raise NormalizationError(f"altprobe: event_id must be set, got {ev!r:.60}")
    severity = _int(p.get("alert_severity"), 0, 3)
    if severity is None:
        raise NormalizationError(f"altprobe: alert_severity must be 0-3, got {p.get('alert_severity')!r:.60}")
    kind, status = p.get("alert_type"), p.get("status")
    categories = [
        c.strip() for c in str(p.get("categories", "")).split(",") if c.strip() and c.strip() != INDEF
    ]
    url = "".join(v for v in (p.get("url_hostname"), p.get("url_path")) if type(v) is str and v != INDEF)
    container = (
        p.get("container_name") if p.get("container_name") not in (None, "", INDEF) else p.get("container_id")
    )
    filtered = p.get("filter") not in (None, "", INDEF)
    fields: dict[str, Any] = {**TEMPLATE}
    for key, prop in (
        ("description", "description"),
        ("location", "location"),
        ("action", "action"),
        ("info", "info"),
        ("time_event", "event_time"),
        ("user", "user_name"),
        ("agent", "agent_name"),
        ("srcagent", "src_hostname"),
        ("dstagent", "dst_hostname"),
        ("file", "file_name"),
        ("hash_md5", "hash_md5"),
        ("hash_sha1", "hash_sha1"),
        ("hash_sha256", "hash_sha256"),
        ("process", "process_name"),
        ("sensor", "probe"),
        ("ref_id", "ref_id"),
    ):
        fields[key] = text(p.get(prop), W[key])
    fields.update(
        source=text(source, W["source"]),
        event=text(ev, W["event"]),
        type=kind if kind in ALERT_TYPES else "MISC",
        severity=severity,
        status=status if status in ALERT_STATUSES else "processed",
        srcip=address(p.get("src_ip")),
        dstip=address(p.get("dst_ip")),
        srcport=port(p.get("src_port")),
        dstport=port(p.get("dst_port")),
        container=text(container, W["container"]),
        url=text(url, W["url"]),
        filter=text(p.get("filter"), W["filter"]),
        _level=_int(p.get("event_severity"), -(2**31), 2**31 - 1) or 0,
        _cats=categories,
        _section=None if filtered else SECTION_OF_SOURCE.get(source.lower()),
        _filtered=filtered,
        _node=text(p.get("node"), W["node_id"]),
        _uuid=p.get("alert_uuid")
        if type(p.get("alert_uuid")) is str and _UUID.match(p["alert_uuid"])
        else None,
        _collr=_time(p.get("collr_time")),
    )
    return [fields]


def node_stats_row(event: dict[str, Any]) -> dict[str, Any]:
    """A `node_stats` row from a `{"altprobe_stats": {...}}` line."""
    s = event.get("altprobe_stats")
    if isinstance(s, dict) and isinstance(s.get("invalid"), str):
        raise NormalizationError(s["invalid"][:500])
    if not isinstance(s, dict) or not isinstance(s.get("stats"), list):
        raise NormalizationError('altprobe stats: expected {"altprobe_stats": {"stats": [...]}}')
    node = text(s.get("node_id"), 255)
    if node == INDEF:
        raise NormalizationError("altprobe stats: node_id must be set")
    return {
        "ref_id": text(s.get("ref_id"), 255),
        "node_id": node,
        "host_name": text(s.get("host_name"), 255),
        "stats": s["stats"],
    }


def gzip_report(report: dict[str, Any]) -> bytes:
    """A statistics body as Altprobe sends it: gzip of the JSON, then a NUL byte (for tests and tools)."""
    return gzip.compress(orjson.dumps(report)) + b"\x00"
