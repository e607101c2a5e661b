"""Wazuh alerts.json mapping, checked field by field on recorded alerts."""

from __future__ import annotations

import orjson
import pytest

from alertmodel.errors import NormalizationError
from ingest.wazuh import normalize_wazuh
from tests.ingest.conftest import FORGED_ADDRESSES, FORGED_PORTS, sample_line

FIM = "wazuh/wazuh-indexer-sample-alerts-fim-rootcheck.json"


def event(rel: str, n: int) -> dict:
    return orjson.loads(sample_line(rel, n))


def test_fim_alert_is_type_file_with_path_and_hashes_after_the_change() -> None:
    (d,) = normalize_wazuh(event(FIM, 2))  # rule 550 "Integrity checksum changed."
    assert (d["source"], d["type"], d["event"], d["_level"]) == ("Wazuh", "FILE", "550", 7)
    assert d["file"] == "/etc/sysconfig/network-scripts/ifcfg-eth1"
    assert d["hash_md5"] == "896a6493ad8dd456f9a9d919d9c74a5e"
    assert d["hash_sha1"] == "42b103c8ccf0f552e931159fdccf2072f1444842"
    assert d["hash_sha256"] == "6cadaacded787afb101f14c9b404daed8c8800f19199a31024ce91ea1f26"  # as recorded
    assert (d["agent"], d["sensor"], d["description"]) == (
        "RHEL7",
        "wazuh-manager",
        "Integrity checksum changed.",
    )
    assert d["_cats"] == [
        "wazuh", "syscheck", "pci_dss_11.5", "hipaa_164.312.c.1", "hipaa_164.312.c.2", "gdpr_II_5.1.f", "nist_800_53_SI.7",
    ]  # fmt: skip


def test_fim_alert_without_hashes_leaves_them_indef() -> None:
    (d,) = normalize_wazuh(event(FIM, 1))  # rule 554 "File added"
    assert (d["type"], d["file"], d["hash_md5"], d["hash_sha256"]) == (
        "FILE",
        "/var/log/lastlog",
        "indef",
        "indef",
    )


def test_sshd_alert_maps_addresses_port_user_log_and_mitre_and_compliance_categories() -> None:
    (d,) = normalize_wazuh(event("wazuh/wazuh-integratord-test-alert-5712.json", 1))
    assert (d["type"], d["event"], d["_level"]) == ("HOST", "5712", 10)
    assert (d["srcip"], d["srcport"], d["dstip"], d["dstport"], d["user"]) == (
        "172.17.1.1",
        56404,
        "indef",
        0,
        "paco",
    )
    assert d["info"] == "May 11 12:29:18 localhost sshd[17584]: Invalid user paco from 172.17.1.1 port 56404"
    assert (d["location"], d["agent"], d["time_event"]) == (
        "/var/log/secure",
        "localhost.localdomain",
        "2022-05-11T12:29:19.905+0000",
    )
    assert d["_cats"] == [
        "syslog", "sshd", "authentication_failures",
        "pci_dss_11.4", "pci_dss_10.2.4", "pci_dss_10.2.5", "hipaa_164.312.b",
        "gdpr_IV_35.7.d", "gdpr_IV_32.2", "nist_800_53_SI.4", "nist_800_53_AU.14", "nist_800_53_AC.7", "mitre_T1110",
    ]  # fmt: skip


def test_rootcheck_alert_takes_the_file_from_data_and_keeps_the_time_placeholder() -> None:
    (d,) = normalize_wazuh(event(FIM, 6))
    assert (d["type"], d["file"], d["location"]) == ("HOST", "/usr/bin/ps", "rootcheck")
    assert d["info"].startswith("Trojaned version of file '/usr/bin/ps' detected.")
    assert d["time_event"] == "{timestamp}"


def test_who_data_gives_user_and_process() -> None:
    e = event(FIM, 2)
    e["syscheck"]["audit"] = {
        "user": {"id": "0", "name": "root"},
        "process": {"id": "82", "name": "/usr/bin/vim"},
    }
    (d,) = normalize_wazuh(e)
    assert (d["user"], d["process"]) == ("root", "/usr/bin/vim")


def test_level_given_as_digits_is_accepted_and_other_levels_are_refused() -> None:
    e = event(FIM, 1)
    e["rule"]["level"] = "12"
    assert normalize_wazuh(e)[0]["_level"] == 12
    e["rule"]["level"] = "high"
    with pytest.raises(NormalizationError, match=r"wazuh: rule\.level must be an integer, got 'high'"):
        normalize_wazuh(e)
    del e["rule"]["id"]
    with pytest.raises(NormalizationError, match=r"rule\.id"):
        normalize_wazuh(e)


@pytest.mark.parametrize("forged", FORGED_ADDRESSES, ids=lambda v: repr(v)[:24])
def test_a_forged_address_becomes_indef(forged: object) -> None:
    e = event("wazuh/wazuh-integratord-test-alert-5712.json", 1)
    e["data"]["srcip"] = e["data"]["dstip"] = forged
    (d,) = normalize_wazuh(e)
    assert (d["srcip"], d["dstip"]) == ("indef", "indef")


@pytest.mark.parametrize("forged", FORGED_PORTS, ids=lambda v: repr(v)[:24])
def test_a_forged_port_becomes_0(forged: object) -> None:
    e = event("wazuh/wazuh-integratord-test-alert-5712.json", 1)
    e["data"]["srcport"] = e["data"]["dstport"] = forged
    (d,) = normalize_wazuh(e)
    assert (d["srcport"], d["dstport"]) == (0, 0)
