"""Helpers for integration tests: a slow-answer handler and a no-secret-anywhere check."""

from __future__ import annotations

import logging
import time

import pytest
from werkzeug import Request, Response


def slow_response(seconds: float, body: str = "{}") -> object:
    """A pytest-httpserver handler that answers only after `seconds` (for timeout tests)."""

    def handler(_: Request) -> Response:
        time.sleep(seconds)
        return Response(body, status=200, content_type="application/json")

    return handler


def assert_secret_absent(secret: str, error: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    """The secret is in neither the error text, its causes' texts as we show them, nor any log record."""
    assert secret not in str(error)
    assert secret not in repr(error)
    for record in caplog.records:
        assert secret not in record.getMessage(), record.getMessage()


@pytest.fixture(autouse=True)
def _capture_all_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
