"""Slack, Twilio, TheHive and JIRA response actions end to end: a stored alert matches a profile, the
outbox dispatcher runs the actions, blocks come from the real Prefect server, the real SDKs talk to a
local server answering each product's JSON, and the TheHive id and JIRA key land on the incident."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import Engine, select
from werkzeug import Request, Response

from alertmodel import Incident, IncidentEvent, Outbox, migrate
from alertmodel.engine import make_engine
from alertmodel.types import utcnow
from blocks.jira import JiraSite
from blocks.slack import SlackWorkspace
from blocks.thehive import TheHiveServer
from blocks.twilio import TwilioAccount
from response import incidents
from response.dispatcher import Dispatcher
from response.executors import product_executors
from response.notify import notify_group
from response.outbox_writer import ResponseHook
from tests.alertfactory import import_profiles, make_alert, store_batch
from tests.response.test_dispatcher import FAST, all_settled, rows, run_until
from tests.tasks.test_jira import SERVER_INFO, issue_json
from tests.tasks.test_slack import POSTED
from tests.tasks.test_thehive import output_alert
from tests.tasks.test_twilio import SID, message

PATH_SMS = f"/2010-04-01/Accounts/{SID}/Messages.json"


@pytest.fixture
def engine(sqlite_database: str) -> Iterator[Engine]:
    migrate.upgrade(sqlite_database)
    engine = make_engine(sqlite_database)
    yield engine
    engine.dispose()


async def save_blocks(httpserver: HTTPServer, suffix: str) -> None:
    base = httpserver.url_for("/")
    await SlackWorkspace(token="xoxb-e2e", default_channel="C0DEF", base_url=f"{base}api/").asave(
        f"slack-{suffix}"
    )
    await TwilioAccount(
        account_sid=SID, auth_token="e2e-token", from_number="+14155550100", api_base_url=base.rstrip("/")
    ).asave(f"twilio-{suffix}")
    await TheHiveServer(url=base, api_key="e2e-hive-key").asave(f"thehive-{suffix}")
    await JiraSite(url=base, username="soc@example.org", api_token="e2e-jira", project="SOC").asave(
        f"jira-{suffix}"
    )


def profiles(suffix: str) -> dict[str, Any]:
    return {
        "user_groups": [{"name": "soc", "phones": ["+15005550006"], "slack_channel": "C0SOC"}],
        "response_profiles": [
            {
                "name": "escalate-scans",
                "match": {"source": "Suricata", "event": "2019284"},
                "actions": [
                    {"kind": "slack", "group": "soc", "block": f"slack-{suffix}"},
                    {"kind": "twilio", "group": "soc", "block": f"twilio-{suffix}"},
                    {"kind": "thehive", "block": f"thehive-{suffix}"},
                    {"kind": "jira", "project": "SEC", "block": f"jira-{suffix}"},
                ],
            }
        ],
    }


class FakeJira:
    """JIRA Cloud's issue create, issue read and enhanced JQL search, remembering what was filed."""

    def __init__(self, httpserver: HTTPServer) -> None:
        self.base = httpserver.url_for("/")
        self.filed: list[tuple[str, list[str]]] = []  # (key, labels)
        httpserver.expect_request("/rest/api/2/serverInfo").respond_with_json(SERVER_INFO)
        httpserver.expect_request("/rest/api/2/issue", method="POST").respond_with_handler(self.create)
        httpserver.expect_request(re.compile(r"^/rest/api/2/issue/SEC-\d+$")).respond_with_handler(self.read)
        httpserver.expect_request("/rest/api/2/search/jql", method="GET").respond_with_handler(self.search)

    def create(self, request: Request) -> Response:
        key = f"SEC-{7 + len(self.filed)}"
        self.filed.append((key, request.json["fields"]["labels"]))
        return _json(
            {"id": f"{10024 + len(self.filed)}", "key": key, "self": f"{self.base}rest/api/2/issue/{key}"},
            201,
        )

    def read(self, request: Request) -> Response:
        return _json(issue_json(self.base, request.path.rsplit("/", 1)[1]))

    def search(self, request: Request) -> Response:
        label = re.fullmatch(r'labels = "([^"]+)" ORDER BY created ASC', request.args["jql"]).group(1)
        issues = [
            {"id": str(10025 + i), "key": k} for i, (k, labels) in enumerate(self.filed) if label in labels
        ]
        return _json({"issues": issues[: int(request.args["maxResults"])], "isLast": True})


