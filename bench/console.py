"""Server time of the console's dashboard, alert search and alert history pages at large alert counts.

The data is bench/api.py's: its generator (alerts over the recorded samples' shapes, three
tenants, 30 days) and its bulk fill with the dashboard rollups, in a fresh SQLite store and a
fresh MariaDB database (`--db` to pick one; `--alerts N`, default 1,000,000). `alertflow api`
serves each store in its own process, as deployed; the bench signs in to the console as an
analyst bound to no tenant and times each page over `--requests` requests after warm-ups:
  dashboard  /          (the user's window, 24 h: totals, charts, incidents and health)
  search     /alerts    (the first page, newest first)
  history    /alerts/{uuid} of stored alerts, in turn
`first_load_kb` is what a first visit transfers: the page and every asset it loads. Prints
one line per database and page:
  {"bench": "console", "db", "page", "p50_ms", "p99_ms", "first_load_kb"}
The baseline, measured in the same run on the same server, is the REST API's JSON for the same
data (`/api/v1/dashboard?window=24h`, `/api/v1/alerts`, `/api/v1/alerts/{uuid}`); it goes to
stderr with the ratio, with the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import statistics
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alertflow.api import accounts
from bench.api import Generator, bench_engine, drop_databases, fill, fresh_store, p, serve, timed


def first_load_kb(client: httpx.Client, path: str) -> float:
    """The page and every asset it loads, in KB (as a first visit transfers them, uncompressed)."""
    page = client.get(path)
    total = len(page.content)
    for asset in sorted(set(re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text))):
        total += len(client.get(asset).content)
    return round(total / 1024, 1)


def signed_in(base: str, user: str, password: str) -> httpx.Client:
    """A client holding a console session (the sign-in form, as a browser posts it)."""
    client = httpx.Client(base_url=base, timeout=120, follow_redirects=False)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token is not None, "the sign-in page has no CSRF token"
    response = client.post(
        "/login", data={"csrf_token": token.group(1), "username": user, "password": password, "next": "/"}
    )
    assert response.status_code == 303, response.text
    return client


def run_db(db: str, gen: Generator, requests: int, scratch: Path, made: list[str]) -> None:
    url = fresh_store(db, scratch, made)
    engine = bench_engine(url)
    fill_s, uuids = fill(engine, gen, scratch)
    print(f"  {db}: filled {gen.n} alerts with rollups in {fill_s:.1f} s", file=sys.stderr)
    password = secrets.token_urlsafe(16)
    accounts.add_user(engine, "bench", role="analyst", password=password, tenants=[], actor="bench")
    token = accounts.create_token(engine, "bench", expires_in=None, actor="bench").secret
    engine.dispose()
    proc, base = serve(url)
    console = signed_in(base, "bench", password)
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120)
    try:

        def get(client: httpx.Client, paths: list[str]) -> Callable[[int], Any]:
            def call(i: int) -> Any:
                response = client.get(paths[i % len(paths)])
                assert response.status_code == 200, (paths[i % len(paths)], response.status_code)
                return response.content

            return call

        history = [f"/alerts/{u}" for u in uuids[:: max(1, len(uuids) // 50)]]
        pages = {
            "dashboard": (["/"], ["/api/v1/dashboard?window=24h"]),
            "search": (["/alerts"], ["/api/v1/alerts"]),
            "history": (history, ["/api/v1" + h for h in history]),
        }
        for name, (console_paths, api_paths) in pages.items():
            took = timed(get(console, console_paths), requests)
            baseline = timed(get(api, api_paths), requests)
            line = {
                "bench": "console",
                "db": db,
                "page": name,
                "p50_ms": round(statistics.median(took), 1),
                "p99_ms": round(p(took, 0.99), 1),
                "first_load_kb": first_load_kb(console, console_paths[0]),
            }
            print(json.dumps(line), flush=True)
            print(
                f"  {db} {name}: baseline {api_paths[0].split('?')[0].replace(uuids[0], '{uuid}')} "
                f"p50 {statistics.median(baseline):.1f} ms, ratio {statistics.median(took) / statistics.median(baseline):.2f}",
                file=sys.stderr,
            )
    finally:
        console.close()
        api.close()
        proc.terminate()
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=1_000_000, help="Alerts per store (default 1,000,000).")
    parser.add_argument("--requests", type=int, default=100, help="Timed requests per page.")
    parser.add_argument(
        "--db", choices=["sqlite", "mariadb"], action="append", help="Only this store (repeatable)."
    )
    args = parser.parse_args()
    print(f"  load average before: {os.getloadavg()}", file=sys.stderr)
    gen = Generator(args.alerts, datetime.now(UTC))
    made: list[str] = []
    with tempfile.TemporaryDirectory(prefix="alertflow-bench-console-") as tmp:
        try:
            for db in args.db or ["sqlite", "mariadb"]:
                run_db(db, gen, args.requests, Path(tmp), made)
        finally:
            drop_databases(made)
    print(f"  load average after: {os.getloadavg()}", file=sys.stderr)


if __name__ == "__main__":
    main()
