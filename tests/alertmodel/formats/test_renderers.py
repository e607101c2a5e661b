"""The renderers one field at a time: what the golden files show in bulk, stated as rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from alertmodel import ALERT_COLUMNS, Alert
from alertmodel.formats import FORMATS, to_alertflex, to_alertflex_stored, to_ecs, to_ocsf
from alertmodel.formats._fields import parse_time
from tests.alertfactory import make_alert

from .schemas import ecs_problems, ocsf_problems


def test_formats_are_alertflex_ecs_and_ocsf() -> None:
    assert {"alertflex", "ecs", "ocsf"} <= set(FORMATS)
    assert FORMATS["alertflex"] is to_alertflex_stored  # forwarders send the event as stored text


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_an_alert_object_and_its_stored_row_render_the_same(name: str) -> None:
    row = make_alert(srcip="192.0.2.1", user="bob", file="/bin/sh", hash_sha1="a" * 40, time_event="x")
    assert FORMATS[name](Alert(**row)) == FORMATS[name](row)
    json.dumps(FORMATS[name](row))  # JSON-ready: no datetimes, no objects


def test_alertflex_record_is_every_column_with_the_event_parsed_and_utc_times() -> None:
    row = make_alert(
        json_event='{"alert": {"signature_id": 1}}', time_collr=datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=UTC)
    )
    record = to_alertflex(row)
    assert list(record) == list(ALERT_COLUMNS)
    assert record["json_event"] == {"alert": {"signature_id": 1}}
    assert record["time_collr"] == "2026-01-02T03:04:05.000600+00:00"
    assert record["time_cntrl"] is None
    assert to_alertflex(make_alert(json_event="not json"))["json_event"] == "not json"


@pytest.mark.parametrize(
    ("severity", "severity_id", "caption"),
    [(0, 1, "Informational"), (1, 2, "Low"), (2, 4, "High"), (3, 5, "Critical"), (9, 99, "Other")],
)
def test_ocsf_severity_id_follows_the_alertflex_severity_name(
    severity: int, severity_id: int, caption: str
) -> None:
    finding = to_ocsf(make_alert(severity=severity))
    assert (finding["severity_id"], finding["severity"]) == (severity_id, caption)
    assert finding["unmapped"]["alertflex"]["severity"] == severity
    assert ocsf_problems(finding) == []


def test_values_that_are_not_addresses_ports_or_hashes_stay_out_of_typed_fields() -> None:
    row = make_alert(
        srcip="evil.example; rm -rf /",
        dstip="not-an-ip",
        srcport=-1,
        dstport=0,
        hash_md5="g" * 32,
        hash_sha256="A" * 64,
        description="<img src=x onerror=alert(1)>",
        file="indef",
    )
    ecs, ocsf = to_ecs(row), to_ocsf(row)
    assert ecs["source"] == {"address": "evil.example; rm -rf /"}
    assert ecs["file"] == {"hash": {"sha256": "a" * 64}}
    assert ecs["message"] == "<img src=x onerror=alert(1)>"  # copied as data; escaping is the reader's
    assert "src_endpoint" not in ocsf["evidences"][0] and "dst_endpoint" not in ocsf["evidences"][0]
    assert ocsf["unmapped"]["alertflex"]["srcip"] == "evil.example; rm -rf /"
    assert ocsf["evidences"][0]["file"]["hashes"] == [{"algorithm_id": 3, "value": "a" * 64}]
    assert ecs_problems(ecs) == [] and ocsf_problems(ocsf) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2016-07-13T22:42:07.573103+0000", datetime(2016, 7, 13, 22, 42, 7, 573103, tzinfo=UTC)),
        ("2024-05-07T18:54:19.341081180Z", datetime(2024, 5, 7, 18, 54, 19, 341081, tzinfo=UTC)),
        ("2014-04-15T09:26:47.010946-0600", datetime(2014, 4, 15, 15, 26, 47, 10946, tzinfo=UTC)),
        ("30/Nov/2026:20:36:43.787874 +0000", datetime(2026, 11, 30, 20, 36, 43, 787874, tzinfo=UTC)),
        ("2022-05-11 12:29:19", datetime(2022, 5, 11, 12, 29, 19, tzinfo=UTC)),
        ("{timestamp}", None),
        ("2026-13-45T99:99:99Z", None),
        ("Mon Nov 30 20:39:08 2026", None),  # no zone given: not guessed
    ],
)
def test_event_time_reads_the_formats_sensors_write(text: str, expected: datetime | None) -> None:
    assert parse_time(text) == expected


def test_an_unreadable_event_time_falls_back_to_collection_time() -> None:
    row = make_alert(time_event="{timestamp}", time_collr=datetime(2026, 3, 1, tzinfo=UTC))
    assert to_ecs(row)["@timestamp"] == "2026-03-01T00:00:00+00:00"
    assert to_ocsf(row)["time"] == int(datetime(2026, 3, 1, tzinfo=UTC).timestamp() * 1000)
    row["time_event"] = "2026-02-01T00:00:00Z"
    assert to_ecs(row)["@timestamp"] == "2026-02-01T00:00:00+00:00"
    assert to_ocsf(row)["metadata"]["logged_time"] == int(datetime(2026, 3, 1, tzinfo=UTC).timestamp() * 1000)


def test_a_denied_action_makes_the_ecs_event_type_denied_where_ecs_expects_it() -> None:
    assert to_ecs(make_alert(action="blocked"))["event"]["type"] == ["denied"]
    host = to_ecs(make_alert(action="blocked", type="HOST"))  # ECS expects no "denied" with host
    assert host["event"]["type"] == ["info"] and ecs_problems(host) == []
    assert to_ecs(make_alert(action="allowed"))["event"]["type"] == ["info"]
    assert to_ecs(make_alert())["event"]["type"] == ["info"]
