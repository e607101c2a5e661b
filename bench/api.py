"""Latency of the REST API at volume, over HTTP, against the same queries run straight through SQLAlchemy Core.

Fills a fresh SQLite store and a fresh MariaDB database with N alerts (default 1,000,000;
`--alerts N` for a quick run) made by this bench's own generator over the shapes of the
recorded samples (every Wazuh, Suricata, Falco and ModSecurity sample alert, as the ingest
core normalizes it, with its raw event): new uuids, source addresses drawn from a skewed pool
of 5,000 (host alerts keep `indef`), three tenants, a few statuses, `time_collr` spread over
the last 30 days. The fill is bulk DB-API executemany in the migrated schema (every index), and
the dashboard rollups are counted from the same rows (`alertmodel.rollup`) and stored too.

Then `alertflow api` serves each store on a loopback port (its own process, as deployed) and
each query is timed over HTTP with a personal API token (bearer), after a warm-up:
  srcip         first page of /api/v1/alerts?srcip=A (the most frequent source address)
  severity_24h  first page of ?severity=3&since=<24 h ago>
  category      first page of ?category=C (a category of a few percent of the alerts)
  text          first page of ?q=W (a word of a few percent of the descriptions)
  alert         /api/v1/alerts/{uuid} of a random stored alert
  dashboard_24h /api/v1/dashboard?window=24h (and dashboard_7d: window=7d)
  stix          the connector's query `(a.dstIp = A OR a.srcIp = A) AND a.timeCollr BETWEEN <24 h>`
`direct` runs the same statement through SQLAlchemy Core on a connection of the bench (rows
fetched, no HTTP); for the dashboards, `naive` is the plain GROUP BYs over the alert table
(`alertflow.api.dashboard.scan`, NAIVE_REPEAT times after one warm-up: each takes seconds).
The HTTP floor (an authenticated GET /api/v1/health: sign-in and SELECT 1) goes to stderr,
for context: it bounds the ratio of sub-millisecond queries. Prints one JSON line per
database and query:
  {"bench": "api", "db", "query", "p50_ms", "p99_ms", "direct_p50_ms", "ratio"} (+ "naive_p50_ms").
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pymysql
from sqlalchemy import Engine, func, select

from alertflow.api import accounts, alert_queries, dashboard
from alertflow.api.accounts import Principal
from alertflow.api.alert_schemas import AlertSearch
from alertflow.api.routes.stix import search_statement
from alertflow.api.stix_query import parse
from alertflow.up.prefect_server import free_port
from alertmodel import ALERT_COLUMNS, Alert, migrate, rollup
from alertmodel.engine import make_engine
from ingest.core import IngestCore

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "tests" / "fixtures" / "samples"
MARIADB = ("127.0.0.1", 3306)
TENANTS = (("tenant-a", 6), ("tenant-b", 3), ("tenant-c", 1))
STATUSES = (("processed", 95), ("modified", 4), ("incident", 1))
DAYS = 30
CHUNK = 20_000
NAIVE_REPEAT = 3


def templates() -> list[dict[str, Any]]:
    """Every sample alert as the ingest core normalizes it."""
    core = IngestCore()
    alerts = []
    for source in ("wazuh", "suricata", "falco", "modsecurity"):
        for path in sorted((SAMPLES / source).iterdir()):
            alerts += core.process(path.read_bytes().splitlines(), origin=str(path)).alerts
    return alerts


class Generator:
    """Alerts over the samples' shapes; seeded, so both stores get the same alerts."""

    def __init__(self, n: int, now: datetime, seed: int = 1) -> None:
        self.n = n
        self.now = now
        self.seed = seed
        self.templates = templates()
        rng = random.Random(seed)
        self.pool = [
            f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            for _ in range(5000)
        ]
        self.dst_pool = [f"10.0.{i // 250}.{i % 250 + 1}" for i in range(500)]

    def rows(self, as_text: bool) -> Iterator[list[tuple[Any, ...]]]:
        """Driver tuples in ALERT_COLUMNS order, CHUNK at a time (datetimes naive UTC, text for SQLite)."""
        rng = random.Random(self.seed)
        at = {name: i for i, name in enumerate(ALERT_COLUMNS)}
        bases = [[t[c] for c in ALERT_COLUMNS] for t in self.templates]
        tenants = [t for t, w in TENANTS for _ in range(w)]
        statuses = [s for s, w in STATUSES for _ in range(w)]
        span = DAYS * 86400
        chunk: list[tuple[Any, ...]] = []
        for _ in range(self.n):
            row = list(rng.choice(bases))
            row[at["alert_uuid"]] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            if row[at["srcip"]] != "indef":
                row[at["srcip"]] = self.pool[int(len(self.pool) * rng.random() ** 4)]
            if row[at["dstip"]] != "indef":
                row[at["dstip"]] = self.dst_pool[int(len(self.dst_pool) * rng.random() ** 2)]
            row[at["ref_id"]] = rng.choice(tenants)
            row[at["status"]] = rng.choice(statuses)
            when = (self.now - timedelta(seconds=rng.random() * span)).replace(tzinfo=None)
            row[at["time_collr"]] = when.isoformat(" ", "microseconds") if as_text else when
            row[at["time_cntrl"]] = None
            chunk.append(tuple(row))
            if len(chunk) == CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