class FakeTheHive:
    """TheHive 5's alert create (unique by type, source, sourceRef) and alert query, remembering what was created."""

    def __init__(self, httpserver: HTTPServer) -> None:
        self.created: list[dict] = []
        httpserver.expect_request("/api/v1/alert", method="POST").respond_with_handler(self.create)
        httpserver.expect_request(
            "/api/v1/query", method="POST", query_string="name=alerts"
        ).respond_with_handler(self.query)

    def create(self, request: Request) -> Response:
        body = request.json
        if any(a["sourceRef"] == body["sourceRef"] for a in self.created):
            return _json({"type": "CreateError", "message": "Alert already exists"}, 400)
        self.created.append({**output_alert(f"~{4242 + len(self.created)}"), "sourceRef": body["sourceRef"]})
        return _json(self.created[-1], 201)

    def query(self, request: Request) -> Response:
        [listing, where] = request.json["query"]
        assert listing == {"_name": "listAlert"}
        wanted = {f["_eq"]["_field"]: f["_eq"]["_value"] for f in where["_and"]}
        return _json([a for a in self.created if all(a[k] == v for k, v in wanted.items())])


def _json(body: object, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def serve_products(httpserver: HTTPServer) -> tuple[FakeTheHive, FakeJira]:
    httpserver.expect_request("/api/chat.postMessage", method="POST").respond_with_json(
        {**POSTED, "channel": "C0SOC"}
    )
    httpserver.expect_request(PATH_SMS, method="POST").respond_with_json(message("+15005550006"), status=201)
    return FakeTheHive(httpserver), FakeJira(httpserver)


async def test_profile_actions_reach_each_product_and_store_the_external_ids_on_the_incident(
    engine: Engine, httpserver: HTTPServer, prefect_server: object
) -> None:
    suffix = uuid.uuid4().hex[:6]
    await save_blocks(httpserver, suffix)
    serve_products(httpserver)
    import_profiles(engine, profiles(suffix))
    alert = make_alert()
    store_batch(engine, [alert], ResponseHook(clock=lambda: datetime(2026, 11, 23, 12, tzinfo=UTC)))

    await run_until(all_settled(engine), Dispatcher(engine, product_executors(engine), FAST))

    assert [(r.kind, r.state, r.last_error) for r in rows(engine)] == [
        ("slack", "done", None),
        ("twilio", "done", None),
        ("thehive", "done", None),
        ("jira", "done", None),
    ]
    sent = {r.path: r for r, _ in httpserver.log}
    assert json.loads(sent["/api/chat.postMessage"].data)["channel"] == "C0SOC"
    assert sent[PATH_SMS].form["To"] == "+15005550006"
    assert json.loads(sent["/api/v1/alert"].data)["sourceRef"] == alert["alert_uuid"]
    assert json.loads(sent["/rest/api/2/issue"].data)["fields"]["project"] == {"key": "SEC"}
    with engine.connect() as conn:
        [incident] = conn.execute(select(Incident.__table__)).all()
        notes = [e.comment for e in conn.execute(select(IncidentEvent.__table__))]
    assert (incident.alert_uuid, incident.thehive_id, incident.jira_key) == (
        alert["alert_uuid"],
        "~4242",
        "SEC-7",
    )
    assert "thehive_id = ~4242" in notes and "jira_key = SEC-7" in notes


async def test_a_rerun_after_a_crash_files_no_second_jira_issue(
    engine: Engine, httpserver: HTTPServer, prefect_server: object
) -> None:
    suffix = uuid.uuid4().hex[:6]
    await save_blocks(httpserver, suffix)
    serve_products(httpserver)
    import_profiles(engine, profiles(suffix))
    store_batch(engine, [make_alert()], ResponseHook(clock=lambda: datetime(2026, 11, 23, 12, tzinfo=UTC)))
    executors = product_executors(engine)
    await run_until(all_settled(engine), Dispatcher(engine, executors, FAST))

    with engine.begin() as conn:  # the dispatcher "died" before marking the rows done: they run again
        conn.execute(Outbox.__table__.update().values(state="pending", attempts=0, next_attempt_at=utcnow()))
    await run_until(all_settled(engine), Dispatcher(engine, executors, FAST))

    assert sum(r.path == "/rest/api/2/issue" and r.method == "POST" for r, _ in httpserver.log) == 1
    assert sum(r.path == "/api/v1/alert" for r, _ in httpserver.log) == 1


async def test_a_retry_after_a_crash_between_filing_and_storing_finds_the_issue_and_the_case(
    engine: Engine, httpserver: HTTPServer, prefect_server: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    suffix = uuid.uuid4().hex[:6]
    await save_blocks(httpserver, suffix)
    hive, jira = serve_products(httpserver)
    import_profiles(engine, profiles(suffix))
    alert = make_alert()
    store_batch(engine, [alert], ResponseHook(clock=lambda: datetime(2026, 11, 23, 12, tzinfo=UTC)))
    store = incidents.store_external_ref
    crashed: list[str] = []

    def crash_once_per_field(engine: Engine, incident_id: int, field: str, value: str, *, actor: str) -> None:
        if field not in crashed:  # filed in JIRA / TheHive, then the process died before storing it
            crashed.append(field)
            raise ConnectionError("the dispatcher died here")
        store(engine, incident_id, field, value, actor=actor)

    monkeypatch.setattr(incidents, "store_external_ref", crash_once_per_field)
    await run_until(all_settled(engine), Dispatcher(engine, product_executors(engine), FAST))

    assert sorted(crashed) == ["jira_key", "thehive_id"]
    assert {(r.kind, r.state) for r in rows(engine)} >= {("thehive", "done"), ("jira", "done")}
    assert [key for key, _ in jira.filed] == ["SEC-7"]
    assert f"alertflow-{alert['alert_uuid']}" in jira.filed[0][1]
    assert [a["_id"] for a in hive.created] == ["~4242"]
    assert sum(r.path == "/api/v1/alert" for r, _ in httpserver.log) == 1
    with engine.connect() as conn:
        [incident] = conn.execute(select(Incident.__table__)).all()
    assert (incident.thehive_id, incident.jira_key) == ("~4242", "SEC-7")


async def test_a_missing_block_fails_the_action_with_its_name(engine: Engine, prefect_server: object) -> None:
    import_profiles(engine, profiles("nowhere"))
    store_batch(engine, [make_alert()], ResponseHook(clock=lambda: datetime(2026, 11, 23, 12, tzinfo=UTC)))
    config = type(FAST)(**{**FAST.__dict__, "max_attempts": 1})

    await run_until(all_settled(engine), Dispatcher(engine, product_executors(engine), config))

    errors = {r.kind: r.last_error for r in rows(engine)}
    assert errors["slack"] == (
        "IntegrationError: no alertflow Slack Workspace block 'slack-nowhere' configured; "
        "create it in the Prefect UI after `alertflow blocks register`"
    )
    assert "JIRA Site block 'jira-nowhere'" in errors["jira"]


async def test_an_incident_is_announced_on_slack_and_by_sms(
    engine: Engine, httpserver: HTTPServer, prefect_server: object
) -> None:
    suffix = uuid.uuid4().hex[:6]
    await save_blocks(httpserver, suffix)
    serve_products(httpserver)
    import_profiles(
        engine, {"user_groups": [{"name": "soc", "phones": ["+15005550006"], "slack_channel": "C0SOC"}]}
    )
    alert = make_alert()
    store_batch(engine, [alert])
    incident = incidents.open_incident(engine, alert["alert_uuid"], actor="alice")

    to_slack = await notify_group(
        engine, incident.id, "soc", via="slack", actor="alice", block=f"slack-{suffix}"
    )
    to_phones = await notify_group(
        engine, incident.id, "soc", via="twilio", actor="alice", block=f"twilio-{suffix}"
    )

    assert (to_slack, to_phones) == (["C0SOC"], ["+15005550006"])
    posted = json.loads(next(r for r, _ in httpserver.log if r.path == "/api/chat.postMessage").data)
    assert f"[incident #{incident.id} new]" in posted["text"]
    sms = next(r for r, _ in httpserver.log if r.path == PATH_SMS).form["Body"]
    assert f"[incident #{incident.id} new]" in sms
