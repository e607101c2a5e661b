"""Server time of the console's dashboard, alert search and alert history pages at large alert counts.

Stores N alerts (default 1,000,000; `--quick` 20,000) spread over the last 7 days, with raw
events cycled from the recorded samples, in SQLite and MariaDB (`--db` to pick one); serves
the API process (uvicorn on loopback, the console included), signs in, and times each page
over `--requests` requests after two warm-ups. The baseline, measured in the same run, is the
REST API's JSON route for the same data: `GET /api/v1/alerts?since=<window>` for the
dashboard, `GET /api/v1/alerts` for the search page, `GET /api/v1/alerts/{uuid}` for the
history page. `first_load_kb` is the page plus every asset it loads (stylesheet, htmx).
Prints one JSON line per page and database:
{"bench": "console", "db", "page", "p50_ms", "p99_ms", "first_load_kb", "alerts",
 "baseline", "baseline_p50_ms", "ratio"}.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alertflow.api import accounts
from alertflow.api.app import create_app
from alertmodel import ALERT_COLUMNS, INDEF, migrate
from alertmodel.engine import make_engine
from alertmodel.repository import insert_alerts
from tests.alertflow.api.live import serve
from tests.conftest import fresh_mariadb_database

SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "samples"
SOURCES = ("Suricata", "Wazuh", "Falco", "ModSecurity")
PASSWORD = "bench password 1"  # noqa: S105 (a throwaway user in a temp store)
BATCH = 5000


def events() -> list[str]:
    """Recorded sample events of at most 4 KB, as the raw events of the bench's alerts."""
    return [
        line.decode()
        for source in ("wazuh", "suricata", "falco", "modsecurity")
        for path in sorted((SAMPLES / source).iterdir())
        for line in path.read_bytes().splitlines()
        if line.strip() and len(line) <= 4096
    ]


def batches(n: int, now: datetime) -> Iterator[list[dict[str, Any]]]:
    """N alerts over the 7 days before `now`, in insert batches."""
    raw = events()
    rng = random.Random(7)
    categories = [f"category-{k}" for k in range(40)]
    start = now - timedelta(days=7)
    batch: list[dict[str, Any]] = []
    for i in range(n):
        row: dict[str, Any] = dict.fromkeys(ALERT_COLUMNS, INDEF)
        row.update(
            alert_uuid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            ref_id="bench",
            source=SOURCES[i % 4],
            event=str(2_100_000 + i % 500),
            severity=rng.choice((0, 1, 1, 1, 2, 2, 3)),
            score=0,
            category=rng.choice(categories),
            description=f"bench alert {i % 1000}",
            srcip=f"10.{i % 7}.{(i // 7) % 256}.{i % 200}",
            dstip="192.168.1.10",
            agent=f"agent-{i % 50}",
            srcport=1024 + i % 50000,
            dstport=443,
            status="processed",
            time_collr=start + timedelta(seconds=i * 7 * 86400 / n),
            time_cntrl=None,
            json_event=raw[i % len(raw)],
        )
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def fill(url: str, n: int, now: datetime) -> None:
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        for batch in batches(n, now):
            with engine.begin() as conn:
                insert_alerts(conn, batch)
        accounts.add_user(engine, "bench", role="analyst", password=PASSWORD, tenants=[], actor="bench")
    finally:
        engine.dispose()


@contextmanager
def store(db: str, directory: Path) -> Iterator[str]:
    if db == "sqlite":
        yield f"sqlite:///{directory / 'console.db'}"
        return
    with fresh_mariadb_database() as url:
        yield url


def timed(client: httpx.Client, paths: list[str], requests: int) -> list[float]:
    for path in paths[:2]:  # warm-up
        assert client.get(path).status_code == 200, path
    took = []
    for i in range(requests):
        path = paths[i % len(paths)]
        began = time.perf_counter()
        response = client.get(path)
        took.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return took


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 2 else values[0]


def first_load_kb(client: httpx.Client, path: str) -> float:
    page = client.get(path)
    total = len(page.content)
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text):
        total += len(client.get(asset).content)
    return round(total / 1024, 1)


def bench(db: str, n: int, requests: int) -> None:
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp, store(db, Path(tmp)) as url:
        fill(url, n, now)
        engine = make_engine(url)
        try:
            with serve(create_app(engine)) as base_url:
                browser = httpx.Client(base_url=base_url, timeout=120, follow_redirects=False)
                token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/login").text)
                assert token is not None
                signed_in = browser.post(
                    "/login",
                    data={
                        "csrf_token": token.group(1),
                        "username": "bench",
                        "password": PASSWORD,
                        "next": "/",
                    },
                )
                assert signed_in.status_code == 303, signed_in.text
                api = httpx.Client(base_url=base_url, timeout=120, auth=("bench", PASSWORD))
                page = api.get("/api/v1/alerts", params={"limit": 500}).json()["items"]
                uuids = [a["alert_uuid"] for a in page[:: max(1, len(page) // 20)]]
                since = (now - timedelta(hours=24)).isoformat()
                pages = {
                    "dashboard": (["/"], [f"/api/v1/alerts?{httpx.QueryParams({'since': since})}"]),
                    "search": (["/alerts"], ["/api/v1/alerts"]),
                    "history": ([f"/alerts/{u}" for u in uuids], [f"/api/v1/alerts/{u}" for u in uuids]),
                }
                for name, (console_paths, baseline_paths) in pages.items():
                    took = timed(browser, console_paths, requests)
                    baseline = timed(api, baseline_paths, requests)
                    p50, base50 = statistics.median(took), statistics.median(baseline)
                    line = {
                        "bench": "console",
                        "db": db,
                        "page": name,
                        "p50_ms": round(p50, 1),
                        "p99_ms": round(p99(took), 1),
                        "first_load_kb": first_load_kb(browser, console_paths[0]),
                        "alerts": n,
                        "baseline": baseline_paths[0].split("?")[0].replace(uuids[0], "{uuid}"),
                        "baseline_p50_ms": round(base50, 1),
                        "ratio": round(p50 / base50, 2),
                    }
                    print(json.dumps(line), flush=True)
        finally:
            engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--alerts", type=int, default=None)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--db", choices=["sqlite", "mariadb", "both"], default="both")
    args = parser.parse_args()
    n = args.alerts or (20_000 if args.quick else 1_000_000)
    for db in ("sqlite", "mariadb") if args.db == "both" else (args.db,):
        bench(db, n, args.requests)


if __name__ == "__main__":
    main()
