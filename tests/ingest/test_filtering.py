"""The filter policy, rule by rule as DESIGN.md "Filter policy" numbers them, on recorded events."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from ingest.core import IngestCore
from ingest.filtering import Aggregator
from ingest.policy import parse_policy
from tests.ingest.conftest import FakeClock, sample_line

WAZUH_5712 = sample_line(
    "wazuh/wazuh-integratord-test-alert-5712.json", 1
)  # level 10, agent localhost.localdomain
SURICATA = sample_line("suricata/eve-7.0.10-alerts.json", 1)  # sid 2100498, severity 2
FALCO = sample_line("falco/elastic-falco_alerts-test-falco.log", 1)  # Warning, container elastic-package-...
MODSEC_V2 = sample_line("modsecurity/elastic-modsec-audit-tz.log", 16)  # 932160 CRITICAL, 949110, 980170
MODSEC_V3 = sample_line("modsecurity/elastic-modsec-audit-tz.log", 7)  # 920350 severity "4"

# the tests below rewrite these exact bytes of the recorded events
assert b'"level":10' in WAZUH_5712
assert b'"severity":2' in SURICATA
assert b'"priority":"Warning"' in FALCO
assert b'"severity":"4"' in MODSEC_V3

BASE: dict[str, Any] = {
    "filter_name": "test-filter",
    "ref_id": "ref-1",
    "home_net": [],
    "agents": [],
    "hosts": [],
    "name_space": [],
    "sources": {
        "hids": {
            "log": True,
            "severity": {"threshold": 0, "level0": 2, "level1": 4, "level2": 10},
            "gray_list": [],
        },
        "nids": {
            "log": True,
            "severity": {"threshold": 0, "level0": 1, "level1": 2, "level2": 3},
            "gray_list": [],
        },
        "waf": {
            "log": True,
            "severity": {"threshold": 0, "level0": 5, "level1": 4, "level2": 3},
            "gray_list": [],
        },
        "crs": {
            "log": True,
            "severity": {"threshold": 0, "level0": 2, "level1": 4, "level2": 6},
            "gray_list": [],
        },
    },
}


def policy(**sections: dict[str, Any]) -> Any:
    """BASE with some sections' keys replaced (e.g. hids={"gray_list": [...]}); home_net via _home_net."""
    data = copy.deepcopy(BASE)
    for name, changes in sections.items():
        if name == "home_net":
            data["home_net"] = changes
        else:
            data["sources"][name].update(changes)
    return parse_policy(data, origin="test")


def gray(
    event: str, *, host_key: str = "agent", host: str = "indef", match: str = "indef", **response: Any
) -> dict:
    reproduced = response.pop("reproduced", 0)
    in_period = response.pop("in_period", 0)
    return {
        "event": event,
        host_key: host,
        "match": match,
        "aggregate": {"reproduced": reproduced, "in_period": in_period},
        "response": {
            "profile": "indef",
            "new_type": "indef",
            "new_source": "indef",
            "new_event": "indef",
            "new_severity": 0,
            "new_category": "indef",
            "new_description": "indef",
            **response,
        },
    }


def run(pol: Any, *lines: bytes, clock: FakeClock | None = None, core: IngestCore | None = None):
    core = core or IngestCore(node="n1", policy=pol, clock=clock or FakeClock())
    return core.process(list(lines))


def with_level(level: int) -> bytes:
    return WAZUH_5712.replace(b'"level":10', b'"level":%d' % level)


# --- rule 1: home_net alert_suppress -------------------------------------------------------


def test_home_net_with_alert_suppress_drops_an_alert_whose_srcip_is_inside() -> None:
    pol = policy(
        home_net=[
            {"network": "172.17.0.0", "netmask": "255.255.0.0", "node": "indef", "alert_suppress": True}
        ]
    )
    out = run(pol, WAZUH_5712)
    assert out.alerts == []
    assert out.counts["dropped_home_net"] == 1


def test_home_net_without_alert_suppress_or_for_another_node_drops_nothing() -> None:
    nets = [
        {"network": "172.17.0.0", "netmask": "16", "node": "indef", "alert_suppress": False},
        {"network": "172.17.0.0", "netmask": "16", "node": "other-node", "alert_suppress": True},
        {"network": "10.0.0.0", "netmask": "8", "node": "n1", "alert_suppress": True},
    ]
    out = run(policy(home_net=nets), WAZUH_5712)
    assert len(out.alerts) == 1
    assert out.counts["dropped_home_net"] == 0


