"""ModSecurity audit log mapping (v3 and v2 shapes), one alert per rule message."""

from __future__ import annotations

import orjson
import pytest

from alertmodel.errors import NormalizationError
from ingest.modsecurity import normalize_modsecurity
from tests.ingest.conftest import FORGED_ADDRESSES, FORGED_PORTS, sample_line

TZ = "modsecurity/elastic-modsec-audit-tz.log"


def test_v3_message_maps_rule_id_severity_addresses_host_and_uri() -> None:
    (d,) = normalize_modsecurity(orjson.loads(sample_line(TZ, 7)))
    assert (d["source"], d["type"], d["event"], d["_level"]) == ("ModSecurity", "NET", "920350", 4)
    assert d["description"] == "Host header is a numeric IP address"
    assert (d["srcip"], d["srcport"], d["dstip"], d["dstport"]) == (
        "67.43.156.14",
        44464,
        "67.43.156.14",
        443,
    )
    assert (d["agent"], d["url"], d["info"]) == ("34.87.56.16", "/owa/", "34.87.56.16")
    assert "attack-protocol" in d["_cats"] and "PCI/6.5.10" in d["_cats"]


def test_v2_messages_are_parsed_from_their_tags_one_alert_each() -> None:
    drafts = normalize_modsecurity(orjson.loads(sample_line(TZ, 16)))
    assert [(d["event"], d["_level"]) for d in drafts] == [("932160", 2), ("949110", 7), ("980170", 7)]
    rce = drafts[0]
    assert rce["description"] == "Remote Command Execution: Unix Shell Code Found"
    assert rce["info"] == "Matched Data: bin/bash found within ARGS:exec: /bin/bash"
    assert (rce["srcip"], rce["srcport"], rce["dstip"], rce["dstport"]) == (
        "127.0.0.1",
        43790,
        "127.0.0.1",
        80,
    )
    assert (rce["url"], rce["agent"], rce["time_event"]) == (
        "/index.php?exec=/bin/bash",
        "localhost",
        "23/May/2022:06:28:50 +0000",
    )
    assert rce["_cats"][:4] == ["application-multi", "language-shell", "platform-unix", "attack-rce"]


def test_v2_sqli_transaction() -> None:
    drafts = normalize_modsecurity(orjson.loads(sample_line(TZ, 18)))
    assert [d["event"] for d in drafts] == ["942100", "949110", "980130"]
    assert drafts[0]["agent"] == "test.website.com" and drafts[0]["dstip"] == "172.21.50.216"


def test_transaction_without_messages_is_no_alert() -> None:
    assert normalize_modsecurity(orjson.loads(sample_line(TZ, 2))) == []


def test_v3_message_without_rule_id_is_refused() -> None:
    e = orjson.loads(sample_line(TZ, 7))
    del e["transaction"]["messages"][0]["details"]["ruleId"]
    with pytest.raises(NormalizationError, match=r"transaction.messages\[0\].details.ruleId"):
        normalize_modsecurity(e)


@pytest.mark.parametrize("forged", FORGED_ADDRESSES, ids=lambda v: repr(v)[:24])
def test_a_forged_address_becomes_indef_in_both_shapes(forged: object) -> None:
    v3 = orjson.loads(sample_line(TZ, 7))
    v3["transaction"]["client_ip"] = v3["transaction"]["host_ip"] = forged
    v2 = orjson.loads(sample_line(TZ, 18))
    v2["transaction"]["remote_address"] = v2["transaction"]["local_address"] = forged
    for d in [*normalize_modsecurity(v3), *normalize_modsecurity(v2)]:
        assert (d["srcip"], d["dstip"]) == ("indef", "indef")


@pytest.mark.parametrize("forged", FORGED_PORTS, ids=lambda v: repr(v)[:24])
def test_a_forged_port_becomes_0_in_both_shapes(forged: object) -> None:
    v3 = orjson.loads(sample_line(TZ, 7))
    v3["transaction"]["client_port"] = v3["transaction"]["host_port"] = forged
    v2 = orjson.loads(sample_line(TZ, 18))
    v2["transaction"]["remote_port"] = v2["transaction"]["local_port"] = forged
    for d in [*normalize_modsecurity(v3), *normalize_modsecurity(v2)]:
        assert (d["srcport"], d["dstport"]) == (0, 0)
