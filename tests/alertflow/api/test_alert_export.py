"""`GET /alerts/export` on a live server: every matching alert of the caller's tenants, streamed."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from sqlalchemy import select

from alertflow.api.alert_export import rows
from alertmodel import Alert
from tests.alertfactory import make_alert, store_batch

from .conftest import TENANT_A, TENANT_B, LiveApi

ALERTS = Alert.__table__


def _uuids(live_api: LiveApi, **where: Any) -> set[str]:
    query = select(ALERTS.c.alert_uuid)
    for name, value in where.items():
        query = query.where(ALERTS.c[name] == value)
    with live_api.engine.connect() as conn:
        return set(conn.execute(query).scalars())


def test_jsonl_holds_every_alert_of_the_callers_tenants_with_its_event_parsed(live_api: LiveApi) -> None:
    for user, tenant in (("admin", None), ("analyst-a", TENANT_A), ("viewer-b", TENANT_B)):
        with live_api.client(user) as client, client.stream("GET", "/api/v1/alerts/export") as response:
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/x-ndjson"
            lines = [json.loads(line) for line in response.iter_lines() if line]
        expected = _uuids(live_api, ref_id=tenant) if tenant else _uuids(live_api)
        assert {a["alert_uuid"] for a in lines} == expected
        assert len(lines) == len(expected)
        assert all(isinstance(a["json_event"], dict | list | str) for a in lines)
        assert "alert_id" not in lines[0]


def test_csv_takes_the_search_filters_and_defuses_formulas(live_api: LiveApi) -> None:
    marker = "export-csv-agent"
    store_batch(
        live_api.engine,
        [
            make_alert(agent=marker, ref_id=TENANT_A, description='=HYPERLINK("http://x","y")', severity=3),
            make_alert(
                agent=marker, ref_id=TENANT_A, description='plain, with "quotes"\nand a line', severity=1
            ),
        ],
    )
    with live_api.client("viewer") as client:
        response = client.get("/api/v1/alerts/export", params={"format": "csv", "agent": marker})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        table = list(csv.DictReader(io.StringIO(response.text)))
        assert sorted(r["description"] for r in table) == [
            '\'=HYPERLINK("http://x","y")',
            'plain, with "quotes"\nand a line',
        ]
        only_severe = client.get(
            "/api/v1/alerts/export", params={"format": "csv", "agent": marker, "min_severity": 3}
        )
        assert len(list(csv.DictReader(io.StringIO(only_severe.text)))) == 1
        bad = client.get("/api/v1/alerts/export", params={"format": "xml"})
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["loc"] == ["query", "format"]


def test_rows_are_read_in_bounded_batches_without_repeats(live_api: LiveApi) -> None:
    everything = _uuids(live_api)
    got = [r["alert_uuid"] for r in rows(live_api.engine, [], batch=7)]
    assert len(got) == len(set(got)) == len(everything)
    assert set(got) == everything


def test_stix_is_one_bundle_of_the_callers_alerts_that_stix2_parses(live_api: LiveApi) -> None:
    import stix2

    with live_api.client("viewer-b") as client:
        response = client.get("/api/v1/alerts/export", params={"format": "stix"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/stix+json;version=2.1"
    bundle = stix2.parse(response.json(), allow_custom=True)
    uuids = {o["alert_uuid"] for o in bundle.objects if o["type"] == "x-org-alertflex"}
    assert uuids == _uuids(live_api, ref_id=TENANT_B)
    assert sum(o["type"] == "observed-data" for o in bundle.objects) == len(uuids)


def test_ocsf_and_ecs_are_json_lines_of_the_callers_alerts_that_pass_their_schemas(live_api: LiveApi) -> None:
    from alertmodel.formats import FORMATS
    from tests.alertmodel.formats.schemas import ecs_problems, ocsf_problems

    stored = {r["alert_uuid"]: r for r in rows(live_api.engine, [])}
    with live_api.client("analyst-a") as client:
        response = client.get("/api/v1/alerts/export", params={"format": "ocsf"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    assert 'filename="alerts.ocsf.jsonl"' in response.headers["content-disposition"]
    findings = [json.loads(line) for line in response.text.splitlines()]
    assert {f["finding_info"]["uid"] for f in findings} == _uuids(live_api, ref_id=TENANT_A)
    for finding in findings:
        assert finding["class_uid"] == 2004
        assert ocsf_problems(finding) == []
        assert finding == json.loads(json.dumps(FORMATS["ocsf"](stored[finding["finding_info"]["uid"]])))

    with live_api.client("viewer-b") as client:
        response = client.get("/api/v1/alerts/export", params={"format": "ecs", "min_severity": 2})
    assert response.status_code == 200
    docs = [json.loads(line) for line in response.text.splitlines()]
    expected = {u for u, r in stored.items() if r["ref_id"] == TENANT_B and r["severity"] >= 2}
    assert expected and {d["event"]["id"] for d in docs} == expected
    for doc in docs:
        assert ecs_problems(doc) == []
        assert json.loads(doc["event"]["original"]) == json.loads(stored[doc["event"]["id"]]["json_event"])

    with live_api.client(None) as client:
        assert client.get("/api/v1/alerts/export", params={"format": "ocsf"}).status_code == 401


def test_jsonl_lines_are_the_alertflex_records_with_the_event_parsed(live_api: LiveApi) -> None:
    from alertmodel.formats import to_alertflex

    stored = {r["alert_uuid"]: r for r in rows(live_api.engine, [])}
    with live_api.client("admin") as client:
        lines = [json.loads(line) for line in client.get("/api/v1/alerts/export").text.splitlines()]
    assert len(lines) == len(stored)
    for line in lines:
        assert line == json.loads(json.dumps(to_alertflex(stored[line["alert_uuid"]])))


def test_openapi_lists_every_export_format(live_api: LiveApi) -> None:
    with live_api.client("viewer") as client:
        spec = client.get("/api/v1/openapi.json").json()
    parameters = spec["paths"]["/api/v1/alerts/export"]["get"]["parameters"]
    (fmt,) = [p for p in parameters if p["name"] == "format"]
    assert set(fmt["schema"]["enum"]) == {"jsonl", "csv", "stix", "ocsf", "ecs"}
