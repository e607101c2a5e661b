"""Windows of alerts encoded for the wire: the Alertflex fast paths match the generic renderers, and
render processes send exactly what one thread sends."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, select

from alertmodel.alert import ALERT_COLUMNS
from alertmodel.formats import FORMATS
from alertmodel.forwarding import ALERTS, read_cursor
from blocks.forwarders import GelfForwarder
from tasks.forward.common import Outgoing
from tasks.forward.loop import ForwardLoop
from tasks.forward.render import Encoder, RenderSpec, gelf_message
from tests.forward_receivers import GelfReceiver, wait_until
from tests.tasks.forward.conftest import add_alerts


def _mixed(store: Engine) -> list[dict]:
    rows = add_alerts(store, 5, description="", severity=0, time_cntrl=None)
    rows += add_alerts(
        store,
        5,
        description='quote " newline \n ü',
        severity=3,
        time_cntrl=datetime(2026, 11, 23, 12, 0, 1, 250000, tzinfo=UTC),
    )
    return rows


def _expected(stored: list[dict[str, Any]], kind: str) -> list[bytes]:
    """What the generic renderer and GELF mapping make of the rows, as the wire carries them."""
    expected = []
    for row in stored:
        document = FORMATS["alertflex"](row)
        if kind == "bulk":
            action = {"index": {"_index": "alerts", "_id": row["alert_uuid"]}}
            expected += [orjson.dumps(action), orjson.dumps(document)]
        else:
            expected.append(orjson.dumps(gelf_message(Outgoing(row, document), "sensor-host")))
    return expected


def _parsed(wire: bytes, kind: str) -> list[Any]:
    return [
        orjson.loads(part) for part in (wire.split(b"\n")[:-1] if kind == "bulk" else wire.split(b"\0")[:-1])
    ]


@pytest.mark.parametrize("kind", ["gelf_tcp", "bulk"])
def test_the_alertflex_fast_paths_encode_what_the_generic_renderer_does(store: Engine, kind: str) -> None:
    rows = _mixed(store)
    spec = RenderSpec(kind, "alertflex", host="sensor-host", index="alerts")  # type: ignore[arg-type]
    encoder = Encoder(spec)
    with store.connect() as conn:
        window = encoder.window(conn, 0, 10)  # SQLite: json_object in SQL
        values = conn.execute(select(*[ALERTS.c[n] for n in ALERT_COLUMNS]).order_by(ALERTS.c.alert_id)).all()
    in_python = encoder.encode(0, 10, values)  # other databases: from the row values in Python
    stored = [dict(zip(ALERT_COLUMNS, v, strict=True)) for v in values]
    expected = _expected(stored, kind)
    assert window.uuids == in_python.uuids == [r["alert_uuid"] for r in rows]
    assert window.refused == in_python.refused == []
    separator = b"\n" if kind == "bulk" else b"\0"
    assert in_python.wire == separator.join([*expected, b""])
    decoded, wanted = _parsed(window.wire, kind), _parsed(in_python.wire, kind)
    assert [list(d) for d in decoded] == [list(w) for w in wanted]  # the same fields, in the same order
    for got, want in zip(decoded, wanted, strict=True):
        if kind != "bulk":  # SQLite writes a real to 15 significant digits: 10 µs
            assert abs(got.pop("timestamp") - want.pop("timestamp")) < 1e-4
        assert got == want
    if kind == "bulk":
        documents = decoded[1::2]
        assert documents[0]["time_cntrl"] is None
        assert documents[5]["time_cntrl"] == "2026-11-23T12:00:01.250000+00:00"
        assert documents[5]["description"] == 'quote " newline \n ü'
    else:
        assert "_time_cntrl" not in decoded[0]  # GELF has no null: an unset time is left out
        assert decoded[0]["short_message"] == "alert" and decoded[0]["level"] == 6
        assert decoded[5]["_time_cntrl"] == "2026-11-23T12:00:01.250000+00:00"
        assert decoded[5]["level"] == 2


def test_render_processes_send_what_one_thread_sends_and_move_the_cursor_in_order(store: Engine) -> None:
    add_alerts(store, 1000)
    received = []
    for processes in (0, 2):
        receiver = GelfReceiver("tcp").start()
        loop = ForwardLoop(
            store,
            f"graylog-{processes}",
            GelfForwarder(host="127.0.0.1", port=receiver.port, backfill=True, batch_size=64),
            processes=processes,
        )
        try:
            loop.drain()
            wait_until(lambda r=receiver: len(r.messages) == 1000)
            assert read_cursor(store.connect(), f"graylog-{processes}") == 1000
            assert loop.stats.batches == 16 and loop.stats.sent == 1000
            assert loop.lag_s() == 0.0
        finally:
            loop.close()
            receiver.stop()
        received.append(receiver.messages)
    assert received[0] == received[1]  # the same messages, in the same (alert id) order
