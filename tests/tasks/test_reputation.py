"""Reputation checks: indicator validation, and verdicts from MISP over REST and over its database."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from pytest_httpserver import HTTPServer

from alertmodel.indicators import normalize_indicator
from blocks.misp import MispServer
from tasks.misp import ioc_lookup
from tasks.reputation import check_reputation
from tests.tasks.test_misp import ATTRIBUTE, KEY, MISP_SCHEMA, misp_block, serve_misp_handshake


@pytest.mark.parametrize(
    ("kind", "raw", "normal"),
    [
        ("ip", " 203.0.113.5 ", "203.0.113.5"),
        ("ip", "2001:DB8:0:0::1", "2001:db8::1"),
        ("domain", "Evil.Example.COM.", "evil.example.com"),
        ("md5", "44D88612FEA8A8F36DE82E1278ABB02F", "44d88612fea8a8f36de82e1278abb02f"),
        ("sha1", "3395856ce81f2b7382dee72602f798b642f14140", "3395856ce81f2b7382dee72602f798b642f14140"),
    ],
)
def test_indicators_are_normalized_to_how_misp_stores_them(kind: str, raw: str, normal: str) -> None:
    assert normalize_indicator(kind, raw) == normal  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "raw", "hint"),
    [("ip", "203.0.113.500", "IPv4"), ("domain", "not a domain", "domain name"), ("md5", "abc", "32 hex")],
)
def test_malformed_indicators_are_refused_with_the_expected_form(kind: str, raw: str, hint: str) -> None:
    with pytest.raises(ValueError, match=hint):
        normalize_indicator(kind, raw)  # type: ignore[arg-type]


async def test_an_ip_listed_in_misp_is_malicious_with_its_event(httpserver: HTTPServer) -> None:
    serve_misp_handshake(httpserver)
    other_type = {**ATTRIBUTE, "id": "9", "type": "text", "Event": {**ATTRIBUTE["Event"], "info": "notes"}}
    httpserver.expect_request("/attributes/restSearch", method="POST").respond_with_json(
        {"response": {"Attribute": [ATTRIBUTE, other_type]}}
    )

    result = await check_reputation.fn(misp_block(httpserver), "203.0.113.5", "ip")

    assert (result.verdict, result.events, [h.id for h in result.hits]) == (
        "malicious",
        ["Emotet C2 infrastructure"],
        [4521],
    )


async def test_an_unlisted_hash_is_unknown(httpserver: HTTPServer) -> None:
    serve_misp_handshake(httpserver)
    httpserver.expect_request("/attributes/restSearch").respond_with_json({"response": {"Attribute": []}})
    result = await check_reputation.fn(
        misp_block(httpserver), "3395856ce81f2b7382dee72602f798b642f14140", "sha1"
    )
    assert (result.verdict, result.hits) == ("unknown", [])


async def test_with_a_database_url_reputation_is_answered_from_misp_db(mariadb_database: str) -> None:
    engine = sa.create_engine(mariadb_database)
    with engine.begin() as conn:
        for ddl in MISP_SCHEMA:
            conn.execute(sa.text(ddl))
        conn.execute(
            sa.text(
                "INSERT INTO events (id, org_id, date, info, uuid) VALUES (5, 1, '2026-11-01', 'Loader', 'e5')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO attributes (event_id, category, type, value1, value2, to_ids, uuid) "
                "VALUES (5, 'Payload delivery', 'filename|md5', 'a.exe', '44d88612fea8a8f36de82e1278abb02f', 1, 'x')"
            )
        )
    engine.dispose()
    misp = MispServer(url="http://127.0.0.1:9/", api_key=KEY, database_url=mariadb_database)

    listed = await check_reputation.fn(misp, "44D88612FEA8A8F36DE82E1278ABB02F", "md5")
    unlisted = await check_reputation.fn(misp, "203.0.113.77", "ip")

    assert (listed.verdict, listed.events) == ("malicious", ["Loader"])
    assert unlisted.verdict == "unknown"


def test_the_rest_lookup_for_ingest_connects_once_and_searches_each_value(httpserver: HTTPServer) -> None:
    serve_misp_handshake(httpserver)
    httpserver.expect_request("/attributes/restSearch").respond_with_json(
        {"response": {"Attribute": [ATTRIBUTE]}}
    )
    lookup = ioc_lookup(misp_block(httpserver))

    first = lookup(["203.0.113.5", "203.0.113.5", "evil.example.com"])
    second = lookup(["198.51.100.7"])

    assert sorted(first) == ["203.0.113.5", "evil.example.com"] and list(second) == ["198.51.100.7"]
    paths = [r.path for r, _ in httpserver.log]
    assert paths.count("/users/view/me") == 1
    assert paths.count("/attributes/restSearch") == 3
