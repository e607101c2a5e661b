"""IOC checks at ingest: indicators from real Suricata/Wazuh samples, the TTL cache, and MISP alert rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alertmodel import ALERT_COLUMNS
from ingest.batch import CoreOutput
from ingest.core import IngestCore
from ingest.ioc import IocEnricher, TtlCache, observation_indicators

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"
PROTOCOLS = SAMPLES / "suricata" / "eve-7.0.10-protocols.json"
FIM = SAMPLES / "wazuh" / "wazuh-indexer-sample-alerts-fim-rootcheck.json"
NOW = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Hit:
    type: str
    event_id: int
    event_info: str


class FakeMisp:
    """The look-up seam: a dict of known IOCs, recording every batch it is asked."""

    def __init__(self, known: dict[str, list[Hit]]) -> None:
        self.known = known
        self.calls: list[list[str]] = []

    def __call__(self, values: list[str]) -> dict[str, list[Hit]]:
        self.calls.append(list(values))
        return {v: self.known[v] for v in values if v in self.known}


def core_output(path: Path) -> CoreOutput:
    return IngestCore(node="sensor1").process(path.read_bytes().splitlines())


def test_flow_dns_http_tls_and_fileinfo_events_yield_their_own_indicators() -> None:
    out = core_output(PROTOCOLS)
    by_type: dict[str, set[str]] = {}
    for observation in out.observations:
        for kind, _ in observation_indicators(observation["event"]):
            by_type.setdefault(observation["event_type"], set()).add(kind)
    assert by_type == {
        "flow": {"ip"},
        "dns": {"domain"},
        "http": {"domain"},
        "tls": {"domain"},
        "fileinfo": {"md5", "sha1", "sha256"},
    }


def test_private_addresses_are_skipped_unless_asked_for() -> None:
    flow = {"event_type": "flow", "src_ip": "10.16.1.11", "dest_ip": "82.165.177.154"}
    assert observation_indicators(flow) == [("ip", "82.165.177.154")]
    assert observation_indicators(flow, check_private=True) == [
        ("ip", "10.16.1.11"),
        ("ip", "82.165.177.154"),
    ]


def test_a_hit_on_a_flow_address_becomes_a_complete_misp_alert() -> None:
    misp = FakeMisp({"82.165.177.154": [Hit("ip-dst", 12, "Emotet C2 infrastructure")]})
    rows = IocEnricher(misp, node="sensor1", severity=3, now=lambda: NOW)(core_output(PROTOCOLS))

    flows = [r for r in rows if r["event"] == "ioc_ip"]
    assert flows and all(set(r) == set(ALERT_COLUMNS) for r in rows)
    row = flows[0]
    assert (row["source"], row["type"], row["severity"], row["node_id"]) == ("MISP", "NET", 3, "sensor1")
    assert (
        "82.165.177.154" in row["description"] and "event 12 (Emotet C2 infrastructure)" in row["description"]
    )
    assert row["info"].startswith("Suricata flow matched MISP ip 82.165.177.154")
    assert row["dstip"] == "82.165.177.154" and row["srcport"] > 0
    assert row["category"] == "misp, ioc, ip-dst"
    assert row["time_collr"] == NOW
    assert len({r["alert_uuid"] for r in rows}) == len(rows)


def test_a_hit_on_a_forged_observation_gives_an_alert_without_the_forged_address() -> None:
    dns = b'{"event_type": "dns", "src_ip": "0.0.0.0/0", "dest_ip": "; rm -rf /", "dns": {"rrname": "evil.example"}}'
    misp = FakeMisp({"evil.example": [Hit("domain", 3, "C2")]})
    (row,) = IocEnricher(misp, now=lambda: NOW)(IngestCore().process([dns]))
    assert (row["event"], row["srcip"], row["dstip"]) == ("ioc_domain", "indef", "indef")


def test_hashes_of_files_seen_on_the_wire_and_by_wazuh_fim_are_checked() -> None:
    wire = "c7d0a1ea4ab73fa3e7cd72fc1eb5b492"  # fileinfo md5 of www.testmyids.com's page
    fim = "896a6493ad8dd456f9a9d919d9c74a5e"  # Wazuh rule 550 md5_after
    misp = FakeMisp({wire: [Hit("md5", 5, "Test page")], fim: [Hit("filename|md5", 6, "Rootkit")]})
    enricher = IocEnricher(misp, now=lambda: NOW)

    wire_rows = enricher(core_output(PROTOCOLS))
    fim_rows = enricher(core_output(FIM))

    assert {r["event"] for r in wire_rows} == {"ioc_md5"}
    assert all(r["type"] == "FILE" and r["hash_md5"] == wire for r in wire_rows)
    [fim_row] = fim_rows
    assert (fim_row["event"], fim_row["type"], fim_row["hash_md5"]) == ("ioc_md5", "FILE", fim)
    assert fim_row["info"].startswith("Wazuh alert ") and "event 6 (Rootkit)" in fim_row["info"]
    assert fim_row["file"] != "indef" and fim_row["agent"] != "indef"


def test_the_same_batch_twice_gives_the_same_alert_ids() -> None:
    misp = FakeMisp({"www.testmyids.com": [Hit("domain", 9, "Test")]})
    first = IocEnricher(misp, now=lambda: NOW)(core_output(PROTOCOLS))
    again = IocEnricher(misp, now=lambda: NOW)(core_output(PROTOCOLS))
    assert first and [r["alert_uuid"] for r in first] == [r["alert_uuid"] for r in again]


def test_answers_are_cached_for_their_ttl_then_asked_again() -> None:
    clock = [0.0]
    misp = FakeMisp({})
    enricher = IocEnricher(misp, cache=TtlCache(ttl_s=60, clock=lambda: clock[0]))
    out = core_output(PROTOCOLS)

    enricher(out)
    asked = len(misp.calls[0])
    enricher(out)
    clock[0] = 59.0
    enricher(out)
    assert len(misp.calls) == 1 and asked == len(set(asked_values := misp.calls[0])) == len(asked_values)

    clock[0] = 61.0
    enricher(out)
    assert len(misp.calls) == 2 and sorted(misp.calls[1]) == sorted(misp.calls[0])


def test_the_cache_is_bounded_and_forgets_the_least_recently_used() -> None:
    cache = TtlCache(max_entries=2, ttl_s=60, clock=lambda: 0.0)
    cache.put("a", [])
    cache.put("b", [Hit("ip-dst", 1, "x")])
    assert cache.get("a") == ()
    cache.put("c", [])
    assert len(cache) == 2 and cache.get("b") is None and cache.get("a") == ()


def test_nothing_to_check_asks_misp_nothing() -> None:
    misp = FakeMisp({})
    assert (
        IocEnricher(misp)(
            CoreOutput(alerts=[], dead_letters=[], new_categories=[], observations=[], counts=None)
        )
        == []
    )  # type: ignore[arg-type]
    assert misp.calls == []


def test_a_failing_lookup_is_not_cached() -> None:
    calls = []

    def broken(values: list[str]) -> dict:
        calls.append(values)
        raise OSError("MISP database unreachable")

    enricher = IocEnricher(broken)
    with pytest.raises(OSError):
        enricher(core_output(PROTOCOLS))
    with pytest.raises(OSError):
        enricher(core_output(PROTOCOLS))
    assert len(calls) == 2 and len(enricher.cache) == 0


def test_severity_outside_the_alertflex_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="0, 1, 2 or 3"):
        IocEnricher(FakeMisp({}), severity=5)
