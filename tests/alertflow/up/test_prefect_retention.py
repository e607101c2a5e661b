"""Prefect's own retention: `up` turns the database vacuum on with the alertflow setting, and it
really deletes a finished flow run older than that from a SQLite Prefect server."""

from __future__ import annotations

import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from alertflow.cluster.settings import file_values
from alertflow.up.prefect_server import LocalPrefectServer, free_port, vacuum_env
from alertflow.up.settings import UpSettings
from alertflow.up.supervisor import Stack
from alertmodel.settings import Settings

REPO = Path(__file__).resolve().parents[3]


def _vacuum_settings(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> object:
    from prefect.settings.models.server.services import ServerServicesDBVacuumSettings

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return ServerServicesDBVacuumSettings()


def test_up_gives_the_prefect_server_a_flow_run_retention(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERTFLOW_PREFECT_RETAIN_FLOW_RUNS_DAYS", "45")
    env = Stack(Settings(data_dir=tmp_path), UpSettings()).prefect_server_env()
    assert env["PREFECT_SERVER_SERVICES_SCHEDULER_MAX_RUNS"] == "10"
    vacuum = _vacuum_settings(monkeypatch, env)  # the names and values Prefect itself reads
    assert {"events", "flow_runs"} <= vacuum.enabled_vacuum_types  # type: ignore[attr-defined]
    assert vacuum.retention_period == timedelta(days=45)  # type: ignore[attr-defined]


def test_the_default_is_thirty_days_and_unset_keeps_flow_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = Stack(Settings(data_dir=tmp_path), UpSettings()).prefect_server_env()
    assert _vacuum_settings(monkeypatch, env).retention_period == timedelta(days=30)  # type: ignore[attr-defined]
    kept = _vacuum_settings(monkeypatch, vacuum_env(None))
    assert kept.enabled_vacuum_types == {"events"}  # type: ignore[attr-defined]


def test_compose_gives_its_prefect_services_the_same_retention(monkeypatch: pytest.MonkeyPatch) -> None:
    """The services process (where the vacuum runs) reads cluster.env, which keeps up's 30 days."""
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]["prefect-services"]
    assert services["env_file"] == ["alertflow/cluster/cluster.env"]
    env = file_values(REPO / services["env_file"][0])
    assert env["PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD"] == "P30D"
    vacuum = _vacuum_settings(monkeypatch, {k: v for k, v in env.items() if "DB_VACUUM" in k})
    assert "flow_runs" in vacuum.enabled_vacuum_types  # type: ignore[attr-defined]
    assert vacuum.retention_period == timedelta(days=30)  # type: ignore[attr-defined]
    up_default = _vacuum_settings(monkeypatch, vacuum_env(30))  # what `up` gives its own server
    assert up_default.retention_period == vacuum.retention_period  # type: ignore[attr-defined]


def test_the_vacuum_deletes_a_flow_run_that_ended_before_the_retention(tmp_path: Path) -> None:
    env = {**vacuum_env(1), "PREFECT_SERVER_SERVICES_DB_VACUUM_LOOP_SECONDS": "2"}
    server = LocalPrefectServer(home=tmp_path / "prefect", port=free_port(), extra_env=env).start()
    try:
        with httpx.Client(base_url=server.api_url, timeout=60) as api:
            flow_id = _created(api.post("/flows/", json={"name": "retention-check"}))
            runs = [
                _created(
                    api.post(
                        "/flow_runs/",
                        json={"flow_id": flow_id, "name": name, "state": {"type": "COMPLETED"}},
                    )
                )
                for name in ("old-run", "recent-run")
            ]
            # end_time is the server's clock; make the first run end two days ago
            with sqlite3.connect(server.home / "prefect.db") as db:
                db.execute(
                    "UPDATE flow_run SET end_time = datetime('now', '-2 days') WHERE id = ?",
                    (runs[0],),  # Prefect stores ids on SQLite as CHAR(36), str(uuid)
                )
                assert db.total_changes == 1
            deadline = time.monotonic() + 120  # the vacuum loop is 2 s; a loaded machine is slow
            while time.monotonic() < deadline and api.get(f"/flow_runs/{runs[0]}").status_code != 404:
                time.sleep(1)
            assert api.get(f"/flow_runs/{runs[0]}").status_code == 404
            assert api.get(f"/flow_runs/{runs[1]}").status_code == 200
    finally:
        server.stop()


def _created(answer: httpx.Response) -> str:
    assert answer.status_code in (200, 201), f"{answer.status_code}: {answer.text[:500]}"
    created: str = answer.json()["id"]
    return created
