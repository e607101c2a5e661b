"""`alertflow db upgrade` on a store the previous release wrote: every alert, incident (and its
history), profile and policy is still there afterwards, on SQLite and MariaDB.

The stores and their manifests are made by scripts/make-upgrade-fixture.py with that release's
own code (see tests/fixtures/upgrade/README.md); the test upgrades to whatever head is now.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from alertmodel import migrate
from alertmodel.engine import make_engine
from alertmodel.repository import load_alerts
from response import incidents
from tests.conftest import MARIADB_HOST, MARIADB_PORT, fresh_mariadb_database

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "upgrade"
RELEASE = "70117da"


def _fixture_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_upgrade_fixture", REPO / "scripts" / "make-upgrade-fixture.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(params=["sqlite", "mariadb"])
def release_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """A copy of the release's store of each kind, with the manifest written when it was made."""
    kind = request.param
    manifest = json.loads((FIXTURES / f"manifest-{RELEASE}-{kind}.json").read_text())
    if kind == "sqlite":
        database = tmp_path / "alertflow.db"
        shutil.copyfile(FIXTURES / f"alertflow-{RELEASE}.sqlite", database)
        yield f"sqlite:///{database}", manifest
        return
    with fresh_mariadb_database() as url:
        name = url.rsplit("/", 1)[1]
        with (FIXTURES / f"alertflow-{RELEASE}.mariadb.sql").open("rb") as dump:
            subprocess.run(
                ["mariadb", "-h", MARIADB_HOST, "-P", str(MARIADB_PORT), "-u", "root", name],
                stdin=dump,
                check=True,
            )
        yield url, manifest


def test_db_upgrade_keeps_everything_the_previous_release_stored(
    release_store: tuple[str, dict[str, Any]],
) -> None:
    url, manifest = release_store
    assert migrate.current(url) == manifest["alembic_revision"]  # the store really is the release's

    env = {**os.environ, "ALERTFLOW_DATABASE_URL": url, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "alertflow", "db", "upgrade"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert migrate.current(url) == migrate.head()

    tables = _fixture_script().table_rows(url, tuple(manifest["tables"]))
    for table, expected in manifest["tables"].items():
        # columns a later migration added are not in the manifest; every old one must be unchanged
        got = [
            {column: row[column] for column in old} for row, old in zip(tables[table], expected, strict=False)
        ]
        assert len(tables[table]) == len(expected), table
        assert got == expected, table
    assert manifest["tables"]["alert"] and manifest["tables"]["incident_event"]
    assert manifest["tables"]["response_profile"] and manifest["tables"]["filter_policy"]

    engine = make_engine(url)  # and today's code reads them
    try:
        uuids = [row["alert_uuid"] for row in manifest["tables"]["alert"]]
        assert [a.alert_uuid for a in load_alerts(engine, uuids)] == uuids
        view = incidents.get_incident(engine, 1)
        assert view.incident.state == "resolved"
        assert [(e.from_state, e.to_state, e.actor) for e in view.history] == [
            (None, "new", "alice"),
            ("new", "in_progress", "bob"),
            ("in_progress", "resolved", "bob"),
        ]
    finally:
        engine.dispose()