# --- rule 2: severity translation ----------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "severity"), [(0, 0), (1, 0), (2, 1), (3, 1), (4, 2), (9, 2), (10, 3), (15, 3)]
)
def test_wazuh_levels_go_up_the_hids_ladder(level: int, severity: int) -> None:
    (alert,) = run(policy(), with_level(level)).alerts
    assert alert["severity"] == severity


@pytest.mark.parametrize(("priority", "severity"), [
    ("Debug", 0), ("Informational", 0), ("Notice", 1), ("Warning", 1),
    ("Error", 2), ("Critical", 2), ("Alert", 3), ("Emergency", 3),
])  # fmt: skip
def test_falco_priorities_go_up_the_priority_ladder_then_the_crs_ladder(priority: str, severity: int) -> None:
    line = FALCO.replace(b'"priority":"Warning"', b'"priority":"%s"' % priority.encode())
    (alert,) = run(policy(), line).alerts
    assert alert["severity"] == severity


@pytest.mark.parametrize(
    ("native", "severity"), [(0, 3), (1, 3), (2, 3), (3, 2), (4, 1), (5, 0), (6, 0), (7, 0)]
)
def test_modsecurity_ladder_is_inverted_because_lower_native_severity_is_worse(
    native: int, severity: int
) -> None:
    line = MODSEC_V3.replace(b'"severity":"4"', b'"severity":"%d"' % native)
    (alert,) = run(policy(), line).alerts
    assert alert["severity"] == severity


def test_modsecurity_v2_severity_names_use_the_same_inverted_ladder() -> None:
    alerts = run(policy(), MODSEC_V2).alerts
    assert [(a["event"], a["severity"]) for a in alerts] == [("932160", 3), ("949110", 0), ("980170", 0)]


@pytest.mark.parametrize(("native", "severity"), [(1, 3), (2, 2), (3, 1), (4, 0), (0, 0)])
def test_suricata_uses_the_fixed_map_whatever_the_nids_ladder(native: int, severity: int) -> None:
    pol = policy(nids={"severity": {"threshold": 0, "level0": 100, "level1": 200, "level2": 300}})
    line = SURICATA.replace(b'"severity":2', b'"severity":%d' % native)
    (alert,) = run(pol, line).alerts
    assert alert["severity"] == severity


# --- rules 3 and 4: gray list --------------------------------------------------------------


def test_first_matching_gray_entry_wins_in_file_order() -> None:
    pol = policy(hids={"gray_list": [
        gray("5712", host="some-other-agent", new_description="wrong host"),
        gray("5712", new_description="first"),
        gray("5712", new_description="second"),
    ]})  # fmt: skip
    (alert,) = run(pol, WAZUH_5712).alerts
    assert alert["description"] == "first"
    assert alert["status"] == "modified"


def test_gray_entry_matches_on_event_host_and_raw_substring() -> None:
    pol = policy(hids={"gray_list": [
        gray("5712", host="localhost.localdomain", match="no such text", new_description="bad match"),
        gray("9999", new_description="other event"),
        gray("5712", host="localhost.localdomain", match="Invalid user paco", new_description="hit"),
    ]})  # fmt: skip
    (alert,) = run(pol, WAZUH_5712).alerts
    assert alert["description"] == "hit"


def test_host_selector_is_the_container_for_crs() -> None:
    name = "elastic-package-service-falco-event-generator-1"
    pol = policy(
        crs={
            "gray_list": [
                gray("Read sensitive file untrusted", host_key="container", host=name, new_event="falco-1")
            ]
        }
    )
    (alert,) = run(pol, FALCO).alerts
    assert alert["event"] == "falco-1"


def test_host_selector_for_nids_is_either_address_of_the_connection() -> None:
    pol = policy(nids={"gray_list": [gray("2100498", host_key="host", host="10.16.1.11", new_event="x")]})
    (alert,) = run(pol, SURICATA).alerts
    assert alert["event"] == "x"


def test_gray_listed_alert_passes_below_the_threshold() -> None:
    pol = policy(
        hids={
            "severity": {"threshold": 3, "level0": 2, "level1": 4, "level2": 10},
            "gray_list": [gray("5712")],
        }
    )
    out = run(pol, with_level(3))
    assert [a["severity"] for a in out.alerts] == [1]
    assert out.alerts[0]["status"] == "processed"  # matched but nothing rewritten
    assert out.counts["dropped_threshold"] == 0


def test_gray_entry_with_profile_suppress_drops_the_alert() -> None:
    pol = policy(hids={"gray_list": [gray("5712", profile="suppress")]})
    out = run(pol, WAZUH_5712)
    assert out.alerts == []
    assert out.counts["dropped_suppress"] == 1


