"""A migrated SQLite alert store and a way to add alerts to it, for the forwarder tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from alertmodel import migrate
from alertmodel.engine import make_engine
from tests.alertfactory import make_alert, store_batch


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite alert store."""
    url = f"sqlite:///{tmp_path / 'alerts.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def add_alerts(engine: Engine, n: int, **fields: Any) -> list[dict[str, Any]]:
    """Store `n` new alerts (a few fields set by the caller) and return their rows."""
    rows = [make_alert(**fields) for _ in range(n)]
    store_batch(engine, rows)
    return rows