def fresh_store(db: str, scratch: Path, made: list[str]) -> str:
    if db == "sqlite":
        url = f"sqlite:///{scratch / 'api.db'}"
    else:
        name = f"alertflow_bench_{uuid.uuid4().hex[:10]}"
        with pymysql.connect(host=MARIADB[0], port=MARIADB[1], user="root", password="") as conn:
            conn.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        made.append(name)
        url = f"mysql+pymysql://root@{MARIADB[0]}:{MARIADB[1]}/{name}"
    migrate.upgrade(url)
    return url


def drop_databases(made: list[str]) -> None:
    """Drop the MariaDB databases `fresh_store` made."""
    if made:
        with pymysql.connect(host=MARIADB[0], port=MARIADB[1], user="root", password="") as conn:
            for name in made:
                conn.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")


def load_data(cur: Any, chunk: list[tuple[Any, ...]], scratch: Path) -> None:
    """MariaDB's bulk path: the chunk as a tab-separated file, then LOAD DATA LOCAL INFILE."""
    path = scratch / "chunk.tsv"
    escaped: dict[Any, str] = {}  # most values repeat (the templates' texts): escape each once

    def field(value: Any) -> str:
        out = escaped.get(value)
        if out is None:
            if value is None:
                out = "\\N"
            elif isinstance(value, datetime):
                out = value.isoformat(" ", "microseconds")
            else:
                out = str(value).translate(_TSV_ESCAPES)
            if len(escaped) < 100_000:
                escaped[value] = out
        return out

    with path.open("w", encoding="utf-8") as fh:
        fh.writelines("\t".join(map(field, row)) + "\n" for row in chunk)
    columns = ", ".join(f"`{c}`" for c in ALERT_COLUMNS)
    cur.execute(
        f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE alert CHARACTER SET utf8mb4 "
        f"FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({columns})"
    )


_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})


def bench_engine(url: str) -> Engine:
    """The bench's own engine (MariaDB: LOAD DATA LOCAL allowed, for the fill)."""
    return (
        make_engine(url, connect_args={"local_infile": True}) if url.startswith("mysql") else make_engine(url)
    )


