"""Elasticsearch and OpenSearch forwarding through the official clients, against a server answering `_bulk`."""

from __future__ import annotations

import base64

import orjson
import pytest
from sqlalchemy import Engine, select

from alertmodel import DeadLetter
from alertmodel.errors import ServiceUnavailableError
from alertmodel.forwarding import read_cursor
from blocks.forwarders import ElasticsearchForwarder
from tasks.forward.loop import ForwardLoop
from tests.forward_receivers import BulkServer
from tests.tasks.forward.conftest import add_alerts

FLAVORS = ["elasticsearch", "opensearch"]


@pytest.fixture
def cluster() -> BulkServer:
    server = BulkServer().start()
    yield server
    server.stop()


def _dead_letters(engine: Engine) -> list[DeadLetter]:
    with engine.connect() as conn:
        return list(conn.execute(select(DeadLetter.__table__)).all())


@pytest.mark.parametrize("flavor", FLAVORS)
def test_bulk_indexes_each_alert_with_its_uuid_as_document_id(
    store: Engine, cluster: BulkServer, flavor: str
) -> None:
    rows = add_alerts(store, 30)
    block = ElasticsearchForwarder(
        flavor=flavor, url=cluster.url, index="soc-alerts", username="fwd", password="pa55", backfill=True
    )
    loop = ForwardLoop(store, f"es-{flavor}", block)
    loop.drain()
    assert set(cluster.documents) == {("soc-alerts", r["alert_uuid"]) for r in rows}
    document = cluster.documents[("soc-alerts", rows[0]["alert_uuid"])]
    assert document["alert_uuid"] == rows[0]["alert_uuid"]
    assert document["json_event"] == '{"event_type":"alert"}'  # Alertflex's text column, as stored
    assert document["time_collr"].startswith("2026-11-23T12:00:00")
    authorization = cluster.requests[0]["headers"]["authorization"]
    assert base64.b64decode(authorization.split()[1]) == b"fwd:pa55"
    assert loop.stats.sent == 30
    # a resend (a forwarder restarted before its cursor moved) overwrites, it does not duplicate
    ForwardLoop(store, f"es-{flavor}-again", block).drain()
    assert len(cluster.documents) == 30


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_mapping_error_dead_letters_that_alert_and_the_rest_are_indexed(
    store: Engine, cluster: BulkServer, flavor: str
) -> None:
    cluster.mapping["alerts"] = {"srcip": "ip", "srcport": "long"}  # an index template's mapping
    first = add_alerts(store, 5, srcip="192.0.2.7")
    clash = add_alerts(store, 1, srcip="indef")  # Alertflex's word for unknown is not an address
    after = add_alerts(store, 5, srcip="2001:db8::1")
    block = ElasticsearchForwarder(flavor=flavor, url=cluster.url, index="alerts", backfill=True)
    loop = ForwardLoop(store, "mapping", block)
    loop.drain()
    stored = {doc_id for _, doc_id in cluster.documents}
    assert stored == {r["alert_uuid"] for r in first + after}
    assert loop.stats.refused == 1 and loop.stats.sent == 10
    [letter] = _dead_letters(store)
    assert letter.source == "forward:mapping"
    assert "document_parsing_exception" in letter.reason and "[srcip] of type [ip]" in letter.reason
    assert orjson.loads(letter.raw)["alert_uuid"] == clash[0]["alert_uuid"]
    assert read_cursor(store.connect(), "mapping") == 11


def test_items_answered_429_send_the_batch_again_and_all_arrive(store: Engine, cluster: BulkServer) -> None:
    rows = add_alerts(store, 20)
    cluster.reject_next_429 = 3
    loop = ForwardLoop(store, "busy", ElasticsearchForwarder(url=cluster.url, backfill=True))
    with pytest.raises(ServiceUnavailableError, match="3 of 20 documents answered \\[429\\]"):
        loop.step()
    assert read_cursor(store.connect(), "busy") == 0
    loop.drain()
    assert {doc_id for _, doc_id in cluster.documents} == {r["alert_uuid"] for r in rows}
    assert _dead_letters(store) == []


def test_the_elasticsearch_client_refuses_a_server_that_is_not_elasticsearch(store: Engine) -> None:
    impostor = BulkServer(product_header=False).start()
    try:
        add_alerts(store, 2)
        loop = ForwardLoop(store, "impostor", ElasticsearchForwarder(url=impostor.url, backfill=True))
        with pytest.raises(ServiceUnavailableError, match="UnsupportedProductError"):
            loop.step()
    finally:
        impostor.stop()


def test_a_cluster_that_is_down_is_retried_later_and_the_password_is_never_in_the_error(
    store: Engine,
) -> None:
    cluster = BulkServer()
    add_alerts(store, 2)
    block = ElasticsearchForwarder(url=cluster.url, backfill=True, username="fwd", password="hunter2-secret")
    loop = ForwardLoop(store, "down", block)
    with pytest.raises(ServiceUnavailableError) as caught:
        loop.step()
    assert "hunter2-secret" not in str(caught.value)
    assert read_cursor(store.connect(), "down") == 0


def test_credentials_in_the_url_are_refused_with_the_fields_to_use_instead() -> None:
    with pytest.raises(ValueError, match="set username and password"):
        ElasticsearchForwarder(url="http://fwd:hunter2@127.0.0.1:9200")
