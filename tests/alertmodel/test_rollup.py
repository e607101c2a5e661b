"""The dashboard rollups follow the alert table: ingest adds, status changes move, retention subtracts."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from alertmodel import Alert, migrate
from alertmodel.archive import restore
from alertmodel.engine import make_engine
from alertmodel.errors import StorageError
from alertmodel.incident_queries import set_alert_status
from alertmodel.retention import RetentionPolicy, prune
from alertmodel.rollup import DIMENSIONS, ROLLUP, value_key
from ingest.batch import Batch
from ingest.store import BatchWriter
from tests.alertfactory import make_alert

START = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)


def _alerts(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Alerts over three days of two tenants, with repeated and distinct values in every dimension."""
    rng = random.Random(seed)
    return [
        make_alert(
            ref_id=rng.choice(["tenant-a", "tenant-b", "indef"]),
            severity=rng.randint(0, 3),
            source=rng.choice(["Suricata", "Wazuh", "Falco"]),
            category=rng.choice(["scan", "sshd", "c" * 1024, "c" * 1023 + "d", "ünïcode ✓"]),
            srcip=rng.choice(["10.0.0.1", "10.0.0.2", "192.0.2.7", "indef"]),
            status=rng.choice(["processed", "modified"]),
            time_collr=START
            + timedelta(minutes=rng.randint(0, 3 * 24 * 60), microseconds=rng.randint(0, 999999)),
        )
        for _ in range(count)
    ]


def expected_rollups(engine: Engine) -> Counter[tuple[str, str, datetime, str, str]]:
    """What the rollup table must hold: every stored alert counted per hour and day, by the plain rows."""
    alert = Alert.__table__
    expected: Counter[tuple[str, str, datetime, str, str]] = Counter()
    with engine.connect() as conn:
        for row in conn.execute(
            select(alert.c.time_collr, alert.c.ref_id, *(alert.c[d] for d in DIMENSIONS))
        ):
            hour = row.time_collr.replace(minute=0, second=0, microsecond=0)
            for dim in DIMENSIONS:
                value = str(getattr(row, dim))
                expected["h", dim, hour, row.ref_id, value] += 1
                expected["d", dim, hour.replace(hour=0), row.ref_id, value] += 1
    return expected


def stored_rollups(engine: Engine) -> Counter[tuple[str, str, datetime, str, str]]:
    stored: Counter[tuple[str, str, datetime, str, str]] = Counter()
    with engine.connect() as conn:
        for row in conn.execute(select(ROLLUP)):
            assert row.value_key == value_key(row.value)
            stored[row.grain, row.dim, row.bucket, row.ref_id, row.value] += row.n
    return stored


def _ingest(engine: Engine, alerts: list[dict[str, Any]], size: int = 100) -> None:
    writer = BatchWriter(engine)
    for i in range(0, len(alerts), size):
        writer.write(Batch(alerts=[dict(a) for a in alerts[i : i + size]]))


def test_ingested_batches_are_counted_once_per_alert_even_when_redelivered(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    alerts = _alerts(600)
    _ingest(engine, alerts)
    _ingest(engine, alerts[100:300], size=70)  # a redelivery adds nothing
    _ingest(engine, alerts[:5] + alerts[:5])  # nor does a batch repeating an alert
    expected = expected_rollups(engine)
    assert sum(expected.values()) == 600 * 2 * len(DIMENSIONS)
    assert stored_rollups(engine) == expected
    engine.dispose()


def test_a_status_change_moves_the_alert_between_status_counts(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    alerts = _alerts(50)
    _ingest(engine, alerts)
    with engine.begin() as conn:
        for alert in alerts[:10]:
            set_alert_status(conn, alert["alert_uuid"], "incident")
        set_alert_status(conn, alerts[0]["alert_uuid"], "incident")  # no change: nothing moves
        set_alert_status(conn, "no-such-alert", "incident")
    stored = stored_rollups(engine)
    assert stored == expected_rollups(engine)
    assert (
        sum(
            n
            for (grain, dim, *_rest, value), n in stored.items()
            if (grain, dim, value) == ("h", "status", "incident")
        )
        == 10
    )
    engine.dispose()


def test_retention_subtracts_the_alerts_it_deletes_and_drops_emptied_rows(
    migrated_url: str, tmp_path: Path
) -> None:
    engine = make_engine(migrated_url)
    alerts = _alerts(400)
    _ingest(engine, alerts)
    now = START + timedelta(days=1, hours=12)
    policy = RetentionPolicy(alert_days=1, batch_rows=37, pause_s=0, archive_dir=tmp_path)
    deleted = prune(engine, policy, now=now)["alert"]
    assert 0 < deleted < 400
    stored = stored_rollups(engine)
    assert stored == expected_rollups(engine)
    assert min(stored.values()) > 0  # no zero rows left behind
    # restoring the archive counts them again
    restore(engine, sorted(tmp_path.iterdir()))
    assert stored_rollups(engine) == expected_rollups(engine)
    assert sum(n for k, n in stored_rollups(engine).items() if k[:2] == ("h", "status")) == 400
    engine.dispose()


def test_retention_without_an_archive_subtracts_too(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    _ingest(engine, _alerts(300, seed=3))
    prune(engine, RetentionPolicy(alert_days=2, batch_rows=50, pause_s=0), now=START + timedelta(days=3))
    assert stored_rollups(engine) == expected_rollups(engine)
    engine.dispose()


def test_the_migration_counts_the_alerts_stored_before_it(database_url: str) -> None:
    migrate.upgrade(database_url, "0006_dead_letter_content_key")
    engine = make_engine(database_url)
    alerts = _alerts(300, seed=11)
    with engine.begin() as conn:
        conn.execute(Alert.__table__.insert(), alerts)
    migrate.upgrade(database_url)
    stored = stored_rollups(engine)
    assert sum(stored.values()) == 300 * 2 * len(DIMENSIONS)
    assert stored == expected_rollups(engine)
    # and ingest goes on counting from there
    _ingest(engine, _alerts(50, seed=12))
    assert stored_rollups(engine) == expected_rollups(engine)
    migrate.downgrade(database_url, "0006_dead_letter_content_key")
    engine.dispose()


def test_on_sqlite_a_batch_whose_alerts_another_writer_stored_meanwhile_is_rolled_back(
    sqlite_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The look-up saw the alerts as new, the insert found them stored: counting them would count twice."""
    migrate.upgrade(sqlite_database)
    engine = make_engine(sqlite_database)
    alerts = _alerts(20, seed=13)
    _ingest(engine, alerts[:5])
    before = stored_rollups(engine)
    writer = BatchWriter(engine)
    monkeypatch.setattr(writer, "_not_stored", lambda conn, rows, unique: unique)  # a stale look-up
    with pytest.raises(StorageError, match="stored meanwhile"):
        writer.write(Batch(alerts=[dict(a) for a in alerts]))
    assert stored_rollups(engine) == before  # nothing of the batch committed
    _ingest(engine, alerts)  # the retry, with a fresh look-up
    assert stored_rollups(engine) == expected_rollups(engine)
    engine.dispose()
