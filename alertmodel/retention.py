"""Retention: old alerts, dead letters and finished outbox rows removed in small batches.

Each batch is its own short transaction (ids selected, then deleted by id), with a pause
between batches, so pruning a months-old table never holds the write lock long enough to
stall ingest. Alerts an incident refers to are kept as long as the incident; incidents and
their history are never pruned. Deleted alerts are subtracted from the dashboard rollups in
the delete's transaction, so the dashboard counts the alerts stored. With `archive_dir` set,
each batch of alerts is first appended to the day files of `alertmodel.archive` and fsynced,
then deleted in the same transaction.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Engine, Table, exists, select

from alertmodel import Alert, DeadLetter, Incident, Outbox, rollup
from alertmodel.alert import SEVERITY_NAMES
from alertmodel.archive import append_alerts
from alertmodel.types import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long each kind of row is kept, in days; None keeps it for ever."""

    alert_days: int | None = None
    alert_days_by_severity: dict[int, int] = field(default_factory=dict)
    """Overrides `alert_days` for a severity (0 Info .. 3 Critical), e.g. {3: 365}."""
    dead_letter_days: int | None = 30
    outbox_done_days: int | None = 7
    batch_rows: int = 1000
    pause_s: float = 0.05
    """Pause between batches: the ingest worker gets the write lock in between."""
    archive_dir: Path | None = None
    """Where pruned alerts are archived before they are deleted; None deletes them unarchived."""

    def alert_days_for(self, severity: int) -> int | None:
        return self.alert_days_by_severity.get(severity, self.alert_days)


def prune(
    engine: Engine,
    policy: RetentionPolicy,
    *,
    now: datetime | None = None,
    stop: threading.Event | None = None,
) -> dict[str, int]:
    """Delete what the policy no longer keeps; rows deleted per table. `stop` ends it between batches."""
    stop = stop or threading.Event()
    now = now or utcnow()
    deleted = {"alert": 0, "dead_letter": 0, "outbox": 0}
    alert = Alert.__table__
    has_incident = exists().where(Incident.__table__.c.alert_uuid == alert.c.alert_uuid)
    archive_dir = policy.archive_dir
    before_delete = None if archive_dir is None else lambda rows: append_alerts(archive_dir, rows)
    for severity in SEVERITY_NAMES:
        days = policy.alert_days_for(severity)
        if days is not None:
            cutoff = now - timedelta(days=days)
            deleted["alert"] += _delete_in_batches(
                engine,
                alert,
                alert.c.alert_id,
                (alert.c.severity == severity) & (alert.c.time_collr < cutoff) & ~has_incident,
                policy,
                stop,
                before_delete,
                counted=True,
            )
    if policy.dead_letter_days is not None:
        letters = DeadLetter.__table__
        cutoff = now - timedelta(days=policy.dead_letter_days)
        deleted["dead_letter"] = _delete_in_batches(
            engine, letters, letters.c.id, letters.c.received_at < cutoff, policy, stop
        )
    if policy.outbox_done_days is not None:
        outbox = Outbox.__table__
        cutoff = now - timedelta(days=policy.outbox_done_days)
        deleted["outbox"] = _delete_in_batches(
            engine,
            outbox,
            outbox.c.id,
            (outbox.c.state == "done") & (outbox.c.updated_at < cutoff),
            policy,
            stop,
        )
    return deleted


def _delete_in_batches(
    engine: Engine,
    table: Table,
    key: ColumnElement[int],
    condition: ColumnElement[bool],
    policy: RetentionPolicy,
    stop: threading.Event,
    before_delete: Callable[[Sequence[Mapping[str, Any]]], object] | None = None,
    *,
    counted: bool = False,
) -> int:
    """Delete matching rows batch by batch; `before_delete` sees each batch's full rows first.

    When `before_delete` raises, the batch's transaction rolls back and nothing of it is deleted.
    The delete checks `condition` again: a row that stopped matching since it was selected (an
    incident opened for the alert meanwhile) stays, archived or not. With `counted` (alerts),
    the deleted rows are subtracted from the dashboard rollups in the same transaction.
    """
    total = 0
    if before_delete is not None:
        columns: list[Any] = [table]
    elif counted:
        columns = [key, *(table.c[name] for name in ("time_collr", "ref_id", *rollup.DIMENSIONS))]
    else:
        columns = [key]
    while not stop.is_set():
        with engine.begin() as conn:
            rows = [
                r._mapping
                for r in conn.execute(
                    select(*columns).where(condition).order_by(key).limit(policy.batch_rows)
                )
            ]
            ids = [r[key.name] for r in rows]
            if ids:
                if before_delete is not None:
                    before_delete(rows)
                deleted = conn.execute(table.delete().where(key.in_(ids) & condition)).rowcount
                total += deleted
                if counted:
                    if deleted != len(ids):  # some stopped matching: uncount only what is gone
                        kept = set(conn.execute(select(key).where(key.in_(ids))).scalars())
                        rows = [r for r in rows if r[key.name] not in kept]
                    rollup.subtract_alerts(conn, rows)
        if len(ids) < policy.batch_rows:
            break
        stop.wait(policy.pause_s)
    return total


class RetentionThread(threading.Thread):
    """Prunes every `every_s` seconds beside the ingest worker (`alertflow ingest --prune-every`)."""

    def __init__(self, engine: Engine, policy: RetentionPolicy, every_s: float) -> None:
        super().__init__(name="retention", daemon=True)
        self.engine = engine
        self.policy = policy
        self.every_s = every_s
        self.passes = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while True:
            try:
                deleted = prune(self.engine, self.policy, stop=self._stop_event)
                if any(deleted.values()):
                    log.info("retention: %s", ", ".join(f"{t}: {n} deleted" for t, n in deleted.items()))
            except Exception:  # a failed pass (database away) is tried again at the next one
                log.exception("retention: pruning failed")
            self.passes += 1
            if self._stop_event.wait(self.every_s):
                return

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
