"""The schema checks themselves catch what they are there to catch (so a green golden test means something)."""

from __future__ import annotations

import copy
from typing import Any

from alertmodel.formats import to_ecs, to_ocsf
from tests.alertfactory import make_alert

from .schemas import ecs_fields, ecs_problems, ocsf_problems


def _alert() -> dict[str, Any]:
    return make_alert(
        source="Suricata",
        type="NET",
        srcip="192.0.2.1",
        dstip="198.51.100.2",
        srcport=1234,
        dstport=80,
        user="alice",
        file="/tmp/x",
        process="curl",
        hash_md5="d41d8cd98f00b204e9800998ecf8427e",
        proto="TCP",
    )


def test_ecs_check_accepts_a_rendered_alert_and_refuses_unknown_or_mistyped_fields() -> None:
    doc = to_ecs(_alert())
    assert ecs_problems(doc) == []
    assert not any(name.startswith("alertflex.") for name in ecs_fields())

    bad = copy.deepcopy(doc)
    bad["source"]["port"] = "80"
    bad["event"]["kind"] = "incident"
    bad["event"]["type"] = ["creation"]
    bad["event"]["catgory"] = ["network"]
    bad["rule"]["id"] = ["a", "b"]
    bad["source"]["ip"] = "not-an-address"
    assert sorted(ecs_problems(bad)) == [
        "event.catgory: not an ECS field",
        "event.kind: 'incident' is not one of ECS's allowed values",
        "event.type: 'creation' is not expected with event.category 'intrusion_detection'",
        "event.type: 'creation' is not expected with event.category 'network'",
        "rule.id: ECS does not make it an array",
        "source.ip: 'not-an-address' is not of ECS type ip",
        "source.port: '80' is not of ECS type long",
    ]


def test_ocsf_check_accepts_a_rendered_alert_and_refuses_unknown_or_invalid_attributes() -> None:
    finding = to_ocsf(_alert())
    assert ocsf_problems(finding) == []

    unknown = copy.deepcopy(finding)
    unknown["evidences"][0]["src_endpoint"]["hostnme"] = "x"
    unknown["unmapped"]["anything"] = {"goes": 1}
    assert ocsf_problems(unknown) == [
        "$.evidences[0].src_endpoint.hostnme: not an attribute of the OCSF schema"
    ]

    invalid = copy.deepcopy(finding)
    invalid["severity_id"] = 42
    assert any(p.startswith("severity_id") for p in ocsf_problems(invalid))
    missing = copy.deepcopy(finding)
    del missing["finding_info"]["uid"]
    assert any(p.startswith("finding_info.uid") for p in ocsf_problems(missing))