def test_gray_response_rewrites_fields_and_appends_the_new_category() -> None:
    pol = policy(hids={"gray_list": [gray(
        "5712", profile="block-ssh", new_type="NET", new_source="WazuhX", new_event="55712",
        new_severity=1, new_category="new cat", new_description="new desc",
    )]})  # fmt: skip
    out = run(pol, WAZUH_5712)
    (alert,) = out.alerts
    assert (alert["action"], alert["type"], alert["source"], alert["event"]) == (
        "block-ssh",
        "NET",
        "WazuhX",
        "55712",
    )
    assert (alert["severity"], alert["description"], alert["status"]) == (1, "new desc", "modified")
    assert alert["category"].startswith("syslog, sshd, authentication_failures, ")
    assert alert["category"].endswith(", mitre_T1110, new cat")
    assert ("WazuhX", "new cat") in out.new_categories
    assert out.counts["modified"] == 1


def test_new_severity_zero_and_indef_values_leave_the_alert_as_it_is() -> None:
    pol = policy(hids={"gray_list": [gray("5712")]})
    (plain,) = run(policy(), WAZUH_5712).alerts
    (alert,) = run(pol, WAZUH_5712).alerts
    assert alert == plain


# --- rule 5: threshold ---------------------------------------------------------------------


@pytest.mark.parametrize(("threshold", "passes"), [(0, True), (2, True), (3, False)])
def test_alert_without_gray_match_passes_only_if_threshold_is_at_most_its_severity(
    threshold: int, passes: bool
) -> None:
    pol = policy(hids={"severity": {"threshold": threshold, "level0": 2, "level1": 4, "level2": 10}})
    out = run(pol, with_level(5))  # severity 2
    assert len(out.alerts) == (1 if passes else 0)
    assert out.counts["dropped_threshold"] == (0 if passes else 1)


# --- rule 6: aggregation -------------------------------------------------------------------


def test_aggregation_emits_one_extra_alert_when_the_count_is_reached_within_the_window(
    clock: FakeClock,
) -> None:
    pol = policy(
        hids={"gray_list": [gray("5712", reproduced=3, in_period=60, profile="notify", new_event="agg-5712")]}
    )
    core = IngestCore(node="n1", policy=pol, clock=clock)
    first = core.process([WAZUH_5712])
    clock.advance(30)
    second = core.process([WAZUH_5712])
    clock.advance(29)
    third = core.process([WAZUH_5712])
    assert [len(o.alerts) for o in (first, second, third)] == [1, 1, 2]
    single, agg = third.alerts
    assert single["status"] == "modified"
    assert agg["status"] == "aggregated"
    assert agg["info"] == "Message has been repeated 3 times"
    assert (agg["action"], agg["event"], agg["source"], agg["description"]) == (
        "notify",
        "agg-5712",
        "Wazuh",
        "sshd: brute force trying to get access to the system. Non existent user.",
    )
    assert agg["alert_uuid"] != single["alert_uuid"]
    assert third.counts["aggregated"] == 1
    # the window closed: the next match opens a new one
    clock.advance(1)
    assert len(core.process([WAZUH_5712]).alerts) == 1


def test_expired_aggregation_window_restarts_at_one(clock: FakeClock) -> None:
    pol = policy(hids={"gray_list": [gray("5712", reproduced=2, in_period=10)]})
    core = IngestCore(node="n1", policy=pol, clock=clock)
    assert len(core.process([WAZUH_5712]).alerts) == 1
    clock.advance(11)  # window expired: this match is 1 again
    assert len(core.process([WAZUH_5712]).alerts) == 1
    clock.advance(10)  # within the new window: 2
    out = core.process([WAZUH_5712])
    assert [a["status"] for a in out.alerts] == ["processed", "aggregated"]
    assert out.alerts[1]["info"] == "Message has been repeated 2 times"


def test_aggregation_counts_each_host_apart_when_the_entry_says_any_host(clock: FakeClock) -> None:
    pol = policy(hids={"gray_list": [gray("5712", reproduced=2, in_period=60)]})
    other = WAZUH_5712.replace(b'"name": "localhost.localdomain"}', b'"name": "web-1"}')
    assert other != WAZUH_5712
    out = run(pol, WAZUH_5712, other, clock=clock)
    assert [a["status"] for a in out.alerts] == ["processed", "processed"]
    out = run(pol, WAZUH_5712, other, WAZUH_5712, clock=clock)
    assert [a["status"] for a in out.alerts] == ["processed", "processed", "processed", "aggregated"]


