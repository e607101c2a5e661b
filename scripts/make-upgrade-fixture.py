#!/usr/bin/env python3
"""Make the upgrade fixtures: an alert store written by a released alertflow, on SQLite and MariaDB.

The release's code is taken with `git archive RELEASE` into a temporary directory and its own
CLI (`python -m alertflow`, with that directory first on the import path) creates the schema,
ingests real sensor samples, opens an incident and moves it on, imports response profiles and
loads a filter policy. Written to tests/fixtures/upgrade/:

  alertflow-<release>.sqlite        the SQLite store (compacted with VACUUM INTO)
  alertflow-<release>.mariadb.sql   mariadb-dump --single-transaction of the MariaDB store
  manifest-<release>-<kind>.json    every row of the tables the upgrade test checks, per store

Run from the repository with the project's virtualenv (MariaDB root on 127.0.0.1:3306, no password):
  .venv/bin/python scripts/make-upgrade-fixture.py [--release 70117da]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import uuid
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pymysql
from sqlalchemy import MetaData, create_engine, select, text

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "tests" / "fixtures" / "upgrade"
SAMPLES = (
    "tests/fixtures/samples/wazuh/wazuh-indexer-sample-alerts-fim-rootcheck.json",
    "tests/fixtures/samples/wazuh/wazuh-integratord-test-alert-5712.json",
    "tests/fixtures/samples/suricata/eve-legacy-suricata-verify.json",
    "tests/fixtures/samples/modsecurity/elastic-modsec-test-audit.log",
    "tests/fixtures/samples/falco/elastic-falco-alerts-test-nopreserve.log",
)
CHECKED_TABLES = (
    "alert",
    "incident",
    "incident_event",
    "response_profile",
    "response_group",
    "user_group",
    "category",
    "category_profile",
    "node",
    "filter_policy",
)
"""The tables whose rows the upgrade must keep; the manifest holds every row of each, by primary key."""


def jsonable(value: Any) -> Any:
    """A column value as JSON (the test turns the upgraded rows into the same form to compare)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode()}
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict | list):  # a JSON column on SQLite (MariaDB reads it back as text)
        return {"json": value}
    return value


def table_rows(url: str, tables: tuple[str, ...] = CHECKED_TABLES) -> dict[str, list[dict[str, Any]]]:
    """Every row of `tables`, ordered by primary key, as JSON-ready dicts (reflected, no project code)."""
    engine = create_engine(url)
    try:
        meta = MetaData()
        meta.reflect(engine, only=list(tables))
        rows: dict[str, list[dict[str, Any]]] = {}
        with engine.connect() as conn:
            for name in tables:
                table = meta.tables[name]
                order = list(table.primary_key.columns) or list(table.columns)
                result = conn.execute(select(table).order_by(*order)).mappings()
                rows[name] = [{k: jsonable(v) for k, v in r.items()} for r in result]
        return rows
    finally:
        engine.dispose()


def alembic_revision(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one())
    finally:
        engine.dispose()


def run_release(release_dir: Path, url: str, data_dir: Path, *args: str) -> str:
    """`alertflow ARGS` of the release (its code first on the import path); its stdout."""
    env = {
        **os.environ,
        "PYTHONPATH": str(release_dir),
        "ALERTFLOW_DATABASE_URL": url,
        "ALERTFLOW_DATA_DIR": str(data_dir),
        "ALERTFLOW_NODE": "local",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    env.pop("PREFECT_API_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "alertflow", *args],
        cwd=release_dir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(
            f"alertflow {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
    return done.stdout


def fill(release_dir: Path, url: str, data_dir: Path) -> None:
    """What an operator of the release did: schema, alerts, an incident with history, profiles, a policy."""
    run_release(release_dir, url, data_dir, "db", "upgrade")
    run_release(release_dir, url, data_dir, "ingest-file", *(str(release_dir / s) for s in SAMPLES))
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            uuids = list(
                conn.execute(
                    text("SELECT alert_uuid FROM alert ORDER BY severity DESC, alert_id LIMIT 2")
                ).scalars()
            )
    finally:
        engine.dispose()
    run_release(
        release_dir, url, data_dir, "incident", "open", uuids[0], "-m", "brute force from 10.0.0.5",
        "--assignee", "bob", "--by", "alice",
    )  # fmt: skip
    run_release(
        release_dir, url, data_dir, "incident", "state", "1", "in_progress", "-m", "looking", "--by", "bob"
    )
    run_release(
        release_dir, url, data_dir, "incident", "state", "1", "resolved", "-m", "host reimaged", "--by", "bob"
    )
    run_release(release_dir, url, data_dir, "incident", "open", uuids[1], "-m", "second", "--by", "alice")
    run_release(
        release_dir,
        url,
        data_dir,
        "profiles",
        "import",
        str(release_dir / "tests/fixtures/profiles/example.yaml"),
    )
    policy = release_dir / "ingest/policies/default.json"
    run_release(release_dir, url, data_dir, "policy", "load", str(policy), "--node", "local")
    run_release(release_dir, url, data_dir, "policy", "load", str(policy), "--node", "sensor-b")


def write_manifest(url: str, kind: str, release: str) -> None:
    manifest = {
        "release": release,
        "kind": kind,
        "alembic_revision": alembic_revision(url),
        "tables": table_rows(url),
    }
    path = OUT / f"manifest-{release}-{kind}.json"
    path.write_text(json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    counts = ", ".join(f"{t} {len(r)}" for t, r in manifest["tables"].items())
    print(f"{path.relative_to(REPO)}: {counts}")


def make_sqlite(release_dir: Path, work: Path, release: str) -> None:
    database = work / "store.db"
    url = f"sqlite:///{database}"
    fill(release_dir, url, work / "data-sqlite")
    target = OUT / f"alertflow-{release}.sqlite"
    target.unlink(missing_ok=True)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("VACUUM INTO ?", (str(target),))
    finally:
        engine.dispose()
    write_manifest(f"sqlite:///{target}", "sqlite", release)


def make_mariadb(release_dir: Path, work: Path, release: str, host: str, port: int) -> None:
    name = f"alertflow_fixture_{uuid.uuid4().hex[:8]}"
    admin = pymysql.connect(host=host, port=port, user="root", password="", autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    try:
        url = f"mysql+pymysql://root@{host}:{port}/{name}"
        fill(release_dir, url, work / "data-mariadb")
        dump = subprocess.run(
            ["mariadb-dump", "-h", host, "-P", str(port), "-u", "root", "--single-transaction",
             "--skip-dump-date", "--skip-comments", "--hex-blob", name],
            capture_output=True, check=True,
        )  # fmt: skip
        (OUT / f"alertflow-{release}.mariadb.sql").write_bytes(dump.stdout)
        write_manifest(url, "mariadb", release)
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--release", default="70117da", help="Commit of the release that writes the stores.")
    parser.add_argument("--mariadb-host", default="127.0.0.1")
    parser.add_argument("--mariadb-port", type=int, default=3306)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="alertflow-upgrade-fixture-") as tmp:
        work = Path(tmp)
        release_dir = work / "release"
        release_dir.mkdir()
        archive = work / "release.tar"
        subprocess.run(["git", "-C", str(REPO), "archive", "-o", str(archive), args.release], check=True)
        with tarfile.open(archive) as tar:
            tar.extractall(release_dir, filter="data")
        make_sqlite(release_dir, work, args.release)
        make_mariadb(release_dir, work, args.release, args.mariadb_host, args.mariadb_port)


if __name__ == "__main__":
    main()
