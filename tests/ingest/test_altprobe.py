"""Altprobe alert messages are stored as the collector made them; the policy applies only when it did not filter."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from alertmodel.errors import NormalizationError
from ingest.altprobe import altprobe_line, is_alert_message, is_stats_message, stats_line
from ingest.core import IngestCore
from ingest.policy import DEFAULT_POLICY_PATH, load_policy
from tests.ingest.altprobe_messages import alert_properties, stats_message

NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)


def core() -> IngestCore:
    return IngestCore(node="controller", policy=load_policy(DEFAULT_POLICY_PATH), clock=lambda: NOW)


def test_a_filtered_collector_alert_is_stored_field_for_field_with_its_own_ids() -> None:
    headers = alert_properties()
    assert is_alert_message(headers)
    out = core().process([altprobe_line(headers)], source="altprobe")
    [alert] = out.alerts
    assert {
        k: alert[k] for k in ("alert_uuid", "node_id", "ref_id", "filter", "source", "type", "event")
    } == {
        "alert_uuid": "0d9a1c1e-3f5b-4c2a-9e71-5b3c8d2f6a10",
        "node_id": "collector-07",
        "ref_id": "tenant-a",
        "filter": "alertflex-node1",
        "source": "Wazuh",
        "type": "HOST",
        "event": "5716",
    }
    assert (alert["severity"], alert["srcip"], alert["srcport"], alert["dstip"], alert["dstport"]) == (
        2,
        "198.51.100.23",
        52144,
        "10.0.0.5",
        22,
    )
    assert (alert["user"], alert["agent"], alert["process"], alert["sensor"], alert["dstagent"]) == (
        "root",
        "web-01",
        "sshd",
        "collector-07.hids",
        "web-01",
    )
    assert alert["category"] == "syslog, sshd, authentication_failed"
    assert alert["time_collr"] == datetime(2026, 12, 1, 3, 10, 12, tzinfo=UTC)
    assert alert["time_event"] == "2026-12-01 03:10:11"
    assert orjson.loads(alert["json_event"])["altprobe"]["event_id"] == "5716"
    assert out.counts["collector_filtered"] == 1


def test_an_unfiltered_collector_alert_goes_through_this_nodes_policy_with_its_native_level() -> None:
    # hids ladder 4/7/12, threshold 1: native level 3 is severity 0 and dropped; level 8 is 2 and kept
    low = alert_properties(
        filter="indef",
        event_severity="3",
        alert_severity="3",
        alert_uuid="1" * 8 + "-1111-4111-8111-" + "1" * 12,
    )
    high = alert_properties(
        filter="", event_severity="8", alert_severity="0", alert_uuid="2" * 8 + "-2222-4222-8222-" + "2" * 12
    )
    out = core().process([altprobe_line(low), altprobe_line(high)], source="altprobe")
    [alert] = out.alerts
    assert (alert["event"], alert["severity"], alert["filter"]) == ("5716", 2, "alertflow-default")
    assert out.counts["dropped_threshold"] == 1


def test_a_collector_alert_without_a_valid_severity_is_dead_lettered_with_the_reason() -> None:
    out = core().process([altprobe_line(alert_properties(alert_severity="7"))], source="altprobe")
    [letter] = out.dead_letters
    assert "alert_severity must be 0-3" in letter.reason


def test_a_statistics_report_becomes_a_node_stats_row_and_no_alert() -> None:
    headers, body = stats_message()
    assert is_stats_message(headers, body) and not is_alert_message(headers)
    out = core().process([stats_line(headers, body)], source="auto")
    assert out.alerts == [] and out.dead_letters == []
    [row] = out.node_stats
    assert (row["node_id"], row["ref_id"], row["host_name"]) == ("collector-07", "tenant-a", "sensor-07")
    assert row["stats"][0]["data"]["hids_s3"] == 1


def test_a_statistics_body_that_is_not_gzip_json_is_refused_with_the_reason() -> None:
    with pytest.raises(NormalizationError, match="not gzip"):
        stats_line({"msg_type": "1", "node_id": "n"}, b"\x1f\x8bnot really")
