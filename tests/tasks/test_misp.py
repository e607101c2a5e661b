"""MISP tasks driven through the real pymisp against a local server answering MISP's documented JSON."""

from __future__ import annotations

import json
import time

import pytest
import sqlalchemy as sa
from pymisp.api import describe_types
from pytest_httpserver import HTTPServer

from alertmodel.errors import (
    ServiceAuthError,
    ServiceCallError,
    ServiceNotFoundError,
    ServiceRateLimitedError,
    ServiceServerError,
    ServiceTimeoutError,
)
from blocks.misp import MispServer
from tasks.misp import (
    add_misp_attribute,
    look_up_iocs_in_misp_db,
    search_misp_attributes,
)
from tests.tasks.conftest import StalledServer, assert_secret_absent

KEY = "MISPKEY0123456789abcdefghijklmnopqrstuv"  # MISP keys are 40 characters

VERSION = {
    "version": "2.5.2",
    "pymisp_recommended_version": "2.5.2",
    "perm_sync": False,
    "perm_sighting": False,
    "perm_galaxy_editor": False,
    "request_encoding": ["gzip", "br"],
    "filter_sightings": True,
}
ME = {
    "User": {"id": "1", "org_id": "1", "email": "soc@example.org", "role_id": "3", "disabled": False},
    "Role": {"id": "3", "name": "User", "perm_add": True, "perm_modify": True, "perm_auth": True},
    "UserSetting": {},
    "Organisation": {"id": "1", "name": "SOC", "uuid": "5f0c3d2e-4f8a-4a5e-9e3b-1c2d3e4f5a6b"},
}
ATTRIBUTE = {
    "id": "4521",
    "event_id": "12",
    "object_id": "0",
    "object_relation": None,
    "category": "Network activity",
    "type": "ip-dst",
    "to_ids": True,
    "uuid": "8a7d0c9e-1b2c-4d5e-8f90-a1b2c3d4e5f6",
    "timestamp": "1700000000",
    "distribution": "5",
    "sharing_group_id": "0",
    "comment": "C2 server",
    "deleted": False,
    "disable_correlation": False,
    "first_seen": None,
    "last_seen": None,
    "value": "203.0.113.5",
    "Event": {
        "org_id": "1",
        "distribution": "0",
        "id": "12",
        "info": "Emotet C2 infrastructure",
        "orgc_id": "1",
        "uuid": "3f5c1d2e-0a9b-4c8d-8e7f-6a5b4c3d2e1f",
    },
}


def serve_misp_handshake(httpserver: HTTPServer) -> None:
    """What pymisp asks for while connecting: the version, the key's user and the type catalogue."""
    httpserver.expect_request("/servers/getVersion", method="GET").respond_with_json(VERSION)
    httpserver.expect_request("/users/view/me", method="GET").respond_with_json(ME)
    httpserver.expect_request("/attributes/describeTypes.json").respond_with_json({"result": describe_types})


def misp_block(httpserver: HTTPServer, **overrides: object) -> MispServer:
    fields = {"url": httpserver.url_for("/"), "api_key": KEY, "max_retry_after_s": 5.0, "timeout_s": 10.0}
    fields.update(overrides)
    return MispServer(**fields)


async def test_search_posts_a_rest_search_with_the_key_and_parses_attributes(httpserver: HTTPServer) -> None:
    serve_misp_handshake(httpserver)
    httpserver.expect_oneshot_request(
        "/attributes/restSearch", method="POST", headers={"Authorization": KEY}
    ).respond_with_json({"response": {"Attribute": [ATTRIBUTE]}})

    found = await search_misp_attributes.fn(misp_block(httpserver), "203.0.113.5", "ip-dst", to_ids_only=True)

    assert [(a.id, a.event_id, a.event_info, a.type, a.value, a.to_ids) for a in found] == [
        (4521, 12, "Emotet C2 infrastructure", "ip-dst", "203.0.113.5", True)
    ]
    search = next(r for r, _ in httpserver.log if r.path == "/attributes/restSearch")
    body = json.loads(search.data)
    assert body["value"] == "203.0.113.5"
    assert body["type"] == "ip-dst"
    assert body["to_ids"] in (1, True, "1")
    assert search.headers["Accept"] == "application/json"
    httpserver.check_assertions()