def test_aggregation_state_is_bounded_and_expired_windows_are_purged() -> None:
    agg = Aggregator(max_windows=10)
    for i in range(100):
        agg.hit(("hids", "n", str(i), "h", "indef"), now=float(i), reproduced=5, in_period=1000)
        assert len(agg.windows) <= 10
    assert ("hids", "n", "99", "h", "indef") in agg.windows
    agg.purge(now=10_000.0)
    assert agg.windows == {}


# --- rule 7: white and black lists (extension) ----------------------------------------------


def test_white_listed_alert_is_dropped() -> None:
    pol = policy(hids={"white_list": [{"event": "5712", "agent": "localhost.localdomain", "match": "paco"}]})
    out = run(pol, WAZUH_5712)
    assert out.alerts == []
    assert out.counts["dropped_white_list"] == 1


def test_black_listed_alert_passes_any_threshold_with_severity_3() -> None:
    pol = policy(hids={
        "severity": {"threshold": 3, "level0": 2, "level1": 4, "level2": 10},
        "black_list": [{"event": "indef", "agent": "localhost.localdomain", "match": "indef"}],
    })  # fmt: skip
    (alert,) = run(pol, with_level(1)).alerts
    assert (alert["severity"], alert["status"]) == (3, "modified")


# --- policy fields and swapping ------------------------------------------------------------


def test_filter_name_and_ref_id_are_copied_into_every_alert() -> None:
    alerts = run(policy(), WAZUH_5712, SURICATA, FALCO, MODSEC_V2).alerts
    assert {(a["filter"], a["ref_id"]) for a in alerts} == {("test-filter", "ref-1")}


def test_set_policy_swaps_the_policy_between_calls(clock: FakeClock) -> None:
    core = IngestCore(node="n1", policy=policy(), clock=clock)
    assert len(core.process([WAZUH_5712]).alerts) == 1
    core.set_policy(policy(hids={"gray_list": [gray("5712", profile="suppress")]}))
    assert core.process([WAZUH_5712]).alerts == []
    core.set_policy(None)
    (alert,) = core.process([WAZUH_5712]).alerts
    assert alert["filter"] == "indef"


def test_raw_events_are_matched_as_text_of_the_event_line() -> None:
    line = orjson.loads(SURICATA)
    assert line["http"]["http_user_agent"] == "curl/7.43.0"
    pol = policy(nids={"gray_list": [gray("2100498", host_key="host", match="curl/7.43.0", new_severity=3)]})
    (alert,) = run(pol, SURICATA).alerts
    assert alert["severity"] == 3


def test_suppressed_alerts_still_count_towards_aggregation_and_only_the_aggregate_passes(
    clock: FakeClock,
) -> None:
    pol = policy(
        hids={
            "gray_list": [
                gray("5712", profile="suppress", reproduced=3, in_period=60, new_category="repeated")
            ]
        }
    )
    core = IngestCore(node="n1", policy=pol, clock=clock)
    assert core.process([WAZUH_5712, WAZUH_5712]).alerts == []
    out = core.process([WAZUH_5712])
    (agg,) = out.alerts
    assert (agg["status"], agg["action"], agg["info"]) == (
        "aggregated",
        "indef",
        "Message has been repeated 3 times",
    )
    assert agg["category"].endswith(", mitre_T1110, repeated")
    assert out.counts["dropped_suppress"] == 1 and out.counts["aggregated"] == 1


def test_black_list_beats_the_gray_list_suppress_and_severity() -> None:
    pol = policy(hids={
        "gray_list": [gray("5712", profile="suppress"), gray("5712", new_severity=1)],
        "black_list": [{"event": "5712", "agent": "indef", "match": "indef"}],
    })  # fmt: skip
    (alert,) = run(pol, WAZUH_5712).alerts
    assert (alert["severity"], alert["status"], alert["action"]) == (3, "modified", "indef")


def test_expired_windows_are_purged_by_a_later_process_call(clock: FakeClock) -> None:
    pol = policy(hids={"gray_list": [gray("5712", reproduced=5, in_period=30)]})
    core = IngestCore(node="n1", policy=pol, clock=clock)
    core.process([WAZUH_5712])
    assert len(core._aggregator.windows) == 1
    clock.advance(31)
    core.process([])  # less than a minute since the first call's purge: the window stays
    assert len(core._aggregator.windows) == 1
    clock.advance(30)
    core.process([])
    assert core._aggregator.windows == {}
