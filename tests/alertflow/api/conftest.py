"""A live API per database kind (module scope): a migrated store, users of every role and two tenants."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from alertflow.api import accounts
from alertflow.api.app import create_app
from alertflow.up.prefect_address import PrefectAddress
from alertflow.up.prefect_server import LocalPrefectServer
from alertmodel import migrate
from alertmodel.engine import make_engine
from tests.conftest import fresh_mariadb_database

from .live import serve

SAMPLES = Path(__file__).parents[2] / "fixtures" / "samples"
PASSWORD = "correct horse battery"
TENANT_A, TENANT_B = "tenant-a", "tenant-b"
TENANT_SAMPLES = {
    TENANT_A: ["suricata/eve-7.0.10-alerts.json", "suricata/eve-legacy-suricata-verify.json"],
    TENANT_B: [
        "wazuh/wazuh-indexer-sample-alerts-fim-rootcheck.json",
        "falco/elastic-falco_alerts-test-falco.log",
    ],
}
USERS = {
    # name: (role, tenants)
    "admin": ("admin", []),
    "analyst": ("analyst", []),
    "viewer": ("viewer", []),
    "analyst-a": ("analyst", [TENANT_A]),
    "viewer-b": ("viewer", [TENANT_B]),
}


@dataclass
class LiveApi:
    """A running API: its base URL, the engine of its store, and a client per user."""

    base_url: str
    engine: Engine
    url: str
    app: FastAPI

    def client(self, user: str | None) -> httpx.Client:
        auth = (user, PASSWORD) if user else None
        return httpx.Client(base_url=self.base_url, auth=auth, timeout=30)


@pytest.fixture(scope="module", params=["sqlite", "mariadb"])
def store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated store of each kind with the users of USERS and ingested alerts of two tenants."""
    directory = Path(tmp_path_factory.mktemp("api"))
    if request.param == "sqlite":
        url = f"sqlite:///{directory / 'alertflow.db'}"
        _prepare(url, directory)
        yield url
        return
    with fresh_mariadb_database() as url:
        _prepare(url, directory)
        yield url


def _prepare(url: str, directory: Path) -> None:
    migrate.upgrade(url)
    _add_users(url)
    _ingest(url, directory)


def _ingest(url: str, directory: Path) -> None:
    """Alerts of two tenants through the real ingest path (`alertflow ingest-file` with a policy per tenant)."""
    for tenant, samples in TENANT_SAMPLES.items():
        policy = directory / f"{tenant}.json"
        policy.write_text(json.dumps({"ref_id": tenant}))
        env = {**os.environ, "ALERTFLOW_DATABASE_URL": url, "DO_NOT_TRACK": "1"}
        files = [str(SAMPLES / s) for s in samples]
        subprocess.run(
            [sys.executable, "-m", "alertflow", "ingest-file", "--policy", str(policy), *files],
            env=env,
            check=True,
            capture_output=True,
            timeout=300,
        )


def _add_users(url: str) -> None:
    engine = make_engine(url)
    for name, (role, tenants) in USERS.items():
        accounts.add_user(engine, name, role=role, password=PASSWORD, tenants=tenants, actor="setup")
    engine.dispose()


@pytest.fixture(scope="module")
def live_api(store_url: str, prefect_server: LocalPrefectServer) -> Iterator[LiveApi]:
    """The API on `store_url`, starting playbooks on and loading blocks from the test Prefect server."""
    engine = make_engine(store_url)
    prefect = PrefectAddress(prefect_server.api_url, None, "the test Prefect server")
    app = create_app(engine, prefect_ui_url="http://127.0.0.1:4200", prefect=prefect)
    with serve(app) as base_url:
        yield LiveApi(base_url, engine, store_url, app)
    engine.dispose()