def fill(engine: Engine, gen: Generator, scratch: Path) -> tuple[float, list[str]]:
    """Bulk-insert the alerts and their rollups; (seconds, a sample of stored uuids)."""
    sqlite = engine.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    quote = engine.dialect.identifier_preparer.quote
    sql = f"INSERT INTO alert ({', '.join(quote(c) for c in ALERT_COLUMNS)}) VALUES ({', '.join(mark for _ in ALERT_COLUMNS)})"  # noqa: S608
    counts: Counter[rollup.RollupKey] = Counter()
    uuids: list[str] = []
    at_uuid = ALERT_COLUMNS.index("alert_uuid")
    filled = 0
    started = time.perf_counter()
    # secondary indexes are built once after the fill (sorted), not row by row: the schema ends the same
    indexes = list(Alert.__table__.indexes)
    with engine.begin() as conn:
        for index in indexes:
            index.drop(conn)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if sqlite:
            cur.execute("PRAGMA synchronous=OFF")  # a bench fill, not an acknowledged delivery
        for chunk in gen.rows(as_text=sqlite):
            if sqlite:
                cur.executemany(sql, chunk)
            else:
                load_data(cur, chunk, scratch)
            raw.commit()
            counts.update(rollup.count_rows(chunk))
            uuids += [r[at_uuid] for r in chunk[:: max(1, len(chunk) // 50)]]
            filled += len(chunk)
            print(
                f"  {engine.dialect.name}: {filled} alerts, {time.perf_counter() - started:.0f} s",
                file=sys.stderr,
            )
        cur.close()
    finally:
        raw.close()
    with engine.begin() as conn:
        for index in indexes:
            index.create(conn)
    print(f"  {engine.dialect.name}: indexed after {time.perf_counter() - started:.1f} s", file=sys.stderr)
    with engine.begin() as conn:
        items = list(counts.items())
        for i in range(0, len(items), 50_000):
            rollup.apply(conn, dict(items[i : i + 50_000]))
    print(file=sys.stderr)
    return time.perf_counter() - started, uuids


def serve(url: str) -> tuple[subprocess.Popen[bytes], str]:
    """`alertflow api` on a free loopback port; (process, base URL) once it answers."""
    port = free_port()
    env = {**os.environ, "ALERTFLOW_DATABASE_URL": url, "DO_NOT_TRACK": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "alertflow", "api", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(base + "/api/v1/health", timeout=1)
            return proc, base
        except httpx.TransportError:
            if proc.poll() is not None:
                raise SystemExit(f"alertflow api exited {proc.returncode}") from None
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("alertflow api did not start")


def timed(call: Callable[[int], Any], repeat: int, warmup: int = 5) -> list[float]:
    for i in range(warmup):
        call(i)
    times = []
    for i in range(repeat):
        started = time.perf_counter()
        call(i)
        times.append((time.perf_counter() - started) * 1000)
    return times


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def most_common(engine: Engine, column: str, skip: set[str], rank: int = 0) -> str:
    with engine.connect() as conn:
        col = alert_queries.c[column]
        rows = conn.execute(
            select(col, func.count()).group_by(col).order_by(func.count().desc()).limit(50)
        ).all()
    values = [r[0] for r in rows if r[0] not in skip]
    return values[min(rank, len(values) - 1)]


def text_word(gen: Generator) -> str:
    """A word of one description, in a few percent of the alerts (a middle-sized template)."""
    counts = Counter(t["description"] for t in gen.templates if t["description"] != "indef")
    description = sorted(counts, key=lambda d: (-counts[d], d))[len(counts) // 4]
    words = [w for w in description.split() if len(w) >= 5 and w.isalpha()]
    return (words or description.split())[0].lower()


def run_db(db: str, gen: Generator, repeat: int, scratch: Path, made: list[str]) -> None:
    url = fresh_store(db, scratch, made)
    engine = bench_engine(url)
    fill_s, uuids = fill(engine, gen, scratch)
    print(f"  {db}: filled {gen.n} alerts with rollups in {fill_s:.1f} s", file=sys.stderr)
    accounts.add_user(
        engine, "bench", role="viewer", password=secrets.token_urlsafe(16), tenants=[], actor="bench"
    )
    token = accounts.create_token(engine, "bench", expires_in=timedelta(days=1), actor="bench").secret
    principal = Principal("bench", "viewer", ())
    srcip = most_common(engine, "srcip", {"indef", ""})
    category = most_common(engine, "category", {"indef", ""}, rank=5)
    word = text_word(gen)
    now = datetime.now(UTC)
    day_ago = (now - timedelta(hours=24)).isoformat()
    stix_query = (
        f"SELECT a FROM Alert a WHERE (a.dstIp = '{srcip}' OR a.srcIp = '{srcip}') AND a.timeCollr BETWEEN "  # noqa: S608
        f"'{(now - timedelta(hours=24)):%Y-%m-%d %H:%M:%S.000}' AND '{now:%Y-%m-%d %H:%M:%S.000}'"
    )
    searches = {
        "srcip": {"srcip": srcip},
        "severity_24h": {"severity": [3], "since": day_ago},
        "category": {"category": category},
        "text": {"q": word},
    }
    print(f"  {db}: srcip {srcip}, category {category[:40]!r}, text {word!r}", file=sys.stderr)
    proc, base = serve(url)
    client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    conn = engine.connect()
    try:

        def http(path: str, params: dict[str, Any] | None = None) -> Callable[[int], Any]:
            def call(_i: int) -> Any:
                response = client.get(path, params=params)
                response.raise_for_status()
                return response.content

            return call

        def direct_search(params: dict[str, Any]) -> Callable[[int], Any]:
            search = AlertSearch.model_validate(params)
            statement = (
                select(*alert_queries.SUMMARY_COLUMNS)
                .where(alert_queries.visible(principal), *alert_queries.where(search))
                .order_by(alert_queries.c.time_collr.desc(), alert_queries.c.alert_id.desc())
                .limit(search.limit + 1)
            )
            return lambda _i: conn.execute(statement).all()

        cases: dict[str, tuple[Callable[[int], Any], Callable[[int], Any], Callable[[int], Any] | None]] = {}
        for name, params in searches.items():
            cases[name] = (http("/api/v1/alerts", params), direct_search(params), None)
        cases["alert"] = (
            lambda i: http(f"/api/v1/alerts/{uuids[i % len(uuids)]}")(i),
            lambda i: conn.execute(
                select(alert_queries.ALERTS).where(
                    alert_queries.c.alert_uuid == uuids[i % len(uuids)], alert_queries.visible(principal)
                )
            ).first(),
            None,
        )
        for name, window in (("dashboard_24h", timedelta(hours=24)), ("dashboard_7d", timedelta(days=7))):

            def window_of(span: timedelta = window) -> tuple[datetime, datetime]:
                end = datetime.now(UTC)
                return dashboard.align(end - span, end)

            cases[name] = (
                http("/api/v1/dashboard", {"window": f"{int(window.total_seconds() // 3600)}h"}),
                lambda _i, w=window_of: dashboard.read(conn, *w(), None, 10),
                lambda _i, w=window_of: dashboard.scan(conn, *w(), None, 10),
            )
        stix_statement = search_statement(
            conn.dialect.name, alert_queries.visible(principal), parse(stix_query)
        )
        cases["stix"] = (
            http("/alertflex-ctrl/rest/stix-alerts/search", {"query": stix_query}),
            lambda _i: conn.execute(stix_statement).scalars().all(),
            None,
        )
        floor_ms = timed(http("/api/v1/health"), repeat)
        print(
            f"  {db}: HTTP floor (GET /api/v1/health: sign-in and SELECT 1) p50 "
            f"{statistics.median(floor_ms):.2f} ms",
            file=sys.stderr,
        )
        for name, (api_call, direct_call, naive_call) in cases.items():
            print(f"  {db}: {name}", file=sys.stderr, flush=True)
            api_ms = timed(api_call, repeat)
            direct_ms = timed(direct_call, repeat)
            line: dict[str, Any] = {
                "bench": "api",
                "db": db,
                "query": name,
                "p50_ms": round(statistics.median(api_ms), 2),
                "p99_ms": round(p(api_ms, 0.99), 2),
                "direct_p50_ms": round(statistics.median(direct_ms), 2),
                "ratio": round(statistics.median(api_ms) / statistics.median(direct_ms), 2),
            }
            if naive_call is not None:
                # the scans take seconds each at 1,000,000 alerts (tens on MariaDB for 7 days): a few suffice
                naive_ms = timed(naive_call, NAIVE_REPEAT, warmup=1)
                line["naive_p50_ms"] = round(statistics.median(naive_ms), 2)
            print(json.dumps(line), flush=True)
    finally:
        client.close()
        conn.close()
        proc.terminate()
        proc.wait(30)
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=1_000_000, help="Alerts per store (default 1,000,000).")
    parser.add_argument("--repeat", type=int, default=200, help="Timed requests per query.")
    parser.add_argument(
        "--db", choices=["sqlite", "mariadb"], action="append", help="Only this store (repeatable)."
    )
    args = parser.parse_args()
    gen = Generator(args.alerts, datetime.now(UTC))
    made: list[str] = []
    with tempfile.TemporaryDirectory(prefix="alertflow-bench-api-") as tmp:
        try:
            for db in args.db or ["sqlite", "mariadb"]:
                run_db(db, gen, args.repeat, Path(tmp), made)
        finally:
            drop_databases(made)


if __name__ == "__main__":
    main()
