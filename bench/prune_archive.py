"""Cost of archiving what retention deletes: pruning with the archive against pruning without it.

Stores N alerts (default 50,000; `--quick` 10,000) in a SQLite store, spread over 10 days,
with raw events cycled from the recorded samples, copies the store, and prunes every alert
once with `archive_dir` set and once without (the baseline), in alternating order over two
rounds; the better time of each is reported with the archive's size on disk.
Prints one JSON line: {"bench": "prune_archive", "rows_per_s", "baseline_rows_per_s", "ratio", ...}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alertmodel import ALERT_COLUMNS, INDEF, migrate
from alertmodel.engine import make_engine
from alertmodel.repository import insert_alerts
from alertmodel.retention import RetentionPolicy, prune

SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "samples"
FUTURE = datetime(2100, 1, 1, tzinfo=UTC)


def rows(n: int) -> list[dict[str, Any]]:
    events = [
        line.decode()
        for source in ("wazuh", "suricata", "falco", "modsecurity")
        for path in sorted((SAMPLES / source).iterdir())
        for line in path.read_bytes().splitlines()
        if line.strip()
    ]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        row: dict[str, Any] = dict.fromkeys(ALERT_COLUMNS, INDEF)
        row.update(
            alert_uuid=str(uuid.uuid4()),
            severity=i % 4,
            score=0,
            srcport=1024 + i % 50000,
            dstport=443,
            status="processed",
            time_collr=start + timedelta(seconds=i * 864000 / n),
            time_cntrl=None,
            json_event=events[i % len(events)][:65536],
            srcip=f"10.0.{i % 256}.{i % 200}",
        )
        out.append(row)
    return out


def fill(url: str, data: list[dict[str, Any]]) -> None:
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        for i in range(0, len(data), 1000):
            with engine.begin() as conn:
                insert_alerts(conn, data[i : i + 1000])
    finally:
        engine.dispose()


def timed_prune(url: str, archive: Path | None) -> float:
    engine = make_engine(url)
    try:
        began = time.perf_counter()
        deleted = prune(engine, RetentionPolicy(alert_days=1, pause_s=0, archive_dir=archive), now=FUTURE)
        took = time.perf_counter() - began
    finally:
        engine.dispose()
    assert deleted["alert"] > 0
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--alerts", type=int, default=None)
    args = parser.parse_args()
    n = args.alerts or (10_000 if args.quick else 50_000)
    data = rows(n)
    with tempfile.TemporaryDirectory(prefix="bench-prune-") as tmp:
        root = Path(tmp)
        template = root / "template.db"
        fill(f"sqlite:///{template}", data)
        best = {"archive": float("inf"), "baseline": float("inf")}
        archive_bytes = 0
        for round_ in range(2):
            order = ("archive", "baseline") if round_ == 0 else ("baseline", "archive")
            for kind in order:
                store = root / f"{kind}-{round_}.db"
                shutil.copyfile(template, store)
                archive = root / f"archive-{round_}" if kind == "archive" else None
                best[kind] = min(best[kind], timed_prune(f"sqlite:///{store}", archive))
                if archive is not None:
                    archive_bytes = sum(p.stat().st_size for p in archive.iterdir())
                store.unlink()
        print(
            json.dumps(
                {
                    "bench": "prune_archive",
                    "alerts": n,
                    "rows_per_s": round(n / best["archive"]),
                    "baseline_rows_per_s": round(n / best["baseline"]),
                    "ratio": round(best["baseline"] / best["archive"], 3),
                    "archive_bytes": archive_bytes,
                    "store_bytes": template.stat().st_size,
                }
            )
        )


if __name__ == "__main__":
    main()