async def test_add_attribute_reuses_the_event_with_that_exact_title(httpserver: HTTPServer) -> None:
    serve_misp_handshake(httpserver)
    httpserver.expect_oneshot_request("/events/index", method="POST").respond_with_json(
        [
            {"id": "7", "info": "alertflow IOCs (old)", "published": False},
            {"id": "12", "info": "alertflow IOCs", "published": False},
        ]
    )
    httpserver.expect_oneshot_request(
        "/attributes/add/12/breakOnDuplicate:0", method="POST"
    ).respond_with_json(
        {"Attribute": {**ATTRIBUTE, "id": "4600", "value": "evil.example.com", "type": "domain"}}
    )

    added = await add_misp_attribute.fn(
        misp_block(httpserver), "alertflow IOCs", "evil.example.com", "domain"
    )

    assert (added.event_id, added.attribute_id, added.event_created) == (12, 4600, False)
    add = next(r for r, _ in httpserver.log if r.path.startswith("/attributes/add/"))
    body = json.loads(add.data)
    assert (body["type"], body["value"], body["to_ids"]) == ("domain", "evil.example.com", True)
    assert not any(r.path == "/events/add" for r, _ in httpserver.log)


async def test_add_attribute_creates_the_event_when_none_has_that_title(httpserver: HTTPServer) -> None:
    serve_misp_handshake(httpserver)
    httpserver.expect_oneshot_request("/events/index", method="POST").respond_with_json([])
    httpserver.expect_oneshot_request("/events/add", method="POST").respond_with_json(
        {"Event": {"id": "31", "info": "alertflow IOCs", "distribution": "0", "threat_level_id": "2"}}
    )
    httpserver.expect_oneshot_request(
        "/attributes/add/31/breakOnDuplicate:0", method="POST"
    ).respond_with_json({"Attribute": {**ATTRIBUTE, "id": "4601", "event_id": "31", "type": "md5"}})

    added = await add_misp_attribute.fn(
        misp_block(httpserver), "alertflow IOCs", "44d88612fea8a8f36de82e1278abb02f", "md5"
    )

    assert (added.event_id, added.attribute_id, added.event_created) == (31, 4601, True)
    event = json.loads(next(r for r, _ in httpserver.log if r.path == "/events/add").data)
    assert (
        event["Event"]["info"] == "alertflow IOCs" if "Event" in event else event["info"] == "alertflow IOCs"
    )
    httpserver.check_assertions()


async def test_a_refused_key_is_an_auth_error_without_the_key(
    httpserver: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    refusal = {
        "name": "Authentication failed. Please make sure you pass the API key of an API enabled user along in the Authorization header.",
        "message": "Authentication failed. Please make sure you pass the API key of an API enabled user along in the Authorization header.",
        "url": "/users/view/me",
    }
    httpserver.expect_request("/servers/getVersion").respond_with_json(refusal, status=403)
    httpserver.expect_request("/servers/getPyMISPVersion.json").respond_with_json(refusal, status=403)
    httpserver.expect_request("/users/view/me").respond_with_json(refusal, status=403)

    with pytest.raises(ServiceAuthError) as caught:
        await search_misp_attributes.fn(misp_block(httpserver), "203.0.113.5")

    assert "MISP" in str(caught.value) and "403" in str(caught.value)
    assert_secret_absent(KEY, caught.value, caplog)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, ServiceAuthError),
        (404, ServiceNotFoundError),
        (429, ServiceRateLimitedError),
        (500, ServiceServerError),
        (400, ServiceCallError),
    ],
)
async def test_search_errors_become_named_project_errors(
    httpserver: HTTPServer, caplog: pytest.LogCaptureFixture, status: int, error: type[Exception]
) -> None:
    serve_misp_handshake(httpserver)
    httpserver.expect_request("/attributes/restSearch").respond_with_json(
        {"name": f"echo {KEY}", "message": "nope", "url": "/attributes/restSearch"}, status=status
    )

    with pytest.raises(error) as caught:
        await search_misp_attributes.fn(misp_block(httpserver, max_retries=0), "203.0.113.5")

    assert str(caught.value).startswith("MISP: ")
    assert_secret_absent(KEY, caught.value, caplog)


