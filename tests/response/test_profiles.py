from __future__ import annotations

from pathlib import Path

import pytest

from alertmodel.engine import make_engine
from alertmodel.errors import ConfigurationError
from response.profiles import (
    EmailAction,
    PlaybookAction,
    ProfileFile,
    dump_profiles,
    load_profiles_file,
    parse_profiles,
    read_profiles,
    store_profiles,
)

EXAMPLE = Path(__file__).parents[1] / "fixtures" / "profiles" / "example.yaml"


def test_example_file_loads_every_section() -> None:
    profiles = load_profiles_file(EXAMPLE)
    assert [c.name for c in profiles.category_profiles] == ["scans", "all-wazuh"]
    assert profiles.user_groups[0].emails == ["soc@example.org", "oncall@example.org"]
    nmap = profiles.response_profiles[0]
    assert nmap.match.severity == 2 and nmap.rate_limit is not None and nmap.rate_limit.key == "srcip"
    assert isinstance(nmap.actions[0], PlaybookAction) and isinstance(nmap.actions[1], EmailAction)
    assert nmap.playbook is not None and nmap.playbook.deployment == "block-ip/default"
    assert profiles.response_profiles[2].enabled is False


def test_export_reads_back_to_the_same_profiles() -> None:
    profiles = load_profiles_file(EXAMPLE)
    assert parse_profiles(dump_profiles(profiles), origin="export") == profiles


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            "response_profiles:\n  - name: p\n    match: {severity: 7}\n    actions: [{kind: incident}]\n",
            "bad.yaml: response_profiles[0].match.severity: Input should be less than or equal to 4",
        ),
        (
            "response_profiles:\n  - name: p\n    match: {colour: red}\n    actions: [{kind: incident}]\n",
            "bad.yaml: response_profiles[0].match.colour: Extra inputs are not permitted",
        ),
        (
            "response_profiles:\n  - name: p\n    actions: [{kind: fax}]\n",
            "bad.yaml: response_profiles[0].actions[0]: Input tag 'fax' found using 'kind' does not match "
            "any of the expected tags",
        ),
        (
            "response_profiles:\n  - name: p\n    actions: [{kind: playbook, deployment: nope}]\n",
            "bad.yaml: response_profiles[0].actions[0].deployment: String should match pattern",
        ),
        (
            "response_profiles:\n  - name: p\n    match: {description_regex: '(unclosed'}\n"
            "    actions: [{kind: incident}]\n",
            "bad.yaml: response_profiles[0].match.description_regex: Value error, not a valid regular expression",
        ),
        (
            "response_profiles:\n  - name: p\n    match: {source: Suricata}\n    actions: [{kind: incident}]\n",
            "bad.yaml: response_profiles[0].match: Value error, source and event go together",
        ),
        (
            "response_profiles:\n  - name: p\n    group: {key: colour, window_seconds: 5}\n"
            "    actions: [{kind: incident}]\n",
            "bad.yaml: response_profiles[0].group.key: Value error, 'colour' is not an alert field (expected one of",
        ),
        (
            "response_profiles:\n  - name: p\n    actions:\n      - {kind: playbook, deployment: a/b}\n"
            "      - {kind: playbook, deployment: c/d}\n",
            "bad.yaml: response_profiles[0].actions: Value error, a profile runs at most one playbook",
        ),
        (
            "response_profiles:\n  - name: p\n    actions: []\n",
            "bad.yaml: response_profiles[0].actions: List should have at least 1 item",
        ),
        (
            "response_profiles:\n  - {name: p, actions: [{kind: incident}]}\n"
            "  - {name: p, actions: [{kind: incident}]}\n",
            "bad.yaml: (top level): Value error, response_profiles: name 'p' is defined twice",
        ),
        (
            "user_groups:\n  - {name: soc, emails: [not-an-address]}\n",
            "bad.yaml: user_groups[0].emails: Value error, 'not-an-address' is not an e-mail address",
        ),
        ("response_profiles: [\n", "bad.yaml: not valid YAML"),
        ("- just\n- a list\n", "bad.yaml: expected a mapping at the top level, got list"),
    ],
)
def test_invalid_profiles_are_refused_naming_file_path_and_expectation(document: str, expected: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_profiles(document, origin="bad.yaml")
    assert str(info.value).startswith(expected), str(info.value)


def test_missing_file_is_refused_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"missing\.yaml: cannot read profiles file"):
        load_profiles_file(tmp_path / "missing.yaml")


def test_profiles_are_stored_and_read_back_on_both_databases(migrated_url: str) -> None:
    profiles = load_profiles_file(EXAMPLE)
    engine = make_engine(migrated_url)
    try:
        with engine.begin() as conn:
            store_profiles(conn, profiles, origin="example.yaml")
        with engine.begin() as conn:  # importing again replaces by name, never duplicates
            store_profiles(conn, profiles, origin="example.yaml")
        with engine.connect() as conn:
            stored = read_profiles(conn)
    finally:
        engine.dispose()
    key = lambda p: p.name  # noqa: E731
    assert sorted(stored.response_profiles, key=key) == sorted(profiles.response_profiles, key=key)
    assert sorted(stored.category_profiles, key=key) == sorted(profiles.category_profiles, key=key)
    assert stored.user_groups == profiles.user_groups


def test_a_profile_naming_an_unknown_category_profile_or_group_is_refused(sqlite_database: str) -> None:
    from alertmodel import migrate

    migrate.upgrade(sqlite_database)
    engine = make_engine(sqlite_database)
    bad_category = ProfileFile.model_validate(
        {
            "response_profiles": [
                {"name": "p", "match": {"category_profile": "nope"}, "actions": [{"kind": "incident"}]}
            ]
        }
    )
    bad_group = ProfileFile.model_validate(
        {"response_profiles": [{"name": "p", "actions": [{"kind": "email", "group": "ghosts"}]}]}
    )
    try:
        with (
            pytest.raises(
                ConfigurationError, match=r"f\.yaml: response_profiles\[0\]\.match\.category_profile: "
            ),
            engine.begin() as conn,
        ):
            store_profiles(conn, bad_category, origin="f.yaml")
        with (
            pytest.raises(
                ConfigurationError, match=r"response_profiles\[0\]\.actions\[0\]\.group: no user group"
            ),
            engine.begin() as conn,
        ):
            store_profiles(conn, bad_group, origin="f.yaml")
        with engine.connect() as conn:
            assert read_profiles(conn) == ProfileFile()
    finally:
        engine.dispose()
