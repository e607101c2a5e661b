"""IngestCore end to end: records, dead letters, observations, categories, stable ids, never raising."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alertmodel import ALERT_COLUMNS, ALERT_FIELD_WIDTHS
from ingest import core as core_module
from ingest.core import IngestCore
from ingest.json_lines import strip_line
from ingest.policy import DEFAULT_POLICY_PATH, load_policy
from tests.ingest.conftest import T0, FakeClock, sample_line, sample_lines

DEFAULT_POLICY = load_policy(DEFAULT_POLICY_PATH)
ALL_SAMPLE_LINES = [
    line
    for rel in (
        "wazuh/wazuh-indexer-sample-alerts-fim-rootcheck.json",
        "wazuh/wazuh-integratord-test-alert-5712.json",
        "suricata/eve-7.0.10-alerts.json",
        "falco/elastic-falco_alerts-test-falco.log",
        "modsecurity/elastic-modsec-audit-tz.log",
    )
    for line in sample_lines(rel)
]


def test_malformed_lines_become_dead_letters_with_line_numbers_and_the_stream_goes_on() -> None:
    lines = sample_lines("malformed/bad-lines.jsonl")
    out = IngestCore(clock=FakeClock()).process(lines, origin="bad-lines.jsonl")
    assert [d.reason for d in out.dead_letters] == [
        f"line 1: invalid JSON at byte {len(lines[0]) - 1}: unexpected end of data",
        "line 2: wazuh: rule.id must be a non-empty string, got 554",
        "line 4: invalid UTF-8 at byte 34: invalid start byte",
    ]
    assert [d.raw for d in out.dead_letters] == [lines[0][:-1], lines[1][:-1], lines[3][:-1]]
    assert {d.origin for d in out.dead_letters} == {"bad-lines.jsonl"}
    assert out.counts["read"] == 4  # the empty line 5 is skipped, not counted
    assert out.counts["dead_lettered"] == 3
    (big,) = out.alerts  # line 3: a Suricata alert with a 1 MiB signature
    assert big["description"] == "A" * ALERT_FIELD_WIDTHS["description"]
    assert len(big["json_event"]) > 1_000_000


def test_every_alert_carries_every_column_with_the_documented_types() -> None:
    out = IngestCore(node="n1", clock=FakeClock()).process(ALL_SAMPLE_LINES)
    assert len(out.alerts) > 100
    for a in out.alerts:
        assert set(a) == set(ALERT_COLUMNS)
        assert a["time_collr"] == T0 and a["time_collr"].tzinfo is UTC
        assert type(a["severity"]) is int and 0 <= a["severity"] <= 3
        assert type(a["srcport"]) is int and type(a["dstport"]) is int
        assert a["type"] in ("HOST", "FILE", "NET", "MISC")
        assert a["node_id"] == "n1" and a["status"] == "processed" and a["time_cntrl"] is None
        for name, width in ALERT_FIELD_WIDTHS.items():
            assert type(a[name]) is str and 0 < len(a[name]) <= width, name
        assert json.loads(a["json_event"])


def test_crlf_and_lf_lines_give_the_same_alerts() -> None:
    lf = [line.rstrip(b"\r\n") + b"\n" for line in ALL_SAMPLE_LINES]
    crlf = [line.rstrip(b"\r\n") + b"\r\n" for line in ALL_SAMPLE_LINES]
    bare = [line.rstrip(b"\r\n") for line in ALL_SAMPLE_LINES]
    a, b, c = (IngestCore(clock=FakeClock()).process(x).alerts for x in (lf, crlf, bare))
    assert a == b == c


def test_blank_and_whitespace_lines_are_skipped() -> None:
    out = IngestCore().process([b"\n", b"\r\n", b"   \t\n", b""])
    assert out.alerts == [] and out.dead_letters == [] and out.counts["read"] == 0


def test_a_redelivered_event_gets_the_same_alert_uuid_and_each_modsecurity_message_its_own() -> None:
    v2 = sample_line("modsecurity/elastic-modsec-audit-tz.log", 16)
    first = IngestCore(node="n1").process([v2, v2]).alerts
    assert len({a["alert_uuid"] for a in first}) == 3
    assert [a["alert_uuid"] for a in first[:3]] == [a["alert_uuid"] for a in first[3:]]
    other_node = IngestCore(node="n2").process([v2]).alerts
    assert not {a["alert_uuid"] for a in first} & {a["alert_uuid"] for a in other_node}


def test_alert_uuids_are_stable_across_processes() -> None:
    here = [a["alert_uuid"] for a in IngestCore(node="n1").process(ALL_SAMPLE_LINES).alerts]
    code = (
        "import sys, json; from ingest.core import IngestCore; from tests.ingest.test_core import ALL_SAMPLE_LINES;"
        "print(json.dumps([a['alert_uuid'] for a in IngestCore(node='n1').process(ALL_SAMPLE_LINES).alerts]))"
    )
    env_out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
        cwd=Path(__file__).resolve().parents[2],
    )
    assert json.loads(env_out.stdout) == here


def test_new_categories_are_reported_once_per_core() -> None:
    core = IngestCore()
    line = sample_line("wazuh/wazuh-integratord-test-alert-5712.json", 1)
    first = core.process([line]).new_categories
    assert (
        ("Wazuh", "sshd") in first
        and ("Wazuh", "mitre_T1110") in first
        and ("Wazuh", "pci_dss_10.2.4") in first
    )
    assert core.process([line]).new_categories == []
    assert IngestCore().process([line]).new_categories == first


def test_suricata_non_alert_events_become_observations_and_stats_are_skipped() -> None:
    out = IngestCore().process(sample_lines("suricata/eve-7.0.10-protocols.json"))
    assert out.alerts == []
    assert out.counts["observed"] == 135 and out.counts["skipped"] == 1
    kinds = {o["event_type"] for o in out.observations}
    assert {"flow", "dns", "http", "fileinfo", "tls"} <= kinds and "stats" not in kinds
    dns = next(o for o in out.observations if o["event_type"] == "dns")
    assert dns["source"] == "Suricata" and dns["event"]["event_type"] == "dns" and "dns" in dns["event"]


def test_modsecurity_transaction_without_rule_messages_is_no_alert() -> None:
    out = IngestCore().process(sample_lines("modsecurity/elastic-modsec-test-audit.log"))
    assert out.alerts == [] and out.dead_letters == []
    assert out.counts["no_alert"] == 2


def test_an_event_of_unknown_shape_is_dead_lettered_with_its_keys() -> None:
    out = IngestCore().process([b'{"hello": 1, "world": 2}'], origin="q")
    assert [d.reason for d in out.dead_letters] == ["line 1: unknown event shape (keys: hello, world)"]


def test_first_line_numbers_dead_letter_reasons_in_a_chunked_file() -> None:
    out = IngestCore().process([b"{}", b"nope"], first_line=101)
    assert [d.reason[:9] for d in out.dead_letters] == ["line 101:", "line 102:"]


def test_an_unknown_source_name_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown source 'snort'"):
        IngestCore().process([b"{}"], source="snort")


def test_an_unexpected_normalizer_error_dead_letters_the_line_and_the_next_line_still_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = []

    def flaky(event: dict) -> list:
        calls.append(event)
        if len(calls) == 1:
            raise KeyError("boom")
        return core_module.normalize_falco(event)

    monkeypatch.setitem(core_module.NORMALIZERS, "falco", flaky)
    line = sample_line("falco/elastic-falco_alerts-test-falco.log", 1)
    out = IngestCore().process([line, line])
    assert [d.reason for d in out.dead_letters] == ["line 1: falco: unexpected KeyError: 'boom'"]
    assert len(out.alerts) == 1


@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(st.binary(max_size=300), max_size=8),
    source=st.sampled_from(["auto", *core_module.NORMALIZERS]),
)
def test_no_input_bytes_make_the_core_raise(lines: list[bytes], source: str) -> None:
    out = IngestCore().process(lines, source=source)
    assert out.counts["read"] == sum(1 for line in lines if strip_line(line).strip())
    assert all(d.reason.startswith("line ") for d in out.dead_letters)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
SHAPE_KEYS = st.sampled_from([
    "rule", "agent", "data", "syscheck", "event_type", "alert", "priority", "output", "output_fields",
    "transaction", "audit_data", "request", "messages", "source", "event", "severity", "category", "tags",
])  # fmt: skip


@settings(max_examples=250, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    event=st.dictionaries(SHAPE_KEYS, JSON_VALUES, max_size=6),
    source=st.sampled_from(["auto", *core_module.NORMALIZERS]),
)
def test_no_json_object_of_any_shape_makes_the_core_raise(event: dict, source: str) -> None:
    out = IngestCore().process([json.dumps(event).encode()], source=source)  # json: ints beyond 64 bits too
    assert out.counts["read"] == 1


@settings(max_examples=200, deadline=None, derandomize=True)
@given(index=st.integers(0, len(ALL_SAMPLE_LINES) - 1), data=st.data())
def test_recorded_events_with_damaged_bytes_never_make_the_core_raise(
    index: int, data: st.DataObject
) -> None:
    line = bytearray(ALL_SAMPLE_LINES[index].rstrip(b"\r\n"))
    for _ in range(data.draw(st.integers(1, 5))):
        pos = data.draw(st.integers(0, len(line) - 1))
        line[pos] = data.draw(st.integers(0, 255))
    out = IngestCore().process([bytes(line)])
    assert out.counts["read"] == 1


def _maybe(keys: list[str]) -> st.SearchStrategy[dict]:
    return st.dictionaries(st.sampled_from(keys), JSON_VALUES, max_size=len(keys))


SOURCE_SHAPED = st.fixed_dictionaries(
    {},
    optional={
        "rule": _maybe(["id", "level", "groups", "mitre", "pci_dss", "description"]),
        "syscheck": _maybe(["path", "md5_after", "audit"]),
        "data": _maybe(["srcip", "srcport", "srcuser", "file"]),
        "agent": JSON_VALUES,
        "event_type": st.sampled_from(["alert", "dns", "stats"]) | JSON_VALUES,
        "alert": _maybe(["signature_id", "severity", "category", "signature"]),
        "http": JSON_VALUES,
        "files": JSON_VALUES,
        "output_fields": _maybe(["fd.name", "container.id", "fd.cport", "user.name"]),
        "priority": st.sampled_from(["Warning", "x"]) | JSON_VALUES,
        "output": JSON_VALUES,
        "tags": JSON_VALUES,
        "transaction": st.fixed_dictionaries(
            {},
            optional={
                "messages": st.lists(
                    st.fixed_dictionaries(
                        {},
                        optional={"message": JSON_VALUES, "details": _maybe(["ruleId", "severity", "tags"])},
                    )
                )
                | JSON_VALUES,
                "request": JSON_VALUES,
                "client_ip": JSON_VALUES,
                "remote_address": JSON_VALUES,
            },
        ),
        "audit_data": st.fixed_dictionaries(
            {}, optional={"messages": st.lists(st.text()) | JSON_VALUES, "error_messages": JSON_VALUES}
        ),
        "source": JSON_VALUES,
        "event": JSON_VALUES,
    },
)


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(event=SOURCE_SHAPED, source=st.sampled_from(["auto", *core_module.NORMALIZERS]))
def test_normalizers_refuse_odd_shapes_with_their_own_reasons_not_by_crashing(
    event: dict, source: str
) -> None:
    out = IngestCore(policy=DEFAULT_POLICY).process([json.dumps(event).encode()], source=source)
    for d in out.dead_letters:
        assert "invalid JSON" in d.reason or ": unexpected " not in d.reason, d.reason


def test_modsecurity_v2_error_messages_of_the_wrong_type_are_ignored() -> None:
    event = json.loads(sample_line("modsecurity/elastic-modsec-audit-tz.log", 16))
    event["request"].pop("headers")  # so the host can only come from error_messages
    out = IngestCore().process([json.dumps(event).encode()])
    assert [a["agent"] for a in out.alerts] == ["localhost"] * 3
    event["audit_data"]["error_messages"] = 1
    out = IngestCore().process([json.dumps(event).encode()])
    assert [a["agent"] for a in out.alerts] == ["indef"] * 3 and out.dead_letters == []


def test_time_collr_is_the_clocks_time_in_utc_and_a_naive_clock_is_refused() -> None:
    from datetime import datetime, timedelta, timezone

    line = sample_line("wazuh/wazuh-integratord-test-alert-5712.json", 1)
    local = datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    (alert,) = IngestCore(clock=lambda: local).process([line]).alerts
    assert alert["time_collr"] == T0 and alert["time_collr"].tzinfo is UTC
    with pytest.raises(ValueError, match="aware datetime"):
        IngestCore(clock=lambda: datetime(2026, 1, 2)).process([line])