async def test_a_429_is_retried_after_its_retry_after_delay(httpserver: HTTPServer) -> None:
    serve_misp_handshake(httpserver)
    httpserver.expect_oneshot_request("/attributes/restSearch").respond_with_json(
        {"message": "Too many requests"}, status=429, headers={"Retry-After": "1"}
    )
    httpserver.expect_oneshot_request("/attributes/restSearch").respond_with_json(
        {"response": {"Attribute": [ATTRIBUTE]}}
    )

    started = time.monotonic()
    found = await search_misp_attributes.fn(misp_block(httpserver), "203.0.113.5")

    assert time.monotonic() - started >= 0.95  # Retry-After: 1 was honoured
    assert len(found) == 1
    assert sum(r.path == "/attributes/restSearch" for r, _ in httpserver.log) == 2


async def test_a_503_is_retried_and_a_lasting_one_is_an_unavailable_error(httpserver: HTTPServer) -> None:
    serve_misp_handshake(httpserver)
    httpserver.expect_oneshot_request("/attributes/restSearch").respond_with_data("busy", status=503)
    httpserver.expect_oneshot_request("/attributes/restSearch").respond_with_json(
        {"response": {"Attribute": []}}
    )
    assert await search_misp_attributes.fn(misp_block(httpserver), "203.0.113.9") == []

    httpserver.expect_request("/attributes/restSearch").respond_with_data("still busy", status=503)
    with pytest.raises(ServiceServerError, match="MISP"):
        await search_misp_attributes.fn(misp_block(httpserver, max_retries=2), "203.0.113.9")
    assert sum(r.path == "/attributes/restSearch" for r, _ in httpserver.log) == 2 + 3


async def test_a_slow_misp_is_a_timeout_error(
    stalled: StalledServer, caplog: pytest.LogCaptureFixture
) -> None:
    serve_misp_handshake(stalled.server)
    stalled.server.expect_request("/attributes/restSearch").respond_with_handler(stalled.stall())

    with pytest.raises(ServiceTimeoutError, match="MISP") as caught:
        await search_misp_attributes.fn(misp_block(stalled.server, timeout_s=0.5), "203.0.113.5")
    assert_secret_absent(KEY, caught.value, caplog)


MISP_SCHEMA = [
    # A subset of MISP's own tables (app/Config/Schema / INSTALL/MYSQL.sql), same names and types.
    """CREATE TABLE events (
        id INT(11) NOT NULL AUTO_INCREMENT PRIMARY KEY,
        org_id INT(11) NOT NULL,
        date DATE NOT NULL,
        info TEXT NOT NULL,
        uuid VARCHAR(40) NOT NULL,
        published TINYINT(1) NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE attributes (
        id INT(11) NOT NULL AUTO_INCREMENT PRIMARY KEY,
        event_id INT(11) NOT NULL,
        object_id INT(11) NOT NULL DEFAULT 0,
        category VARCHAR(255) NOT NULL,
        type VARCHAR(100) NOT NULL,
        value1 TEXT NOT NULL,
        value2 TEXT NOT NULL,
        to_ids TINYINT(1) NOT NULL DEFAULT 1,
        uuid VARCHAR(40) NOT NULL,
        timestamp INT(11) NOT NULL DEFAULT 0,
        comment TEXT,
        deleted TINYINT(1) NOT NULL DEFAULT 0,
        INDEX value1 (value1(255)),
        INDEX value2 (value2(255))
    )""",
]


