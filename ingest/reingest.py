"""Store a dead letter again after a fix: its bytes (or corrected ones) through decode → normalize →
the node's active policy → the batch writer, exactly as the worker would have stored them.

The dead letter is kept and marked (`reingested_at`, `reingested_by`, `reingested_alerts`) in
the transaction that stores the alerts, and only if it was not marked yet: two re-ingests of
one dead letter store its alerts once. The alert uuid depends only on the source, the node and
the bytes, so even a mark lost by hand stores nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine, select

from alertmodel import DeadLetter
from alertmodel.errors import AlertflowError
from alertmodel.types import utcnow
from ingest.batch import Batch
from ingest.core import NORMALIZERS, IngestCore
from ingest.policy_source import DatabasePolicy
from ingest.store import BatchHook, BatchWriter, StoredSizes

_DEAD = DeadLetter.__table__


class ReingestRefused(AlertflowError):
    """The dead letter does not exist, was re-ingested already, or still cannot be read."""

    def __init__(self, message: str, *, reason: str = "refused") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Reingested:
    """What storing a dead letter again did."""

    dead_letter_id: int
    alert_uuids: list[str]
    stored: int
    duplicates: int
    counts: dict[str, int] = field(default_factory=dict)


def reingest_dead_letter(
    engine: Engine,
    dead_letter_id: int,
    *,
    actor: str,
    node: str,
    content: bytes | None = None,
    batch_hooks: Sequence[BatchHook] = (),
    sizes: StoredSizes = StoredSizes(),
    now: datetime | None = None,
) -> Reingested:
    """Store dead letter `dead_letter_id` (or `content`, its corrected bytes) as node `node`'s worker would.

    Raises ReingestRefused (reason `missing`, `done` or `unreadable`) and stores nothing then.
    """
    with engine.connect() as conn:
        row = conn.execute(select(_DEAD).where(_DEAD.c.id == dead_letter_id)).first()
    if row is None:
        raise ReingestRefused(f"no dead letter {dead_letter_id}", reason="missing")
    if row.reingested_at is not None:
        raise _already(dead_letter_id, row.reingested_at, row.reingested_by)
    _changed, policy = DatabasePolicy(engine, node).poll()
    core = IngestCore(node=node, policy=policy, clock=(lambda: now) if now else None)
    source = row.source if row.source in NORMALIZERS else "auto"
    raw = row.raw if content is None else content
    out = core.process(raw.splitlines() or [b""], source=source, origin=f"dead-letter/{dead_letter_id}")
    if out.dead_letters:
        reasons = "; ".join(d.reason for d in out.dead_letters)[:1000]
        raise ReingestRefused(f"still not an event alertflow can read: {reasons}", reason="unreadable")
    uuids = list(dict.fromkeys(a["alert_uuid"] for a in out.alerts))

    def mark(conn: Connection) -> None:
        marked = conn.execute(
            _DEAD.update()
            .where(_DEAD.c.id == dead_letter_id, _DEAD.c.reingested_at.is_(None))
            .values(reingested_at=now or utcnow(), reingested_by=actor[:255], reingested_alerts=uuids)
        ).rowcount
        if marked != 1:  # another re-ingest got there first: roll this one back
            raise _already(dead_letter_id, None, None)

    writer = BatchWriter(engine, batch_hooks=batch_hooks, sizes=sizes)
    result = writer.write(Batch(alerts=out.alerts, new_categories=out.new_categories), also=mark)
    return Reingested(
        dead_letter_id, uuids, result.stored, result.duplicates, {k: v for k, v in out.counts.items() if v}
    )


def _already(dead_letter_id: int, at: datetime | None, by: str | None) -> ReingestRefused:
    when = f" at {at.isoformat()} by {by}" if at is not None else ""
    return ReingestRefused(f"dead letter {dead_letter_id} was re-ingested already{when}", reason="done")
