"""Alerts as a STIX 2.1 bundle: `stix2` parses it, its ids are the ones `stix2` computes, and each
alert's observed-data refers to the objects the STIX-shifter alertflex connector makes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import stix2

from alertflow.api.stix_bundle import alert_objects, bundle
from tests.alertfactory import make_alert


def _alert(**fields: Any) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "srcip": "203.0.113.7",
        "dstip": "2001:db8::1",
        "srcport": 51000,
        "dstport": 443,
        "proto": "TCP",
        "user": "root",
        "file": "/tmp/x.sh",
        "hash_sha256": "AB" * 32,
        "process": "/usr/bin/curl",
        "time_collr": datetime(2026, 11, 30, 12, 0, 1, 250000, tzinfo=UTC),
    }
    row = make_alert(**(defaults | fields))
    row["alert_uuid"] = str(row["alert_uuid"])
    return row


def _parsed(chunks: list[bytes]) -> stix2.Bundle:
    return stix2.parse(json.loads(b"".join(chunks)), allow_custom=True)


def test_stix2_parses_the_bundle_and_computes_the_same_ids() -> None:
    alerts = [_alert(), _alert(srcip="not an address", user="", file="", hash_sha256="", process="")]
    parsed = _parsed(list(bundle(iter(alerts))))
    by_type: dict[str, list[Any]] = {}
    for obj in parsed.objects:
        by_type.setdefault(obj["type"], []).append(obj)
    assert len(by_type["observed-data"]) == 2 and len(by_type["x-org-alertflex"]) == 2
    for kind, cls in (
        ("ipv4-addr", stix2.IPv4Address),
        ("ipv6-addr", stix2.IPv6Address),
        ("user-account", stix2.UserAccount),
        ("file", stix2.File),
        ("network-traffic", stix2.NetworkTraffic),
    ):
        for obj in by_type[kind]:
            fields = {k: v for k, v in obj.items() if k not in ("type", "id", "spec_version")}
            assert cls(**fields).id == obj["id"], kind  # stix2's own UUIDv5 over the same properties
    assert [a["value"] for a in by_type["ipv6-addr"]] == ["2001:db8::1"]  # written once for both alerts


def test_the_objects_of_one_alert_carry_its_fields() -> None:
    alert = _alert(event="2019284", severity=3, source="Suricata", category="Web Application Attack")
    objects = {o["type"]: o for o in alert_objects(alert)}
    observed = objects["observed-data"]
    assert observed["first_observed"] == observed["last_observed"] == "2026-11-30T12:00:01.250Z"
    assert set(observed["object_refs"]) == {o["id"] for o in alert_objects(alert)[:-1]}
    traffic = objects["network-traffic"]
    assert (traffic["src_port"], traffic["dst_port"], traffic["protocols"]) == (51000, 443, ["tcp"])
    assert (
        traffic["src_ref"] == objects["ipv4-addr"]["id"] and traffic["dst_ref"] == objects["ipv6-addr"]["id"]
    )
    assert objects["user-account"]["user_id"] == "root"
    alertflex = objects["x-org-alertflex"]
    assert (alertflex["event"], alertflex["severity"], alertflex["source"]) == ("2019284", 3, "Suricata")
    assert alertflex["alert_uuid"] == alert["alert_uuid"]
    files = [o for o in alert_objects(alert) if o["type"] == "file"]
    assert {f.get("name") for f in files} == {"/tmp/x.sh", "/usr/bin/curl"}
    assert files[0]["hashes"] == {"SHA-256": "ab" * 32}
    assert objects["process"]["image_ref"] == files[1]["id"]
    assert alert_objects(alert)[-1]["id"] == observed["id"]  # a second export repeats the ids


def test_an_attacker_written_field_is_data_in_the_json() -> None:
    alert = _alert(description='"},{"type":"malware","id":"malware--x"}]}', agent="</script>", hash_md5="abc")
    parsed = _parsed(list(bundle(iter([alert]))))
    assert {o["type"] for o in parsed.objects} >= {"observed-data", "x-org-alertflex"}
    assert "malware" not in {o["type"] for o in parsed.objects}
    assert next(o for o in parsed.objects if o["type"] == "x-org-alertflex")["agent"] == "</script>"
