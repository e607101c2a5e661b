"""Falco JSON output mapping on recorded events."""

from __future__ import annotations

import orjson
import pytest

from alertmodel.errors import NormalizationError
from ingest.falco import normalize_falco
from tests.ingest.conftest import FORGED_ADDRESSES, FORGED_PORTS, sample_line

FALCO = "falco/elastic-falco_alerts-test-falco.log"


def test_file_read_maps_rule_output_container_process_user_and_tags() -> None:
    (d,) = normalize_falco(orjson.loads(sample_line(FALCO, 1)))
    assert (d["source"], d["type"], d["event"], d["_level"]) == (
        "Falco",
        "HOST",
        "Read sensitive file untrusted",
        3,
    )
    assert d["description"].startswith("2024-05-07T18:54:19.341081180+0000: Warning Sensitive file opened")
    assert d["container"] == "elastic-package-service-falco-event-generator-1"
    assert (d["process"], d["user"], d["file"], d["info"]) == (
        "event-generator",
        "root",
        "/etc/shadow",
        "event-generator run --loop",
    )
    assert (d["agent"], d["time_event"]) == ("97ade2b595f0", "2024-05-07T18:54:19.341081180Z")
    assert d["_cats"] == [
        "T1555",
        "container",
        "filesystem",
        "host",
        "maturity_stable",
        "mitre_credential_access",
    ]


def test_network_fields_become_addresses_and_ports() -> None:
    (d,) = normalize_falco(orjson.loads(sample_line(FALCO, 15)))
    assert (d["srcip"], d["srcport"], d["dstip"], d["dstport"]) == (
        "216.160.83.56",
        5400,
        "89.160.20.112",
        5700,
    )


def test_empty_tags_give_no_category_and_container_falls_back_to_its_id() -> None:
    e = orjson.loads(sample_line(FALCO, 5))
    assert e["tags"] == []
    del e["output_fields"]["container.name"]
    (d,) = normalize_falco(e)
    assert (d["_cats"], d["container"], d["_level"]) == ([], "9656db3bb358", 1)


def test_unknown_priority_is_refused() -> None:
    e = orjson.loads(sample_line(FALCO, 1))
    e["priority"] = 42
    with pytest.raises(NormalizationError, match="falco: unknown priority 42"):
        normalize_falco(e)


@pytest.mark.parametrize("forged", FORGED_ADDRESSES, ids=lambda v: repr(v)[:24])
def test_a_forged_address_becomes_indef(forged: object) -> None:
    e = orjson.loads(sample_line(FALCO, 15))
    e["output_fields"]["fd.cip"] = e["output_fields"]["fd.sip"] = forged
    (d,) = normalize_falco(e)
    assert (d["srcip"], d["dstip"]) == ("indef", "indef")


@pytest.mark.parametrize("forged", FORGED_PORTS, ids=lambda v: repr(v)[:24])
def test_a_forged_port_becomes_0(forged: object) -> None:
    e = orjson.loads(sample_line(FALCO, 15))
    e["output_fields"]["fd.cport"] = e["output_fields"]["fd.sport"] = forged
    (d,) = normalize_falco(e)
    assert (d["srcport"], d["dstport"]) == (0, 0)
