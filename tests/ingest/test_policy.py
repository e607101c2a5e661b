"""Policy files: Alertflex files load unchanged, invalid ones are refused with file, path and expectation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alertmodel.errors import ConfigurationError
from ingest.policy import DEFAULT_POLICY_PATH, dump_policy, load_policy, parse_policy

ALERTFLEX_FILE = Path(__file__).parent / "policies" / "alertflex-all-keys.json"


def test_alertflex_policy_file_with_all_keys_loads_unchanged() -> None:
    data = json.loads(ALERTFLEX_FILE.read_text())
    policy = load_policy(ALERTFLEX_FILE)
    assert dump_policy(policy) == data
    assert policy.sources.hids.gray_list[0].response.new_event == "55715"
    assert policy.sources.nids.gray_list[0].host_selector("nids") == "sensor-1"
    assert policy.sources.crs.gray_list[0].host_selector("crs") == "nginx"


def test_the_shipped_default_policy_has_every_alertflex_key() -> None:
    data = json.loads(DEFAULT_POLICY_PATH.read_text())
    assert set(data) >= {"filter_name", "ref_id", "home_net", "agents", "hosts", "name_space", "sources"}
    for name in ("hids", "nids", "waf", "crs"):
        assert set(data["sources"][name]) >= {"log", "severity", "gray_list"}
        assert set(data["sources"][name]["severity"]) == {"threshold", "level0", "level1", "level2"}
    assert dump_policy(load_policy(DEFAULT_POLICY_PATH)) == data


def test_invalid_policy_error_names_the_file_the_json_path_and_what_was_expected(tmp_path: Path) -> None:
    data = json.loads(ALERTFLEX_FILE.read_text())
    data["sources"]["hids"]["gray_list"][0]["aggregate"]["in_period"] = "soon"
    path = tmp_path / "filters.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigurationError) as err:
        load_policy(path)
    message = str(err.value)
    assert (
        f"{path}: sources.hids.gray_list[0].aggregate.in_period: Input should be a valid integer" in message
    )
    assert "'soon'" in message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["sources"]["nids"]["severity"].pop("level1"),
            "sources.nids.severity.level1: Field required",
        ),
        (
            lambda d: d["sources"]["waf"].update(gray_lst=[]),
            "sources.waf.gray_lst: Extra inputs are not permitted",
        ),
        (
            lambda d: d["home_net"][0].update(netmask="255.0.255.0"),
            "home_net[0]: Value error, network/netmask",
        ),
        (lambda d: d["sources"]["hids"]["severity"].update(threshold=4), "sources.hids.severity.threshold"),
        (lambda d: d["sources"]["crs"]["gray_list"][0]["response"].update(new_severity=9), "new_severity"),
        (
            lambda d: d["sources"]["hids"]["gray_list"][0].update(event=""),
            "sources.hids.gray_list[0].event: String should",
        ),
        (
            lambda d: d["sources"]["waf"]["severity"].update(level0=3, level2=5),
            "sources: Value error, waf.severity: ModSecurity's ladder is inverted, expected level0 >= level1 >= level2",
        ),
        (
            lambda d: d["sources"]["hids"]["severity"].update(level1=11),
            "sources: Value error, hids.severity: expected level0 <= level1 <= level2",
        ),
    ],
)
def test_policy_mistakes_are_refused_with_their_path(change, expected: str) -> None:
    data = json.loads(ALERTFLEX_FILE.read_text())
    change(data)
    with pytest.raises(ConfigurationError, match=r"policy\.json: ") as err:
        parse_policy(data, origin="policy.json")
    assert expected in str(err.value)


def test_policy_that_is_not_json_is_refused_with_the_position() -> None:
    with pytest.raises(ConfigurationError, match=r"^f.json: not valid JSON: .*line 1 column 2"):
        parse_policy(b"{oops", origin="f.json")


def test_missing_policy_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read policy file"):
        load_policy(tmp_path / "nope.json")
