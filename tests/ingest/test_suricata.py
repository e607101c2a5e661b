"""Suricata EVE alert mapping on recorded events."""

from __future__ import annotations

import orjson
import pytest

from alertmodel.errors import NormalizationError
from ingest.core import IngestCore
from ingest.suricata import normalize_suricata
from tests.ingest.conftest import FORGED_ADDRESSES, FORGED_PORTS, sample_line

ALERTS = "suricata/eve-7.0.10-alerts.json"


def test_http_alert_maps_signature_addresses_ports_url_and_file_hashes() -> None:
    (d,) = normalize_suricata(orjson.loads(sample_line(ALERTS, 1)))
    assert (d["source"], d["type"], d["event"], d["_level"]) == ("Suricata", "NET", "2100498", 2)
    assert d["description"] == "GPL ATTACK_RESPONSE id check returned root"
    assert d["_cats"] == ["Potentially Bad Traffic"]
    assert (d["srcip"], d["srcport"], d["dstip"], d["dstport"], d["proto"]) == (
        "82.165.177.154",
        80,
        "10.16.1.11",
        54186,
        "TCP",
    )
    assert d["url"] == "www.testmyids.com/"
    assert (d["file"], d["hash_md5"]) == ("/", "c7d0a1ea4ab73fa3e7cd72fc1eb5b492")
    assert d["hash_sha256"] == "5ef391d886d04116cf84b584ae37ef136f83950ab69b7bfb2a6da7506f7b3a57"
    assert d["time_event"] == "2016-07-13T22:42:07.573103+0000"


def test_decoder_alert_without_addresses_leaves_them_indef() -> None:
    lines = [orjson.loads(x) for x in (sample_line(ALERTS, n) for n in range(1, 64))]
    decoder = next(e for e in lines if e["event_type"] == "alert" and "src_ip" not in e)
    (d,) = normalize_suricata(decoder)
    assert (d["srcip"], d["dstip"], d["srcport"]) == ("indef", "indef", 0)


def test_alert_without_signature_id_is_refused() -> None:
    e = orjson.loads(sample_line(ALERTS, 1))
    del e["alert"]["signature_id"]
    with pytest.raises(NormalizationError, match=r"suricata: missing alert\.signature_id"):
        normalize_suricata(e)


@pytest.mark.parametrize("forged", FORGED_ADDRESSES, ids=lambda v: repr(v)[:24])
def test_a_forged_address_becomes_indef(forged: object) -> None:
    e = orjson.loads(sample_line(ALERTS, 1))
    e["src_ip"] = e["dest_ip"] = forged
    (d,) = normalize_suricata(e)
    assert (d["srcip"], d["dstip"]) == ("indef", "indef")


@pytest.mark.parametrize("forged", FORGED_PORTS, ids=lambda v: repr(v)[:24])
def test_a_forged_port_becomes_0(forged: object) -> None:
    e = orjson.loads(sample_line(ALERTS, 1))
    e["src_port"] = e["dest_port"] = forged
    (d,) = normalize_suricata(e)
    assert (d["srcport"], d["dstport"]) == (0, 0)


def test_a_forged_network_is_stored_as_indef_and_kept_in_the_raw_event() -> None:
    e = orjson.loads(sample_line(ALERTS, 1))
    e["src_ip"] = "0.0.0.0/0"
    (alert,) = IngestCore().process([orjson.dumps(e)], source="suricata").alerts
    assert alert["srcip"] == "indef" and alert["dstip"] == "10.16.1.11"
    assert orjson.loads(alert["json_event"])["src_ip"] == "0.0.0.0/0"
