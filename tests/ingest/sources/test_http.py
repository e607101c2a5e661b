from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import orjson
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine

from alertflow.up.prefect_server import free_port
from alertmodel import migrate
from alertmodel.engine import make_engine
from ingest.core import IngestCore
from ingest.sources.http import HttpSource, split_body
from ingest.worker import Worker
from tests.ingest.events import count_alerts, dead_letter_reasons, suricata_alerts

TOKEN = "s3cret-ingest-token"


@pytest.fixture
def engine(sqlite_database: str) -> Iterator[Engine]:
    migrate.upgrade(sqlite_database)
    engine = make_engine(sqlite_database)
    yield engine
    engine.dispose()


@pytest.fixture
def endpoint(engine: Engine) -> Iterator[tuple[str, Worker]]:
    port = free_port()
    source = HttpSource("127.0.0.1", port, token=SecretStr(TOKEN), max_body_bytes=64 * 1024)
    # A long batch wait: an idle worker must store a request at once, not wait for a batch to fill.
    worker = Worker(engine, IngestCore(), [source], batch_wait_s=5.0)
    worker.start()
    try:
        yield f"http://127.0.0.1:{port}/ingest", worker
    finally:
        worker.request_stop()
        assert worker.wait(60)


def _post(url: str, body: bytes, token: str | None = TOKEN) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(url, content=body, headers=headers, timeout=60)


def test_json_lines_are_answered_202_only_once_stored(endpoint: tuple[str, Worker], engine: Engine) -> None:
    url, _ = endpoint
    response = _post(url, b"\n".join(suricata_alerts(3, "http")) + b"\n")
    assert response.status_code == 202, response.text
    assert response.json() == {"stored_alerts": 3}
    assert count_alerts(engine) == (3, 3)  # already committed when the answer came


def test_a_lone_alert_is_stored_at_once_when_the_writer_is_idle(
    endpoint: tuple[str, Worker], engine: Engine
) -> None:
    url, _ = endpoint
    for i in range(3):
        started = time.monotonic()
        response = _post(url, suricata_alerts(1, f"lone-{i}")[0])
        assert response.status_code == 202, response.text
        assert time.monotonic() - started < 1.0  # not the 5 s batch wait
    assert count_alerts(engine) == (3, 3)


def test_a_json_array_is_accepted_like_json_lines(endpoint: tuple[str, Worker], engine: Engine) -> None:
    url, _ = endpoint
    body = b"[" + b",".join(suricata_alerts(2, "array")) + b"]"
    response = _post(url, body)
    assert response.status_code == 202, response.text
    assert count_alerts(engine) == (2, 2)


def test_undecodable_lines_get_a_400_naming_them_while_the_good_lines_are_stored(
    endpoint: tuple[str, Worker], engine: Engine
) -> None:
    url, _ = endpoint
    body = b"\n".join([suricata_alerts(1, "good")[0], b'{"half": ', suricata_alerts(1, "good2")[0]])
    response = _post(url, body)
    assert response.status_code == 400
    answer = response.json()
    assert answer["stored_alerts"] == 2 and answer["dead_lettered"] == 1
    assert answer["reasons"][0].startswith("line 2: invalid JSON")
    assert count_alerts(engine) == (2, 2)
    assert dead_letter_reasons(engine) == answer["reasons"]


def test_a_broken_json_array_is_dead_lettered_whole(endpoint: tuple[str, Worker], engine: Engine) -> None:
    url, _ = endpoint
    response = _post(url, b'[{"a": 1}, oops]')
    assert response.status_code == 400
    assert len(dead_letter_reasons(engine)) == 1


def test_a_missing_or_wrong_token_gets_401_and_stores_nothing(
    endpoint: tuple[str, Worker], engine: Engine
) -> None:
    url, _ = endpoint
    body = suricata_alerts(1, "noauth")[0]
    assert _post(url, body, token=None).status_code == 401
    wrong = _post(url, body, token="guess")
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert TOKEN not in wrong.text
    assert count_alerts(engine) == (0, 0)


def test_a_body_over_the_limit_gets_413(endpoint: tuple[str, Worker], engine: Engine) -> None:
    url, _ = endpoint
    body = b"\n".join(suricata_alerts(40, "big"))  # about 85 KB > 64 KB
    assert _post(url, body).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while streaming too
        yield from (line + b"\n" for line in suricata_alerts(40, "big"))

    streamed = httpx.post(url, content=chunks(), headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    assert streamed.status_code == 413
    assert count_alerts(engine) == (0, 0)


def test_an_empty_body_gets_400(endpoint: tuple[str, Worker]) -> None:
    url, _ = endpoint
    response = _post(url, b"  \n")
    assert response.status_code == 400 and "empty body" in response.json()["error"]


def test_a_stopping_worker_answers_503(endpoint: tuple[str, Worker]) -> None:
    url, worker = endpoint
    for source in worker.sources:
        source.stop_reading()
    assert _post(url, suricata_alerts(1, "late")[0]).status_code == 503


def test_split_body_turns_array_elements_into_lines() -> None:
    assert split_body(b' [{"a":1},{"b":2}]') == [b'{"a":1}', b'{"b":2}']
    assert split_body(b'{"a":1}\n{"b":2}') == [b'{"a":1}', b'{"b":2}']
    assert [orjson.loads(x) for x in split_body(b"[1]")] == [1]


def test_the_endpoint_refuses_to_start_without_a_token() -> None:
    with pytest.raises(ValueError, match="ALERTFLOW_INGEST_TOKEN"):
        HttpSource("127.0.0.1", 1, token=SecretStr(""))
