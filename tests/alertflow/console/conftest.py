"""A live console on a migrated SQLite store: users of every role, two tenants, sample and hostile alerts.

Alerts come in through the real ingest path (`alertflow ingest-file`), as in the API tests;
the hostile ones (every source, markup in every text field) belong to tenant A.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from alertflow.api.app import create_app
from alertflow.up.prefect_address import PrefectAddress
from alertflow.up.prefect_server import LocalPrefectServer
from alertmodel import migrate
from alertmodel.alert import Alert
from alertmodel.engine import make_engine
from alertmodel.response_tables import PlaybookRun
from tests.alertflow.api.conftest import TENANT_A, TENANT_B, _add_users, _ingest
from tests.alertflow.api.live import serve

from .hostile import write_hostile_samples
from .manual_playbook import console_manual

PREFECT_UI = "http://127.0.0.1:4200"
FLOW_RUN_ID = "6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f"


@dataclass
class LiveConsole:
    """A running API process with its console: base URL, store engine, and the alerts it holds."""

    base_url: str
    engine: Engine
    hostile_uuids: list[str]
    tenant_b_uuids: list[str]
    run_alert_uuid: str
    tenant_a_plain_uuid: str  # a sample tenant-A alert kept for the browser test's actions


def _ingest_hostile(url: str, directory: Path) -> None:
    policy = directory / "hostile-policy.json"
    policy.write_text(json.dumps({"ref_id": TENANT_A}))
    env = {**os.environ, "ALERTFLOW_DATABASE_URL": url, "DO_NOT_TRACK": "1"}
    files = [str(p) for p in write_hostile_samples(directory)]
    subprocess.run(
        [sys.executable, "-m", "alertflow", "ingest-file", "--policy", str(policy), *files],
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )


@pytest.fixture(scope="package")
def live_console(
    tmp_path_factory: pytest.TempPathFactory, prefect_server: LocalPrefectServer
) -> Iterator[LiveConsole]:
    directory = Path(tmp_path_factory.mktemp("console"))
    url = f"sqlite:///{directory / 'alertflow.db'}"
    migrate.upgrade(url)
    _add_users(url)
    _ingest(url, directory)
    _ingest_hostile(url, directory)
    engine = make_engine(url)
    alerts = Alert.__table__
    with engine.begin() as conn:
        rows = conn.execute(
            select(alerts.c.alert_uuid, alerts.c.source)
            .where(alerts.c.description.contains("<script>"))
            .order_by(alerts.c.alert_id)
        ).all()
        hostile = [r.alert_uuid for r in rows]
        suricata = next(r.alert_uuid for r in rows if r.source == "Suricata")
        tenant_b = [
            r.alert_uuid for r in conn.execute(select(alerts.c.alert_uuid).where(alerts.c.ref_id == TENANT_B))
        ]
        assert len(hostile) >= 4 and tenant_b, "the sample ingest stored no hostile or no tenant-B alerts"
        plain = conn.execute(
            select(alerts.c.alert_uuid)
            .where(alerts.c.ref_id == TENANT_A, alerts.c.description.not_like("%<script>%"))
            .order_by(alerts.c.alert_id)
        ).first()
        assert plain is not None, "the sample ingest stored no tenant-A alert"
        # a playbook run as the response dispatcher records it, for the history page's link to Prefect
        conn.execute(
            PlaybookRun.__table__.insert().values(
                alert_uuid=suricata,
                profile="block-attacker",
                deployment="block-attacker/default",
                flow_run_id=FLOW_RUN_ID,
                state="COMPLETED",
            )
        )
    prefect = PrefectAddress(prefect_server.api_url, None, "the test Prefect server")
    with serve(create_app(engine, prefect_ui_url=PREFECT_UI, prefect=prefect)) as base_url:
        yield LiveConsole(base_url, engine, hostile, tenant_b, suricata, plain.alert_uuid)
    engine.dispose()


@pytest.fixture(scope="package")
def manual_deployment(prefect_server: LocalPrefectServer) -> tuple[str, str]:
    """A deployment of console_manual (default `hours` 6): its name and id."""

    async def apply() -> tuple[str, str]:
        suffix = uuid.uuid4().hex[:6]
        deployment = await console_manual.ato_deployment(
            name=f"form-{suffix}", description='Runs by hand <b>"quoted"</b>.', parameters={"hours": 6}
        )
        return f"console-manual/form-{suffix}", str(await deployment.aapply())

    # in a thread of its own (with this context: the test server's settings), since a browser test
    # may be the first to ask, inside Playwright's running loop
    context = contextvars.copy_context()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(context.run, asyncio.run, apply()).result()
