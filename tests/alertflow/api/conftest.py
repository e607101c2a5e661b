"""A live API per database kind (module scope): a migrated store, users of every role and two tenants."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from alertflow import accounts
from alertflow.api.app import create_app
from alertmodel import migrate
from alertmodel.engine import make_engine
from tests.conftest import fresh_mariadb_database

from .live import serve

PASSWORD = "correct horse battery"
TENANT_A, TENANT_B = "tenant-a", "tenant-b"
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

    def client(self, user: str | None) -> httpx.Client:
        auth = (user, PASSWORD) if user else None
        return httpx.Client(base_url=self.base_url, auth=auth, timeout=30)


@pytest.fixture(scope="module", params=["sqlite", "mariadb"])
def store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated store of each kind with the users of USERS, for one test module."""
    if request.param == "sqlite":
        url = f"sqlite:///{Path(tmp_path_factory.mktemp('api')) / 'alertflow.db'}"
        migrate.upgrade(url)
        _add_users(url)
        yield url
        return
    with fresh_mariadb_database() as url:
        migrate.upgrade(url)
        _add_users(url)
        yield url


def _add_users(url: str) -> None:
    engine = make_engine(url)
    for name, (role, tenants) in USERS.items():
        accounts.add_user(engine, name, role=role, password=PASSWORD, tenants=tenants, actor="setup")
    engine.dispose()


@pytest.fixture(scope="module")
def live_api(store_url: str) -> Iterator[LiveApi]:
    engine = make_engine(store_url)
    with serve(create_app(engine, prefect_ui_url="http://127.0.0.1:4200")) as base_url:
        yield LiveApi(base_url, engine, store_url)
    engine.dispose()
