"""Cost of the ingest IOC checks (ingest/ioc.py) next to the ingest core itself, in the same run.

Builds Suricata flow/dns/fileinfo observations with distinct addresses, names and hashes (cycled
from the recorded samples), runs them through IngestCore in batches of 1,000 (the baseline), then
through IocEnricher twice:
- `warm`: every value already cached (the steady state of a sensor repeating itself), CPU seconds;
- `cold`: every value new, looked up in a MISP-shaped `attributes` table of 20,000 rows on the
  local MariaDB (one query per batch, as `alertflow ingest --misp-block` does with a database URL),
  wall seconds, with 1 % of the values known to MISP.
Prints one JSON line per case: {"bench": "ioc_enricher", "case", "events_per_s",
"baseline_events_per_s", "ratio", ...}. `--quick` uses 20,000 events instead of 100,000.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from pathlib import Path

import orjson
import pymysql
import sqlalchemy as sa

from blocks.misp import MispServer
from ingest.core import IngestCore
from ingest.ioc import IocEnricher, TtlCache
from tasks.misp import ioc_lookup

SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "samples" / "suricata"
BATCH = 1000
SCHEMA = [
    "CREATE TABLE events (id INT PRIMARY KEY, info TEXT NOT NULL)",
    "CREATE TABLE attributes (id INT AUTO_INCREMENT PRIMARY KEY, event_id INT NOT NULL, category VARCHAR(255), "
    "type VARCHAR(100) NOT NULL, value1 TEXT NOT NULL, value2 TEXT NOT NULL, to_ids TINYINT(1) NOT NULL DEFAULT 1, "
    "comment TEXT, deleted TINYINT(1) NOT NULL DEFAULT 0, INDEX value1 (value1(255)), INDEX value2 (value2(255)))",
]


def templates() -> dict[str, dict]:
    found: dict[str, dict] = {}
    for path in sorted(SAMPLES.iterdir()):
        for line in path.read_bytes().splitlines():
            event = orjson.loads(line)
            kind = event.get("event_type")
            wanted = kind in ("flow", "dns", "fileinfo") and kind not in found
            if wanted and (kind != "fileinfo" or "md5" in event.get("fileinfo", {})):
                found[kind] = event
    return found


def events(n: int) -> list[bytes]:
    """`n` observation lines, each with its own address, domain or file hash."""
    base = templates()
    lines = []
    for i in range(n):
        kind = ("flow", "dns", "fileinfo")[i % 3]
        event = dict(base[kind])
        if kind == "flow":
            event["dest_ip"] = f"45.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
        elif kind == "dns":
            event["dns"] = {**event["dns"], "rrname": f"host{i}.bench.example"}
        else:
            event["fileinfo"] = {
                **event["fileinfo"],
                "md5": f"{i:032x}",
                "sha1": f"{i:040x}",
                "sha256": f"{i:064x}",
            }
        lines.append(orjson.dumps(event))
    return lines


def misp_database(values: list[str]) -> tuple[str, str]:
    name = f"alertflow_bench_{uuid.uuid4().hex[:8]}"
    admin = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="")
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
    admin.close()
    url = f"mysql+pymysql://root@127.0.0.1:3306/{name}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for ddl in SCHEMA:
            conn.execute(sa.text(ddl))
        conn.execute(sa.text("INSERT INTO events VALUES (1, 'bench campaign')"))
        rows = [{"t": "ip-dst", "v": f"203.0.{i >> 8 & 255}.{i & 255}"} for i in range(20_000 - len(values))]
        rows += [{"t": "md5", "v": v} for v in values]
        conn.execute(
            sa.text(
                "INSERT INTO attributes (event_id, category, type, value1, value2) VALUES (1, 'x', :t, :v, '')"
            ),
            rows,
        )
    engine.dispose()
    return url, name


def drop(name: str) -> None:
    admin = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="")
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20,000 events instead of 100,000")
    args = parser.parse_args()
    n = 20_000 if args.quick else 100_000
    lines = events(n)
    batches = [lines[i : i + BATCH] for i in range(0, n, BATCH)]

    core = IngestCore(node="bench")
    started = time.process_time()
    outputs = [core.process(batch, source="suricata") for batch in batches]
    core_s = time.process_time() - started
    baseline = n / core_s

    known = [f"{i:032x}" for i in range(2, n, 300)]  # fileinfo md5s, ~1 % of all values
    url, name = misp_database(known)
    misp = MispServer(url="https://misp.invalid/", api_key="bench-key-not-used", database_url=url)
    try:
        cold = IocEnricher(ioc_lookup(misp), cache=TtlCache(max_entries=4 * n))
        started = time.perf_counter()
        hits = sum(len(cold(out)) for out in outputs)
        cold_s = time.perf_counter() - started

        started = time.process_time()
        warm_hits = sum(len(cold(out)) for out in outputs)  # same enricher: every answer is cached now
        warm_s = time.process_time() - started
    finally:
        drop(name)

    common = {
        "bench": "ioc_enricher",
        "events": n,
        "baseline": "IngestCore.process, CPU s",
        "baseline_events_per_s": round(baseline),
    }
    print(
        json.dumps(
            {
                **common,
                "case": "warm_cache",
                "events_per_s": round(n / warm_s),
                "ratio": round((n / warm_s) / baseline, 3),
                "misp_alerts": warm_hits,
                "clock": "CPU s",
                "looked_up": cold.looked_up,
            }
        )
    )
    print(
        json.dumps(
            {
                **common,
                "case": "cold_cache_mariadb",
                "events_per_s": round(n / cold_s),
                "ratio": round((n / cold_s) / baseline, 3),
                "misp_alerts": hits,
                "clock": "wall s",
                "looked_up": cold.looked_up,
            }
        )
    )


if __name__ == "__main__":
    main()
