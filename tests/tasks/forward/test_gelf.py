"""GELF forwarding to a GELF input in the test: UDP with zlib and chunks, TCP with NUL frames, TLS."""

from __future__ import annotations

import ssl
import time
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine

from alertmodel.errors import ServiceUnavailableError
from alertmodel.forwarding import read_cursor
from blocks.forwarders import GelfForwarder
from tasks.forward.gelf import udp_datagrams
from tasks.forward.loop import ForwardLoop
from tests.forward_receivers import GelfReceiver, wait_until
from tests.tasks.forward.conftest import add_alerts
from tests.tls_files import self_signed


def test_gelf_tcp_delivers_every_alert_as_a_gelf_message(store: Engine) -> None:
    receiver = GelfReceiver("tcp").start()
    try:
        rows = add_alerts(store, 25, severity=3, description='nmap <script> "quoted"\nline')
        loop = ForwardLoop(
            store, "graylog", GelfForwarder(host="127.0.0.1", port=receiver.port, backfill=True)
        )
        loop.drain()
        wait_until(lambda: len(receiver.messages) == 25)
        by_uuid = {m["_alert_uuid"]: m for m in receiver.messages}
        assert set(by_uuid) == {r["alert_uuid"] for r in rows}
        message = by_uuid[rows[0]["alert_uuid"]]
        assert message["version"] == "1.1"
        assert message["short_message"] == 'nmap <script> "quoted"\nline'
        assert message["level"] == 2  # Critical → syslog critical
        assert message["_source"] == "Suricata"
        assert orjson.loads(message["_json_event"]) == {"event_type": "alert"}  # JSON text, as stored
        assert message["timestamp"] == rows[0]["time_collr"].timestamp()
        assert read_cursor(store.connect(), "graylog") == 25
    finally:
        receiver.stop()


def test_gelf_udp_compresses_and_chunks_a_large_alert(store: Engine) -> None:
    receiver = GelfReceiver("udp").start()
    try:
        big = orjson.dumps({"payload": [f"{i:08x}" * 4 for i in range(4000)]}).decode()
        rows = add_alerts(store, 3, json_event=big)
        block = GelfForwarder(
            host="127.0.0.1", port=receiver.port, protocol="udp", backfill=True, udp_chunk_size=1200
        )
        ForwardLoop(store, "graylog-udp", block).drain()
        wait_until(lambda: len(receiver.messages) == 3)
        assert receiver.uuids() == {r["alert_uuid"] for r in rows}
        assert all(orjson.loads(m["_json_event"]) == orjson.loads(big) for m in receiver.messages)
    finally:
        receiver.stop()


def test_udp_datagrams_are_gelf_chunks_with_one_id_and_numbered_parts() -> None:
    payload = bytes(range(256)) * 20
    datagrams = udp_datagrams(payload, 600)
    assert len(datagrams) == -(-len(payload) // 588)
    assert {d[:2] for d in datagrams} == {b"\x1e\x0f"}
    assert len({d[2:10] for d in datagrams}) == 1
    assert [(d[10], d[11]) for d in datagrams] == [(i, len(datagrams)) for i in range(len(datagrams))]
    assert b"".join(d[12:] for d in datagrams) == payload
    assert all(len(d) <= 600 for d in datagrams)
    with pytest.raises(ValueError, match="more than 128"):
        udp_datagrams(b"x" * 600 * 130, 600)


def test_gelf_tcp_over_tls_verifies_the_input_certificate(store: Engine, tmp_path: Path) -> None:
    certfile, keyfile = self_signed(tmp_path)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(certfile, keyfile)
    receiver = GelfReceiver("tcp", tls=server).start()
    try:
        rows = add_alerts(store, 5)
        untrusted = GelfForwarder(host="127.0.0.1", port=receiver.port, tls=True, backfill=True, timeout_s=3)
        with pytest.raises(ServiceUnavailableError, match="CERTIFICATE_VERIFY_FAILED"):
            ForwardLoop(store, "tls-untrusted", untrusted).drain()
        trusted = untrusted.model_copy(update={"ca_file": str(certfile), "batch_size": 2})
        started = time.monotonic()
        ForwardLoop(store, "tls", trusted).drain()
        wait_until(lambda: len(receiver.messages) == 5)
        assert receiver.uuids() == {r["alert_uuid"] for r in rows}
        # three batches over one connection: the TLS 1.3 session ticket the input sent is no hang-up
        assert len(receiver._sockets) == 1 and time.monotonic() - started < 3
    finally:
        receiver.stop()


def test_a_gelf_input_that_is_down_keeps_the_cursor_where_it_was(store: Engine) -> None:
    receiver = GelfReceiver("tcp")
    add_alerts(store, 4)
    loop = ForwardLoop(store, "down", GelfForwarder(host="127.0.0.1", port=receiver.port, backfill=True))
    with pytest.raises(ServiceUnavailableError, match="refused"):
        loop.step()
    assert read_cursor(store.connect(), "down") == 0
    receiver.start()
    try:
        loop.drain()
        wait_until(lambda: len(receiver.messages) == 4)
        assert read_cursor(store.connect(), "down") == 4
    finally:
        receiver.stop()