@pytest.fixture
def misp_db(mariadb_database: str) -> str:
    engine = sa.create_engine(mariadb_database)
    with engine.begin() as conn:
        for ddl in MISP_SCHEMA:
            conn.execute(sa.text(ddl))
        conn.execute(
            sa.text(
                "INSERT INTO events (id, org_id, date, info, uuid) VALUES (:id, 1, '2026-11-01', :info, :uuid)"
            ),
            [
                {"id": 12, "info": "Emotet C2 infrastructure", "uuid": "e12"},
                {"id": 13, "info": "Phishing wave", "uuid": "e13"},
            ],
        )
        conn.execute(
            sa.text(
                "INSERT INTO attributes (event_id, category, type, value1, value2, to_ids, uuid, comment, deleted) "
                "VALUES (:e, :c, :t, :v1, :v2, :ids, :u, :cm, :d)"
            ),
            [
                {
                    "e": 12,
                    "c": "Network activity",
                    "t": "ip-dst",
                    "v1": "203.0.113.5",
                    "v2": "",
                    "ids": 1,
                    "u": "a1",
                    "cm": "C2",
                    "d": 0,
                },
                {
                    "e": 13,
                    "c": "Payload delivery",
                    "t": "filename|md5",
                    "v1": "invoice.exe",
                    "v2": "44d88612fea8a8f36de82e1278abb02f",
                    "ids": 1,
                    "u": "a2",
                    "cm": "",
                    "d": 0,
                },
                {
                    "e": 13,
                    "c": "Network activity",
                    "t": "domain",
                    "v1": "gone.example.com",
                    "v2": "",
                    "ids": 1,
                    "u": "a3",
                    "cm": "",
                    "d": 1,
                },
                {
                    "e": 13,
                    "c": "Network activity",
                    "t": "domain",
                    "v1": "context.example.com",
                    "v2": "",
                    "ids": 0,
                    "u": "a4",
                    "cm": "",
                    "d": 0,
                },
            ],
        )
    engine.dispose()
    return mariadb_database


async def test_db_lookup_matches_value1_and_value2_and_skips_deleted_and_non_ids_rows(misp_db: str) -> None:
    misp = MispServer(url="https://misp.invalid/", api_key=KEY, database_url=misp_db)
    hits = await look_up_iocs_in_misp_db.fn(
        misp,
        [
            "203.0.113.5",
            "44d88612fea8a8f36de82e1278abb02f",
            "gone.example.com",
            "context.example.com",
            "198.51.100.1",
        ],
    )

    assert sorted(hits) == ["203.0.113.5", "44d88612fea8a8f36de82e1278abb02f"]
    [ip] = hits["203.0.113.5"]
    assert (ip.event_id, ip.event_info, ip.type, ip.to_ids) == (
        12,
        "Emotet C2 infrastructure",
        "ip-dst",
        True,
    )
    [md5] = hits["44d88612fea8a8f36de82e1278abb02f"]
    assert (md5.event_id, md5.event_info, md5.type) == (13, "Phishing wave", "filename|md5")


async def test_db_lookup_task_can_include_attributes_not_meant_for_detection(misp_db: str) -> None:
    misp = MispServer(url="https://misp.invalid/", api_key=KEY, database_url=misp_db)
    hits = await look_up_iocs_in_misp_db.fn(
        misp, ["context.example.com", "gone.example.com"], to_ids_only=False
    )
    assert [(v, [h.to_ids for h in hs]) for v, hs in hits.items()] == [("context.example.com", [False])]


async def test_db_lookup_on_an_unreachable_database_names_misp_not_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from alertflow.up.prefect_server import free_port

    url = f"mysql+pymysql://misp:S3cretDbPass@127.0.0.1:{free_port()}/misp?connect_timeout=2"
    misp = MispServer(url="https://misp.invalid/", api_key=KEY, database_url=url)
    with pytest.raises(ServiceCallError, match="MISP database") as caught:
        await look_up_iocs_in_misp_db.fn(misp, ["203.0.113.5"])
    assert_secret_absent("S3cretDbPass", caught.value, caplog)
