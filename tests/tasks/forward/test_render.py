"""Windows of alerts encoded for the wire: the Alertflex fast paths match the generic renderers, and
render processes send exactly what one thread sends."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from sqlalchemy import Engine

from alertmodel.formats import FORMATS
from alertmodel.forwarding import read_cursor
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


@pytest.mark.parametrize("kind", ["gelf_tcp", "bulk"])
def test_the_alertflex_fast_path_encodes_what_the_generic_renderer_does(store: Engine, kind: str) -> None:
    rows = _mixed(store)
    spec = RenderSpec(kind, "alertflex", host="sensor-host", index="alerts")  # type: ignore[arg-type]
    with store.connect() as conn:
        window = Encoder(spec).window(conn, 0, 10)
    assert window.uuids == [r["alert_uuid"] for r in rows] and window.refused == []
    with store.connect() as conn:  # the same rows, as the generic renderer and GELF mapping take them
        stored = [
            dict(r._mapping) for r in conn.exec_driver_sql("SELECT * FROM alert ORDER BY alert_id").fetchall()
        ]
    expected = []
    for row in stored:
        row["time_collr"] = datetime.fromisoformat(row["time_collr"]).replace(tzinfo=UTC)
        if row["time_cntrl"] is not None:
            row["time_cntrl"] = datetime.fromisoformat(row["time_cntrl"]).replace(tzinfo=UTC)
        document = FORMATS["alertflex"](row)
        if kind == "bulk":
            action = {"index": {"_index": "alerts", "_id": row["alert_uuid"]}}
            expected += [orjson.dumps(action), orjson.dumps(document)]
        else:
            expected.append(orjson.dumps(gelf_message(Outgoing(row, document), "sensor-host")))
    if kind == "bulk":
        assert window.wire == b"\n".join([*expected, b""])
        documents = [orjson.loads(line) for line in window.wire.split(b"\n")[1::2]]
        assert documents[0]["time_cntrl"] is None
        assert documents[5]["time_cntrl"] == "2026-11-23T12:00:01.250000+00:00"
    else:
        assert window.wire == b"\0".join(expected) + b"\0"
        messages = [orjson.loads(frame) for frame in window.wire.split(b"\0")[:-1]]
        assert "_time_cntrl" not in messages[0]  # GELF has no null: an unset time is left out
        assert messages[0]["short_message"] == "alert" and messages[0]["level"] == 6
        assert messages[5]["_time_cntrl"] == "2026-11-23T12:00:01.250000+00:00"


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
