from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, select

from alertflow.up.prefect_server import free_port
from alertmodel import DeadLetter, migrate
from alertmodel.engine import make_engine
from ingest.core import IngestCore
from ingest.sources.http import HttpSource
from ingest.sources.http_limits import HttpLimits
from ingest.worker import Worker
from tests.ingest.events import count_alerts, dead_letter_reasons, suricata_alerts

TOKEN = "k3hDqW1nZr8vYbJ0sXo2LmT5uAe9gFcP4iN7yQwE6Rd"  # the shape of secrets.token_urlsafe(32)
# Short timeouts so the slow-client tests take seconds; small parts so a small body has several.
LIMITS = HttpLimits(
    max_body_bytes=64 * 1024,
    max_line_bytes=8 * 1024,
    max_connections=8,
    max_requests=2,
    header_timeout_s=0.5,
    read_timeout_s=0.5,
    body_timeout_s=2.0,
    part_lines=10,
)


@pytest.fixture
def engine(sqlite_database: str) -> Iterator[Engine]:
    migrate.upgrade(sqlite_database)
    engine = make_engine(sqlite_database)
    yield engine
    engine.dispose()


@pytest.fixture
def endpoint(engine: Engine) -> Iterator[tuple[str, Worker]]:
    port = free_port()
    source = HttpSource("127.0.0.1", port, token=SecretStr(TOKEN), limits=LIMITS)
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


def test_each_element_of_a_broken_json_array_is_an_event_the_broken_ones_dead_lettered(
    endpoint: tuple[str, Worker], engine: Engine
) -> None:
    url, _ = endpoint
    good = suricata_alerts(1, "array-good")[0]
    response = _post(url, b"[" + good + b", oops, " + good[:40])  # a bad element, then cut short
    assert response.status_code == 400
    answer = response.json()
    assert answer["stored_alerts"] == 1
    assert [r.split(":")[0] for r in answer["reasons"]] == ["line 2", "line 3"]
    assert count_alerts(engine) == (1, 1)


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


def test_a_body_declared_over_the_limit_gets_413_and_nothing_is_stored(
    endpoint: tuple[str, Worker], engine: Engine
) -> None:
    url, worker = endpoint
    body = b"\n".join(suricata_alerts(40, "big"))  # about 85 KB > 64 KB
    response = _post(url, body)
    assert response.status_code == 413 and response.headers["connection"] == "close"
    assert worker.stats.counts["read"] == 0 and count_alerts(engine) == (0, 0)


