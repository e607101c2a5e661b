"""What the live-sensor tests share: a required tool, a one-shot `alertflow ingest-file` into a
fresh SQLite store, and the stored alerts as plain rows."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from alertmodel import Alert, migrate
from alertmodel.engine import make_engine
from ingest.policy import DEFAULT_POLICY_PATH

ALERT_COLUMNS = (
    "source",
    "event",
    "severity",
    "category",
    "description",
    "srcip",
    "srcport",
    "dstip",
    "dstport",
    "proto",
    "url",
    "agent",
    "info",
)


def required_tool(name: str, path: str | None = None) -> str:
    """The tool's path; the test fails (never skips) when `scripts/services.sh up` did not install it."""
    found = path if path and Path(path).exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed; run `bash scripts/services.sh up`", pytrace=False)
    return found


def new_store(tmp_path: Path) -> str:
    """The URL of a fresh, migrated SQLite alert store under `tmp_path`."""
    url = f"sqlite:///{tmp_path / 'alerts.db'}"
    migrate.upgrade(url)
    return url


def ingest_file(events: Path, source: str, tmp_path: Path) -> list[dict[str, Any]]:
    """Import `events` with `alertflow ingest-file` under the shipped policy; the stored alerts."""
    url = new_store(tmp_path)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "alertflow",
            "ingest-file",
            str(events),
            "--source",
            source,
            "--policy",
            str(DEFAULT_POLICY_PATH),
        ],
        env=cli_env(url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "dead-lettered: 0" in done.stderr, done.stderr
    return stored_alerts(url)


def stored_alerts(url: str) -> list[dict[str, Any]]:
    """The alerts in the store, in insertion order, as plain rows of ALERT_COLUMNS."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            table = Alert.__table__
            rows = conn.execute(select(*(table.c[c] for c in ALERT_COLUMNS)).order_by(table.c.alert_id))
            return [dict(r._mapping) for r in rows]
    finally:
        engine.dispose()


def cli_env(url: str) -> dict[str, str]:
    """Enough of the environment for the CLI to run on store `url`, with Prefect telemetry off."""
    keep = ("PATH", "PYTHONPATH", "HOME", "LANG", "TMPDIR", "PREFECT_HOME")
    return {k: os.environ[k] for k in keep if k in os.environ} | {
        "ALERTFLOW_DATABASE_URL": url,
        "ALERTFLOW_NODE": "node1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
