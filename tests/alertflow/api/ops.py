"""Objects the operations routes work on, made the way alertflow makes them: dead letters by the ingest
core and batch writer, outbox rows by the response hook (failed by the real dispatcher)."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from alertmodel import DeadLetter, Outbox, dead_letter_key
from ingest.batch import Batch
from ingest.core import IngestCore
from ingest.store import BatchWriter
from response.dispatcher import Dispatcher, DispatcherConfig
from response.executors import product_executors
from response.outbox_writer import ResponseHook
from tests.alertfactory import import_profiles, make_alert, store_batch

SURICATA = Path(__file__).parents[2] / "fixtures" / "samples" / "suricata" / "eve-7.0.10-alerts.json"


def suricata_line() -> bytes:
    """A real Suricata alert of the samples, made unique (its flow id), as one JSON line."""
    first = next(line for line in SURICATA.read_text().splitlines() if '"event_type":"alert"' in line)
    event = json.loads(first)
    event["flow_id"] = random.randrange(10**15, 10**16)
    return json.dumps(event, separators=(",", ":")).encode()


def dead_letter(engine: Engine, raw: bytes | None = None, *, source: str = "suricata") -> tuple[int, bytes]:
    """A dead letter put there by the ingest core and batch writer (a cut-off event by default): its id
    and the whole event it was cut from."""
    whole = suricata_line()
    raw = whole[: len(whole) // 2] if raw is None else raw
    out = IngestCore(node="edge-1").process([raw], source=source, origin="file:/var/log/suricata/eve.json")
    assert out.dead_letters, "the input was readable"
    BatchWriter(engine).write(Batch(dead_letters=out.dead_letters))
    with engine.connect() as conn:
        table = DeadLetter.__table__
        key = dead_letter_key(out.dead_letters[0].source, raw)
        row_id = conn.execute(select(table.c.id).where(table.c.content_key == key)).scalar_one()
    return int(row_id), whole


def failed_outbox_row(engine: Engine, tenant: str) -> tuple[int, str]:
    """An outbox row of a fresh alert of `tenant`, failed by the dispatcher (its JIRA block does not exist)."""
    profile = f"jira-{uuid.uuid4().hex[:8]}"
    import_profiles(
        engine,
        {"response_profiles": [{"name": profile, "actions": [{"kind": "jira", "block": f"{profile}-none"}]}]},
    )
    alert = make_alert(ref_id=tenant, action=profile)
    store_batch(engine, [alert], ResponseHook())
    table = Outbox.__table__
    with engine.connect() as conn:
        row_id = conn.execute(
            select(table.c.id).where(table.c.key.like(f"{alert['alert_uuid']}:%"))
        ).scalar_one()
    config = DispatcherConfig(max_attempts=1, poll_interval_s=0.01, base_delay_s=0.01)
    asyncio.run(Dispatcher(engine, product_executors(engine), config).run(until_idle=True))
    with engine.connect() as conn:
        state = conn.execute(select(table.c.state).where(table.c.id == row_id)).scalar_one()
    assert state == "failed", state
    return int(row_id), str(alert["alert_uuid"])


def outbox_rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(Outbox.__table__).order_by(Outbox.__table__.c.id)).all()
