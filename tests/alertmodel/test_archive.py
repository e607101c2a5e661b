"""The alert archive: pruned alerts land in day files first, and replay/import bring them back exactly."""

from __future__ import annotations

import contextlib
import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from alertflow.cli import app
from alertmodel import ALERT_COLUMNS, Alert, Incident, migrate
from alertmodel import archive as archive_module
from alertmodel.archive import append_alerts, archive_path, read_archive, unique_records
from alertmodel.engine import make_engine
from alertmodel.errors import StorageError
from alertmodel.retention import RetentionPolicy, prune
from tests.alertfactory import make_alert, store_batch
from tests.conftest import fresh_mariadb_database
from tests.ingest.conftest import SAMPLES

runner = CliRunner()
FUTURE = datetime(2100, 1, 1, tzinfo=UTC)
SAMPLE_FILES = [
    SAMPLES / "suricata" / "eve-7.0.10-alerts.json",
    SAMPLES / "wazuh" / "wazuh-indexer-sample-alerts-fim-rootcheck.json",
    SAMPLES / "modsecurity" / "elastic-modsec-test-audit.log",
    SAMPLES / "falco" / "elastic-falco_alerts-test-falco.log",
]


@pytest.fixture
def engine(migrated_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_url)
    yield engine
    engine.dispose()


def _rows(engine: Engine) -> dict[str, dict]:
    with engine.connect() as conn:
        rows = conn.execute(select(Alert.__table__)).mappings()
        return {r["alert_uuid"]: {c: r[c] for c in ALERT_COLUMNS} for r in rows}


def _ingest(url: str, monkeypatch: pytest.MonkeyPatch, *files: Path) -> str:
    monkeypatch.setenv("ALERTFLOW_DATABASE_URL", url)
    result = runner.invoke(app, ["ingest-file", *map(str, files)])
    assert result.exit_code == 0, result.output
    return result.output


def _days_apart(n: int) -> list[dict]:
    """Alerts on `n` different days, one just before and one just after a UTC midnight."""
    base = datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=UTC)
    rows = [
        make_alert(time_collr=base + timedelta(days=i), time_cntrl=base + timedelta(days=i, seconds=1))
        for i in range(n)
    ]
    rows.append(make_alert(time_collr=base + timedelta(microseconds=1), user="é\u2028\x00 'quoted'"))
    return rows


