from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from response.matcher import CompiledProfile, ProfileIndex
from response.profiles import CategoryProfileSpec, ResponseProfileSpec
from tests.alertfactory import make_alert

NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def profile(name: str, **match: Any) -> ResponseProfileSpec:
    return ResponseProfileSpec.model_validate(
        {"name": name, "match": match, "actions": [{"kind": "incident"}]}
    )


SCANS = CategoryProfileSpec(
    name="scans", source_type="Suricata", categories=["Network Scan", "Attempted Information Leak"]
)
ALL_WAZUH = CategoryProfileSpec(name="all-wazuh", source_type="Wazuh", categories=["*"])


def names(index: ProfileIndex, alert: dict[str, Any], now: datetime = NOON) -> list[str]:
    return [p.name for p in index.match(alert, now)]


def test_alert_action_naming_a_profile_selects_only_that_profile() -> None:
    index = ProfileIndex(
        [profile("by-event", source="Suricata", event="2019284"), profile("escalate")],
    )
    assert names(index, make_alert(action="escalate")) == ["escalate"]
    assert names(index, make_alert()) == ["by-event"]


def test_source_and_event_profiles_win_over_category_profiles() -> None:
    index = ProfileIndex(
        [
            profile("by-event", source="Suricata", event="2019284"),
            profile("by-category", category_profile="scans"),
        ],
        [SCANS],
    )
    assert names(index, make_alert()) == ["by-event"]
    assert names(index, make_alert(event="999")) == ["by-category"]


def test_category_profiles_apply_when_the_event_profile_does_not_match_its_criteria() -> None:
    index = ProfileIndex(
        [
            profile("critical-only", source="Suricata", event="2019284", severity=3),
            profile("by-category", category_profile="scans"),
        ],
        [SCANS],
    )
    assert names(index, make_alert(severity=2)) == ["by-category"]
    assert names(index, make_alert(severity=3)) == ["critical-only"]


def test_category_profile_matches_any_of_the_alert_categories_and_star_takes_all_of_a_source() -> None:
    index = ProfileIndex(
        [profile("scans", category_profile="scans"), profile("wazuh", category_profile="all-wazuh")],
        [SCANS, ALL_WAZUH],
    )
    assert names(index, make_alert(category="policy, Network Scan")) == ["scans"]
    assert names(index, make_alert(category="policy")) == []
    assert names(index, make_alert(source="Wazuh", category="ossec, syscheck")) == ["wazuh"]


def test_all_matching_profiles_fire_once_each_in_order() -> None:
    index = ProfileIndex(
        [
            profile("a", source="Suricata", event="2019284"),
            profile("b", source="Suricata", event="2019284", node="node1"),
            profile("c", source="Suricata", event="2019284", node="other"),
        ]
    )
    assert names(index, make_alert()) == ["a", "b"]


@pytest.mark.parametrize(
    ("criterion", "hit", "miss"),
    [
        ({"node": "node1"}, {"node_id": "node1"}, {"node_id": "node2"}),
        ({"severity": 3}, {"severity": 3}, {"severity": 2}),
        ({"severity": 4}, {"severity": 0}, None),
        ({"agent": "web01"}, {"agent": "web01"}, {"agent": "web02"}),
        ({"container": "nginx"}, {"container": "nginx"}, {"container": "redis"}),
        ({"ip": "10.0.0.9"}, {"dstip": "10.0.0.9"}, {"srcip": "10.1.1.1", "dstip": "10.1.1.2"}),
        ({"ip": "10.0.0.5"}, {"srcip": "10.0.0.5"}, {"srcip": "10.0.0.6", "dstip": "10.0.0.7"}),
        ({"user": "root"}, {"user": "root"}, {"user": "bob"}),
        ({"sensor": "s1"}, {"sensor": "s1"}, {"sensor": "s2"}),
        ({"file": "/etc/passwd"}, {"file": "/etc/passwd"}, {"file": "/etc/shadow"}),
        ({"process": "/bin/sh"}, {"process": "/bin/sh"}, {"process": "/bin/bash"}),
        ({"description_regex": "(?i)nmap"}, {"description": "NMAP probe"}, {"description": "ping"}),
    ],
)
def test_each_optional_criterion_filters_and_empty_matches_anything(
    criterion: dict[str, Any], hit: dict[str, Any], miss: dict[str, Any] | None
) -> None:
    index = ProfileIndex([profile("p", source="Suricata", event="2019284", **criterion)])
    assert names(index, make_alert(**hit)) == ["p"]
    if miss is not None:
        assert names(index, make_alert(**miss)) == []


def test_hour_window_wraps_past_midnight_in_its_timezone() -> None:
    index = ProfileIndex(
        [
            profile(
                "night",
                source="Suricata",
                event="2019284",
                hours={"start": 22, "end": 6, "timezone": "Europe/Berlin"},
            )
        ]
    )
    assert names(index, make_alert(), datetime(2026, 11, 23, 21, 30, tzinfo=UTC)) == ["night"]  # 22:30 Berlin
    assert names(index, make_alert(), datetime(2026, 11, 23, 4, 59, tzinfo=UTC)) == ["night"]  # 05:59 Berlin
    assert names(index, make_alert(), datetime(2026, 11, 23, 5, 0, tzinfo=UTC)) == []  # 06:00 Berlin
    assert names(index, make_alert(), NOON) == []


def test_disabled_profiles_never_match() -> None:
    spec = profile("p", source="Suricata", event="2019284").model_copy(update={"enabled": False})
    index = ProfileIndex([spec])
    assert names(index, make_alert()) == [] and names(index, make_alert(action="p")) == []


def test_an_alert_only_checks_profiles_that_can_match_it(monkeypatch: pytest.MonkeyPatch) -> None:
    profiles = [profile(f"p{i}", source="Suricata", event=str(i), severity=i % 4) for i in range(10_000)]
    profiles += [profile(f"c{i}", category_profile="scans") for i in range(3)]
    index = ProfileIndex(profiles, [SCANS])
    checked: list[str] = []
    original = CompiledProfile.accepts

    def counting(self: CompiledProfile, alert: Any, now: datetime) -> bool:
        checked.append(self.name)
        return original(self, alert, now)

    monkeypatch.setattr(CompiledProfile, "accepts", counting)
    assert names(index, make_alert(event="4242", severity=2)) == ["p4242"]
    assert checked == ["p4242"]
    checked.clear()
    assert names(index, make_alert(event="nope", category="Network Scan")) == ["c0", "c1", "c2"]
    assert checked == ["c0", "c1", "c2"]
