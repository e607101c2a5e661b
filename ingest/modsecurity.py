"""ModSecurity JSON audit log (2.9 Apache and 3.x libmodsecurity shapes) → one alert per rule message.

A transaction logged without any rule message (`messages: []`) is not an alert and yields
nothing. v2 messages are text with `[key "value"]` tags; a message without a `severity`
tag (CRS correlation/reporting rules) counts as DEBUG (7). In v3, libmodsecurity writes
severity "0" for rules that set none; that is taken as written.
"""

from __future__ import annotations

import re
from typing import Any

from alertmodel.errors import NormalizationError
from ingest.record import TEMPLATE, W, address, port, text

SOURCE = "ModSecurity"
SEVERITY_NAMES = {
    "EMERGENCY": 0,
    "ALERT": 1,
    "CRITICAL": 2,
    "ERROR": 3,
    "WARNING": 4,
    "NOTICE": 5,
    "INFO": 6,
    "DEBUG": 7,
}
NO_SEVERITY = 7
_TAG = re.compile(r'\[(\w+) "((?:[^"\\]|\\.)*)"\]')


def _severity(value: Any) -> int:
    if type(value) is int and 0 <= value <= 7:
        return value
    if type(value) is str:
        if value.isdigit() and int(value) <= 7:
            return int(value)
        named = SEVERITY_NAMES.get(value.upper())
        if named is not None:
            return named
    return NO_SEVERITY


def _header(headers: Any, name: str) -> Any:
    if type(headers) is dict:
        for key, value in headers.items():
            if key.lower() == name:
                return value
    return None


def _v3(tx: dict[str, Any]) -> list[dict[str, Any]]:
    messages = tx.get("messages")
    if type(messages) is not list:
        raise NormalizationError("modsecurity: transaction.messages must be a list")
    request = tx.get("request") if type(tx.get("request")) is dict else {}
    base = {
        **TEMPLATE,
        "source": SOURCE,
        "type": "NET",
        "srcip": address(tx.get("client_ip")),
        "srcport": port(tx.get("client_port")),
        "dstip": address(tx.get("host_ip")),
        "dstport": port(tx.get("host_port")),
        "time_event": text(tx.get("time_stamp"), W["time_event"]),
        "url": text(request.get("uri"), W["url"]),
        "agent": text(_header(request.get("headers"), "host"), W["agent"]),
    }
    drafts = []
    for i, msg in enumerate(messages):
        details = msg.get("details") if type(msg) is dict else None
        if type(details) is not dict:
            raise NormalizationError(f"modsecurity: transaction.messages[{i}].details must be an object")
        rule_id = details.get("ruleId")
        if type(rule_id) is not str or not rule_id:
            raise NormalizationError(f"modsecurity: missing transaction.messages[{i}].details.ruleId")
        tags = details.get("tags")
        drafts.append(
            {
                **base,
                "event": text(rule_id, W["event"]),
                "description": text(msg.get("message"), W["description"]),
                "info": text(details.get("data") or details.get("match"), W["info"]),
                "_level": _severity(details.get("severity")),
                "_cats": [t for t in tags if type(t) is str and t] if type(tags) is list else [],
            }
        )
    return drafts


def _v2(event: dict[str, Any], tx: dict[str, Any], audit: dict[str, Any]) -> list[dict[str, Any]]:
    messages = audit.get("messages")
    if messages is None:
        return []
    if type(messages) is not list:
        raise NormalizationError("modsecurity: audit_data.messages must be a list")
    request = event.get("request") if type(event.get("request")) is dict else {}
    line = request.get("request_line")
    parts = line.split(" ") if type(line) is str else []
    host = _header(request.get("headers"), "host")
    errors = audit.get("error_messages")
    if host is None and type(errors) is list:
        for err in errors:
            m = re.search(r'\[hostname "([^"]*)"\]', err) if type(err) is str else None
            if m:
                host = m.group(1)
                break
    base = {
        **TEMPLATE,
        "source": SOURCE,
        "type": "NET",
        "srcip": address(tx.get("remote_address")),
        "srcport": port(tx.get("remote_port")),
        "dstip": address(tx.get("local_address")),
        "dstport": port(tx.get("local_port")),
        "time_event": text(tx.get("time"), W["time_event"]),
        "url": text(parts[1] if len(parts) > 1 else None, W["url"]),
        "agent": text(host, W["agent"]),
    }
    drafts = []
    for i, msg in enumerate(messages):
        if type(msg) is not str:
            raise NormalizationError(f"modsecurity: audit_data.messages[{i}] must be a string")
        tags: dict[str, str] = {}
        cats: list[str] = []
        for key, value in _TAG.findall(msg):
            if key == "tag":
                cats.append(value)
            else:
                tags.setdefault(key, value)
        if not tags.get("id"):
            raise NormalizationError(f"modsecurity: audit_data.messages[{i}] has no [id] tag")
        drafts.append(
            {
                **base,
                "event": text(tags["id"], W["event"]),
                "description": text(tags.get("msg"), W["description"]),
                "info": text(tags.get("data"), W["info"]),
                "_level": _severity(tags.get("severity")),
                "_cats": cats,
            }
        )
    return drafts


def normalize_modsecurity(event: dict[str, Any]) -> list[dict[str, Any]]:
    """One record draft per rule message of a transaction (v2 or v3 shape); none when no rule fired."""
    tx = event.get("transaction")
    if type(tx) is not dict:
        raise NormalizationError("modsecurity: missing transaction object")
    audit = event.get("audit_data")
    if type(audit) is dict or "remote_address" in tx:  # v2 (Apache) shape
        return _v2(event, tx, audit if type(audit) is dict else {})
    return _v3(tx)