def test_prune_archives_every_alert_by_day_and_import_restores_every_field(
    engine: Engine, migrated_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ingest(migrated_url, monkeypatch, *SAMPLE_FILES)
    store_batch(engine, _days_apart(3))
    before = _rows(engine)
    assert len(before) > 20
    archive = tmp_path / "archive"

    deleted = prune(engine, RetentionPolicy(alert_days=1, batch_rows=7, archive_dir=archive), now=FUTURE)

    assert deleted["alert"] == len(before)
    assert _rows(engine) == {}
    files = sorted(archive.iterdir())
    days = {r["time_collr"].astimezone(UTC).date() for r in before.values()}
    assert files == sorted(archive_path(archive, d) for d in days)
    assert archive_path(archive, datetime(2026, 3, 2).date()) in files  # 00:00:00.000001 is the next day
    for path in files:  # a plain gzip reader sees one JSON alert per line
        for line in gzip.decompress(path.read_bytes()).splitlines():
            assert set(json.loads(line)) == set(ALERT_COLUMNS)

    # a fresh store of the same kind gets every alert back, field for field
    with _fresh_store(migrated_url, tmp_path) as fresh_url:
        migrate.upgrade(fresh_url)
        output = _ingest(fresh_url, monkeypatch, *files)
        assert f"stored: {len(before)}" in " ".join(output.split())
        fresh = make_engine(fresh_url)
        try:
            assert _rows(fresh) == before
        finally:
            fresh.dispose()
        again = _ingest(fresh_url, monkeypatch, *files)
        assert f"already stored: {len(before)}" in " ".join(again.split())


@contextlib.contextmanager
def _fresh_store(like: str, tmp_path: Path) -> Iterator[str]:
    if like.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        with fresh_mariadb_database() as url:
            yield url


def test_an_alert_archived_twice_is_restored_and_replayed_once(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, migrated_url: str
) -> None:
    rows = _days_apart(2)
    store_batch(engine, rows)
    archive = tmp_path / "archive"
    append_alerts(archive, rows[:2])  # archived, then a crash before the delete committed
    prune(engine, RetentionPolicy(alert_days=1, archive_dir=archive), now=FUTURE)
    files = sorted(archive.iterdir())
    records = [r for p in files for r in read_archive(p)]
    assert len(records) == len(rows) + 2
    assert sorted(r["alert_uuid"] for r in unique_records(files)) == sorted(r["alert_uuid"] for r in rows)

    out = tmp_path / "replayed.jsonl"
    result = runner.invoke(app, ["replay", *map(str, files), "--out", str(out)])
    assert result.exit_code == 0, result.output
    replayed = [json.loads(line) for line in out.read_bytes().splitlines()]
    assert sorted(r["alert_uuid"] for r in replayed) == sorted(r["alert_uuid"] for r in rows)
    assert "archived duplicates skipped 2" in " ".join(result.output.split())
    by_uuid = {r["alert_uuid"]: r for r in rows}
    for record in replayed:
        stored = by_uuid[record["alert_uuid"]]
        assert record["user"] == stored["user"]
        assert datetime.fromisoformat(record["time_collr"]) == stored["time_collr"]

    output = _ingest(migrated_url, monkeypatch, *files)
    assert "stored: 3" in " ".join(output.split())
    assert len(_rows(engine)) == len(rows)


@pytest.mark.parametrize("chunk", [7, 1 << 20])
def test_a_member_cut_short_by_a_crash_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(archive_module, "_CHUNK", chunk)  # members across read boundaries too
    first, second = make_alert(), make_alert()
    append_alerts(tmp_path, [first])
    path = archive_path(tmp_path, first["time_collr"].date())
    whole = path.read_bytes()
    append_alerts(tmp_path, [make_alert()])
    path.write_bytes(path.read_bytes()[: len(whole) + 20])  # the second write died mid-way
    append_alerts(tmp_path, [second])  # its rows stayed stored and were archived again
    assert [r["alert_uuid"] for r in read_archive(path)] == [first["alert_uuid"], second["alert_uuid"]]
    path.write_bytes(whole + b"\x1f\x8b\x08garbage")  # cut short as the last write: the rest still reads
    assert [r["alert_uuid"] for r in read_archive(path)] == [first["alert_uuid"]]


def test_nothing_is_deleted_when_the_archive_cannot_be_written(engine: Engine, tmp_path: Path) -> None:
    store_batch(engine, _days_apart(2))
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    with pytest.raises(StorageError, match="not-a-directory"):
        prune(engine, RetentionPolicy(alert_days=1, archive_dir=blocked), now=FUTURE)
    assert len(_rows(engine)) == 3


def test_a_bad_archive_record_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "alerts-2026-01-01.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"alert_uuid": "x"}\n'))
    result = runner.invoke(app, ["replay", str(path)])
    assert result.exit_code == 2
    assert "alerts-2026-01-01.jsonl.gz: record 1 is not an archived alert" in result.output


def test_settings_turn_the_archive_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from alertmodel.settings import Settings

    monkeypatch.setenv("ALERTFLOW_DATA_DIR", str(tmp_path))
    assert Settings().retention().archive_dir is None
    monkeypatch.setenv("ALERTFLOW_ARCHIVE_ALERTS", "true")
    assert Settings().retention().archive_dir == tmp_path / "archive"
    monkeypatch.setenv("ALERTFLOW_ARCHIVE_DIR", str(tmp_path / "cold"))
    assert Settings().retention().archive_dir == tmp_path / "cold"


def test_db_prune_archives_with_the_settings_and_fails_cleanly_when_it_cannot(
    engine: Engine, migrated_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _days_apart(2)
    store_batch(engine, rows)
    monkeypatch.setenv("ALERTFLOW_DATABASE_URL", migrated_url)
    monkeypatch.setenv("ALERTFLOW_RETAIN_ALERTS_DAYS", "1")
    monkeypatch.setenv("ALERTFLOW_ARCHIVE_ALERTS", "true")
    blocked = tmp_path / "blocked"
    blocked.write_text("")
    monkeypatch.setenv("ALERTFLOW_ARCHIVE_DIR", str(blocked))
    failed = runner.invoke(app, ["db", "prune"])
    assert failed.exit_code == 1
    assert "error: cannot write the alert archive in" in failed.output
    assert len(_rows(engine)) == len(rows)

    monkeypatch.setenv("ALERTFLOW_ARCHIVE_DIR", str(tmp_path / "archive"))
    result = runner.invoke(app, ["db", "prune"])
    assert result.exit_code == 0, result.output
    assert f"alert: {len(rows)} deleted" in result.output
    assert f"archived in {tmp_path / 'archive'}" in " ".join(result.output.split())
    assert sorted(
        r["alert_uuid"] for r in unique_records(sorted((tmp_path / "archive").iterdir()))
    ) == sorted(r["alert_uuid"] for r in rows)


def test_an_alert_that_gets_an_incident_while_its_batch_is_archived_stays(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _days_apart(2)
    store_batch(engine, rows)
    real_append = archive_module.append_alerts

    def append_while_an_analyst_opens_an_incident(directory: Path, batch: list) -> dict:
        with engine.begin() as conn:  # another connection, committed before the delete
            conn.execute(
                Incident.__table__.insert(),
                [{"alert_uuid": rows[0]["alert_uuid"], "title": "t", "state": "new", "severity": 1}],
            )
        return real_append(directory, batch)

    monkeypatch.setattr("alertmodel.retention.append_alerts", append_while_an_analyst_opens_an_incident)
    deleted = prune(engine, RetentionPolicy(alert_days=1, archive_dir=tmp_path), now=FUTURE)
    assert deleted["alert"] == len(rows) - 1
    assert list(_rows(engine)) == [rows[0]["alert_uuid"]]
