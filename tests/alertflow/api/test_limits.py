"""Big, deeply nested or non-UTF-8 request bodies are refused before any route reads them; a store that
is down is a 503."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import create_engine

from alertflow.api.app import create_app
from alertflow.api.limits import MAX_BODY_BYTES, MAX_JSON_DEPTH
from alertflow.up.prefect_server import free_port
from alertmodel.engine import make_engine

from .live import serve


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve(create_app(create_engine("sqlite://"))) as url:
        yield url


def test_a_body_over_the_limit_is_refused_with_413(base_url: str) -> None:
    response = httpx.post(f"{base_url}/api/v1/health", content=b"x" * (MAX_BODY_BYTES + 1))
    assert response.status_code == 413


def test_a_chunked_body_over_the_limit_is_refused_with_413(base_url: str) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(MAX_BODY_BYTES // 1024 + 2):
            yield b"y" * 1024

    response = httpx.post(f"{base_url}/api/v1/health", content=chunks())
    assert response.status_code == 413


def test_json_nested_deeper_than_the_limit_is_refused_with_422(base_url: str) -> None:
    deep = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
    response = httpx.post(
        f"{base_url}/api/v1/health", content=deep, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert "nested deeper" in response.json()["detail"][0]["msg"]


def test_json_deeper_than_the_parser_goes_is_refused_with_422(base_url: str) -> None:
    depth = 5000
    response = httpx.post(
        f"{base_url}/api/v1/health",
        content="[" * depth + "]" * depth,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422


def test_json_within_the_limits_reaches_the_route(base_url: str) -> None:
    shallow = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    response = httpx.post(
        f"{base_url}/api/v1/health", content=shallow, headers={"content-type": "application/json"}
    )
    assert response.status_code == 405  # the route (GET only) answered, not the limit


def test_a_json_body_that_is_not_utf8_is_422_not_400(base_url: str) -> None:
    response = httpx.post(
        f"{base_url}/api/v1/health", content=b'{"a": "\xff"}', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


def test_a_store_that_cannot_be_reached_is_503_not_500() -> None:
    engine = make_engine(
        f"mysql+pymysql://root@127.0.0.1:{free_port()}/nowhere", connect_args={"connect_timeout": 2}
    )
    with serve(create_app(engine)) as url:
        response = httpx.get(f"{url}/api/v1/me", auth=("someone", "some password"), timeout=30)
    assert response.status_code == 503
    assert response.json() == {"detail": "the alert store is unavailable; retry later"}