def test_a_streamed_body_passing_the_limit_gets_413(endpoint: tuple[str, Worker], engine: Engine) -> None:
    url, worker = endpoint

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while streaming too
        yield from (line + b"\n" for line in suricata_alerts(40, "big"))

    streamed = httpx.post(url, content=chunks(), headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    assert streamed.status_code == 413
    # the parts read before the limit may be stored (a resend stores them once): never the rest
    worker.request_stop()
    assert worker.wait(60)
    stored, _ = count_alerts(engine)
    assert stored < 40 and stored % LIMITS.part_lines == 0


def test_an_empty_body_gets_400(endpoint: tuple[str, Worker]) -> None:
    url, _ = endpoint
    response = _post(url, b"  \n")
    assert response.status_code == 400 and "empty body" in response.json()["error"]


def test_a_stopping_worker_answers_503(endpoint: tuple[str, Worker]) -> None:
    url, worker = endpoint
    for source in worker.sources:
        source.stop_reading()
    assert _post(url, suricata_alerts(1, "late")[0]).status_code == 503


def test_the_endpoint_refuses_to_start_without_a_token() -> None:
    with pytest.raises(ValueError, match="ALERTFLOW_INGEST_TOKEN"):
        HttpSource("127.0.0.1", 1, token=SecretStr(""))


def test_the_endpoint_refuses_a_token_shorter_than_32_bytes() -> None:
    with pytest.raises(ValueError, match="ALERTFLOW_INGEST_TOKEN is 16 bytes long") as refused:
        HttpSource("127.0.0.1", 1, token=SecretStr("s3cret-ingest-tk"))
    assert "secrets.token_urlsafe(32)" in str(refused.value) and "s3cret" not in str(refused.value)


def test_a_body_enters_the_worker_in_parts_and_reasons_count_lines_of_the_whole_body(
    endpoint: tuple[str, Worker], engine: Engine
) -> None:
    url, _ = endpoint
    lines = suricata_alerts(25, "parts")
    lines[16] = b'{"half": '
    response = _post(url, b"\n\n" + b"\n".join(lines))  # two blank lines first: the broken one is line 19
    assert response.status_code == 400
    assert response.json()["reasons"][0].startswith("line 19: invalid JSON")
    assert count_alerts(engine) == (24, 24)
    with engine.connect() as conn:
        (origin,) = conn.execute(select(DeadLetter.__table__.c.origin)).scalars()
    assert origin.endswith(", body lines 13-22")  # its part: the reason counts from line 13


def test_a_line_longer_than_the_limit_gets_413(endpoint: tuple[str, Worker], engine: Engine) -> None:
    url, _ = endpoint
    response = _post(url, b'{"source": "x", "event": 1, "info": "' + b"a" * 9000 + b'"}')
    assert response.status_code == 413 and "longer than 8192 bytes" in response.json()["error"]


# -- slow and greedy clients ------------------------------------------------------------------


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
    return sock


def _read_until_closed(sock: socket.socket, within_s: float) -> bytes:
    """Everything the server sends until it closes the connection; fails if it stays open longer."""
    received = b""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            data = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return received
        if not data:
            return received
        received += data
    raise AssertionError(f"the connection was still open after {within_s} s (got {received[:80]!r})")


def _headers(length: int) -> bytes:
    return (
        f"POST /ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(
    endpoint: tuple[str, Worker],
) -> None:
    url, _ = endpoint
    with _connect(url) as sock:
        started = time.monotonic()
        assert _read_until_closed(sock, within_s=5) == b""
        assert time.monotonic() - started >= LIMITS.header_timeout_s * 0.9


def test_headers_trickled_a_byte_at_a_time_are_cut_off_at_the_header_timeout(
    endpoint: tuple[str, Worker],
) -> None:
    url, _ = endpoint
    started = time.monotonic()
    with _connect(url) as sock, pytest.raises(OSError):  # the server closes while we are still sending
        for byte in _headers(10) * 10:
            sock.sendall(bytes([byte]))
            time.sleep(0.05)
            if time.monotonic() - started > 5:
                break
    assert time.monotonic() - started < 5


def test_a_stalled_body_gets_408_and_the_connection_is_closed(endpoint: tuple[str, Worker]) -> None:
    url, _ = endpoint
    with _connect(url) as sock:
        sock.sendall(_headers(5000) + b'{"source": ')
        answer = _read_until_closed(sock, within_s=5)
    assert answer.startswith(b"HTTP/1.1 408 ")


def test_a_trickled_body_gets_408_once_the_body_timeout_is_spent(endpoint: tuple[str, Worker]) -> None:
    url, _ = endpoint
    started = time.monotonic()
    with _connect(url) as sock:
        sock.sendall(_headers(5000))
        sock.setblocking(True)  # so that MSG_DONTWAIT returns at once (a timeout would wait for data)
        answer = b""
        while time.monotonic() - started < 6 and not answer:
            sock.sendall(b" ")  # a byte every 0.2 s: never a pause over read_timeout_s
            time.sleep(0.2)
            with contextlib.suppress(BlockingIOError):
                answer = sock.recv(65536, socket.MSG_DONTWAIT)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert LIMITS.body_timeout_s <= time.monotonic() - started < 6


def test_connections_over_the_cap_are_answered_503_with_retry_after_and_closed(
    endpoint: tuple[str, Worker],
) -> None:
    url, _ = endpoint
    idle = [_connect(url) for _ in range(LIMITS.max_connections)]
    try:
        time.sleep(0.1)  # let the server accept them all
        with _connect(url) as extra:
            answer = _read_until_closed(extra, within_s=2)
        assert answer.startswith(b"HTTP/1.1 503 ") and b"\r\nRetry-After: 1\r\n" in answer
    finally:
        for sock in idle:
            sock.close()
    time.sleep(0.1)
    assert _post(url, suricata_alerts(1, "after-cap")[0]).status_code == 202


def test_requests_over_the_in_flight_limit_get_503_with_retry_after(endpoint: tuple[str, Worker]) -> None:
    url, _ = endpoint
    stalled = [_connect(url) for _ in range(LIMITS.max_requests)]
    try:
        for sock in stalled:
            sock.sendall(_headers(5000) + b"{")
        time.sleep(0.1)
        busy = _post(url, suricata_alerts(1, "busy")[0])
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        for sock in stalled:  # their bodies time out, and the slots come back
            assert _read_until_closed(sock, within_s=5).startswith(b"HTTP/1.1 408 ")
    finally:
        for sock in stalled:
            sock.close()
    assert _post(url, suricata_alerts(1, "not-busy")[0]).status_code == 202
