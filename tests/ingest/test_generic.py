"""The generic mapping: record field names at the top level of any JSON object."""

from __future__ import annotations

import pytest

from alertmodel.errors import NormalizationError
from ingest.core import IngestCore
from ingest.generic import normalize_generic
from tests.ingest.conftest import FORGED_ADDRESSES, FORGED_PORTS


def test_documented_fields_are_copied_and_the_rest_is_indef() -> None:
    (d,) = normalize_generic({
        "source": "Snort", "event": 1000001, "severity": 2, "category": ["scan", "recon"], "type": "NET",
        "srcip": "10.0.0.1", "dstport": "22", "timestamp": "2024-01-01T00:00:00Z", "url": "http://x/",
    })  # fmt: skip
    assert (d["source"], d["event"], d["severity"], d["type"], d["_cats"]) == (
        "Snort",
        "1000001",
        2,
        "NET",
        ["scan", "recon"],
    )
    assert (d["srcip"], d["dstport"], d["time_event"], d["url"], d["user"]) == (
        "10.0.0.1",
        22,
        "2024-01-01T00:00:00Z",
        "http://x/",
        "indef",
    )


def test_out_of_range_severity_and_unknown_type_fall_back() -> None:
    (d,) = normalize_generic({"source": "X", "event": "e", "severity": 9, "type": "WHATEVER"})
    assert (d["severity"], d["type"]) == (0, "MISC")


def test_generic_alert_passes_the_core_with_its_own_severity() -> None:
    (a,) = (
        IngestCore().process([b'{"source": "Snort", "event": "7", "severity": 3, "category": "scan"}']).alerts
    )
    assert (a["source"], a["severity"], a["category"]) == ("Snort", 3, "scan")


def test_missing_source_or_event_is_refused() -> None:
    with pytest.raises(NormalizationError, match="generic: source"):
        normalize_generic({"event": "1"})
    with pytest.raises(NormalizationError, match="generic: event"):
        normalize_generic({"source": "X", "event": ""})


@pytest.mark.parametrize("forged", FORGED_ADDRESSES, ids=lambda v: repr(v)[:24])
def test_a_forged_address_becomes_indef(forged: object) -> None:
    (d,) = normalize_generic({"source": "Snort", "event": 1, "srcip": forged, "dstip": forged})
    assert (d["srcip"], d["dstip"]) == ("indef", "indef")


@pytest.mark.parametrize("forged", FORGED_PORTS, ids=lambda v: repr(v)[:24])
def test_a_forged_port_becomes_0(forged: object) -> None:
    (d,) = normalize_generic({"source": "Snort", "event": 1, "srcport": forged, "dstport": forged})
    assert (d["srcport"], d["dstport"]) == (0, 0)
