"""The HTTP ingest endpoint on a full disk: a clean 503 at once, no ack, and everything stored
once when space comes back. The alert store lies on a small tmpfs mounted for the test (root)."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from alertflow.up.prefect_server import free_port
from alertmodel import migrate
from alertmodel.engine import make_engine
from ingest.core import IngestCore
from ingest.sources.http import HttpSource
from ingest.worker import Worker
from tests.ingest.events import count_alerts, suricata_alerts

pytestmark = pytest.mark.integration
TOKEN = "k3hDqW1nZr8vYbJ0sXo2LmT5uAe9gFcP4iN7yQwE6Rd"  # the shape of secrets.token_urlsafe(32)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "store"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(directory: Path) -> Path:
    """Write a file until the file system has no byte left; the file."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as f:
        for size in (1 << 16, 512):
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * size)
    return filler


def _post(url: str, body: bytes) -> httpx.Response:
    return httpx.post(url, content=body, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)


def test_a_full_disk_gets_503_at_once_and_everything_is_stored_once_when_space_returns(
    small_disk: Path,
) -> None:
    url_db = f"sqlite:///{small_disk / 'alertflow.db'}"
    migrate.upgrade(url_db)
    engine = make_engine(url_db)
    port = free_port()
    source = HttpSource("127.0.0.1", port, token=SecretStr(TOKEN), commit_timeout_s=3)
    worker = Worker(engine, IngestCore(), [source], batch_wait_s=0.05, retry_max_s=0.5)
    worker.start()
    url = f"http://127.0.0.1:{port}/ingest"
    try:
        assert _post(url, b"\n".join(suricata_alerts(5, "before"))).status_code == 202
        filler = fill(small_disk)
        body = b"\n".join(suricata_alerts(2000, "while-full")) + b"\n"
        first = _post(url, body)  # queued, never stored while the disk is full: not acknowledged
        assert first.status_code == 503, first.text
        started = time.monotonic()
        refused = _post(url, body)
        assert refused.status_code == 503, refused.text
        assert time.monotonic() - started < 2  # answered at once, not after the commit timeout
        assert refused.headers["retry-after"] == "1"
        assert "does not accept writes" in refused.json()["error"]
        filler.unlink()
        deadline = time.monotonic() + 60
        while (answer := _post(url, body)).status_code != 202:
            assert answer.status_code == 503, answer.text
            assert time.monotonic() < deadline, "ingest did not resume once space returned"
            time.sleep(0.5)
        assert answer.json() == {"stored_alerts": 2000}
        assert count_alerts(engine) == (2005, 2005)  # every alert once
    finally:
        worker.request_stop()
        assert worker.wait(60)
        engine.dispose()
    with contextlib.closing(sqlite3.connect(small_disk / "alertflow.db")) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
