"""Indicator spelling shared by the ingest IOC checks and the reputation task."""

from __future__ import annotations

import pytest

from alertmodel.indicators import normalize_indicator
from ingest.ioc import observation_indicators


def test_an_internationalized_domain_in_punycode_is_a_domain() -> None:
    assert normalize_indicator("domain", "XN--J1AHHQ.xn--p1ai") == "xn--j1ahhq.xn--p1ai"


@pytest.mark.parametrize("value", ["example.com:8080", "10.0.0.1", "exa mple.com", "localhost"])
def test_what_is_not_a_domain_name_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="not a domain name"):
        normalize_indicator("domain", value)


def test_ingest_checks_the_indicators_the_reputation_task_accepts() -> None:
    dns = {
        "event_type": "dns",
        "dns": {
            "rrname": "Evil.Example.COM.",
            "answers": [{"rrname": "xn--j1ahhq.xn--p1ai"}, {"rrname": "-"}],
        },
    }
    fileinfo = {"event_type": "fileinfo", "fileinfo": {"md5": " 44D88612FEA8A8F36DE82E1278ABB02F "}}
    assert observation_indicators(dns) == [("domain", "evil.example.com"), ("domain", "xn--j1ahhq.xn--p1ai")]
    assert observation_indicators(fileinfo) == [("md5", "44d88612fea8a8f36de82e1278abb02f")]
