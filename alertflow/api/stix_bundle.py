"""Alerts as a STIX 2.1 bundle: one `observed-data` per alert with the objects the STIX-shifter
alertflex connector makes (addresses, network traffic, user account, file, process and the
custom `x-org-alertflex` object), written as a stream.

The objects are plain dicts, not `stix2` instances: building those validates every property
and costs about 4 ms an alert, an hour for a million. The ids follow STIX 2.1 §2.9 (UUIDv5 over
the id-contributing properties, as `stix2` computes them; the tests compare), so the same
address is one object across alerts and a second export of an alert repeats its ids.
"""

from __future__ import annotations

import ipaddress
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson

SCO_NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")
"""The STIX 2.1 namespace of deterministic cyber-observable ids."""
OBSERVED_NAMESPACE = uuid.UUID("6f0c2fb8-0c9c-5b8e-9a3e-8f1e4c6a2b10")
"""alertflow's namespace: an alert's observed-data id is UUIDv5(alert_uuid) in it."""
IDENTITY = {
    "type": "identity",
    "spec_version": "2.1",
    "id": "identity--" + str(uuid.uuid5(OBSERVED_NAMESPACE, "alertflow")),
    "created": "2026-01-01T00:00:00.000Z",
    "modified": "2026-01-01T00:00:00.000Z",
    "name": "alertflow",
    "identity_class": "system",
}
_HEX = re.compile(r"[0-9A-Fa-f]+")
_SHARED = frozenset({"ipv4-addr", "ipv6-addr", "network-traffic", "user-account", "file"})
"""Objects whose id is their content: written once per bundle."""
_ALERTFLEX_FIELDS = ("event", "severity", "category", "description", "info", "agent", "source", "node_id")


def sco_id(kind: str, contributing: dict[str, Any]) -> str:
    """The deterministic id of a cyber-observable from its id-contributing properties."""
    canonical = json.dumps(contributing, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{kind}--{uuid.uuid5(SCO_NAMESPACE, canonical)}"


def _sco(kind: str, properties: dict[str, Any], contributing: tuple[str, ...]) -> dict[str, Any]:
    key = {k: properties[k] for k in contributing if k in properties}
    return {"type": kind, "spec_version": "2.1", "id": sco_id(kind, key), **properties}


def _address(value: str) -> dict[str, Any] | None:
    try:
        parsed = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    kind = "ipv4-addr" if parsed.version == 4 else "ipv6-addr"
    return _sco(kind, {"value": str(parsed)}, ("value",))


def _timestamp(value: datetime) -> str:
    at = value if value.tzinfo else value.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _present(value: Any) -> bool:
    return value not in (None, "", "indef")


def alert_objects(alert: dict[str, Any]) -> list[dict[str, Any]]:
    """The objects of one stored alert, its observed-data last."""
    objects: list[dict[str, Any]] = []
    src = _address(str(alert.get("srcip") or ""))
    dst = _address(str(alert.get("dstip") or ""))
    objects += [a for a in (src, dst) if a is not None]
    traffic: dict[str, Any] = {}
    if src is not None:
        traffic["src_ref"] = src["id"]
    if dst is not None:
        traffic["dst_ref"] = dst["id"]
    for port in ("srcport", "dstport"):
        if alert.get(port):
            traffic[port.replace("port", "_port")] = int(alert[port])
    protocols = [p.strip().lower() for p in str(alert.get("proto") or "").split(",") if _present(p.strip())]
    if traffic:
        traffic["protocols"] = protocols or ["ip"]
        objects.append(
            _sco(
                "network-traffic",
                traffic,
                ("start", "end", "src_ref", "dst_ref", "src_port", "dst_port", "protocols"),
            )
        )
    if _present(alert.get("user")):
        objects.append(
            _sco(
                "user-account", {"user_id": str(alert["user"])}, ("account_type", "user_id", "account_login")
            )
        )
    hashes = {
        name: str(alert[column]).lower()
        for name, column, length in (
            ("MD5", "hash_md5", 32),
            ("SHA-1", "hash_sha1", 40),
            ("SHA-256", "hash_sha256", 64),
        )
        if _HEX.fullmatch(str(alert.get(column) or "")) and len(str(alert[column])) == length
    }  # a sensor may write anything there: a value that is not that hash is left out
    if _present(alert.get("file")) or hashes:
        file: dict[str, Any] = {"name": str(alert["file"])} if _present(alert.get("file")) else {}
        if hashes:
            file["hashes"] = hashes
        objects.append(_sco("file", file, ("hashes", "name", "extensions", "parent_directory_ref")))
    if _present(alert.get("process")):
        # STIX 2.1 names a process by its image, a file; a process has no id-contributing
        # properties, so its id derives from the alert (one process per alert).
        image = _sco(
            "file", {"name": str(alert["process"])}, ("hashes", "name", "extensions", "parent_directory_ref")
        )
        process_id = uuid.uuid5(OBSERVED_NAMESPACE, "process:" + str(alert["alert_uuid"]))
        objects += [
            image,
            {
                "type": "process",
                "spec_version": "2.1",
                "id": f"process--{process_id}",
                "image_ref": image["id"],
            },
        ]
    alertflex = {
        name.removesuffix("_id"): alert[name] for name in _ALERTFLEX_FIELDS if _present(alert.get(name))
    }
    alertflex["finding_type"] = alert.get("type") or ""
    alertflex["alert_uuid"] = str(alert["alert_uuid"])
    objects.append(
        {
            "type": "x-org-alertflex",
            "spec_version": "2.1",
            "id": f"x-org-alertflex--{uuid.uuid5(OBSERVED_NAMESPACE, 'alert:' + str(alert['alert_uuid']))}",
            **alertflex,
        }
    )
    seen = _timestamp(alert["time_collr"])
    objects.append(
        {
            "type": "observed-data",
            "spec_version": "2.1",
            "id": f"observed-data--{uuid.uuid5(OBSERVED_NAMESPACE, str(alert['alert_uuid']))}",
            "created_by_ref": IDENTITY["id"],
            "created": seen,
            "modified": seen,
            "first_observed": seen,
            "last_observed": seen,
            "number_observed": 1,
            "object_refs": [o["id"] for o in objects],
        }
    )
    return objects


def bundle(alerts: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    """One STIX 2.1 bundle of every alert, as chunks of JSON (an object seen again is not repeated)."""
    yield b'{"type":"bundle","id":"bundle--' + str(uuid.uuid4()).encode() + b'","objects":['
    yield orjson.dumps(IDENTITY)
    written: set[str] = set()
    for alert in alerts:
        chunk = bytearray()
        for obj in alert_objects(alert):
            if obj["type"] in _SHARED:
                if obj["id"] in written:
                    continue
                if len(written) < 100_000:  # bounded: past it, an object may appear twice (still valid)
                    written.add(obj["id"])
            chunk += b"," + orjson.dumps(obj)
        yield bytes(chunk)
    yield b"]}"
