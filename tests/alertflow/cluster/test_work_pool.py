"""The process pool's job template: Prefect's own, with flow runs started as the engine directly."""

from __future__ import annotations

import json
import shlex
from uuid import uuid4

from prefect.client.schemas.objects import FlowRun
from prefect.utilities.templating import apply_values
from prefect.workers.process import ProcessJobConfiguration, ProcessWorker

from alertflow.cluster.work_pool import (
    TEMPLATE_PATH,
    command_default,
    engine_command,
    ensure_process_pool,
    process_pool_template,
)
from alertflow.up.prefect_api import PrefectApi
from alertflow.up.prefect_server import LocalPrefectServer

PYTHON = "/opt/alert flow/.venv/bin/python"  # a space: the command must stay one argument


def configuration(template: dict) -> ProcessJobConfiguration:
    """The job configuration a process worker prepares for a flow run from the pool's template (no
    job variables): the same steps as `from_template_and_values`, without the block look-up that
    needs an API."""
    defaults = ProcessJobConfiguration._get_base_config_defaults(template["variables"]["properties"])
    config = ProcessJobConfiguration(**apply_values(template["job_configuration"], defaults))
    config.prepare_for_flow_run(FlowRun(flow_id=uuid4(), name="a-run"))
    return config


def test_the_file_is_prefects_own_process_template_with_only_the_command_set() -> None:
    ours = json.loads(TEMPLATE_PATH.read_text())
    prefects = ProcessWorker.get_default_base_job_template()
    assert command_default(prefects) is None  # Prefect's default: a supervisor process, then the engine
    assert ours["variables"]["properties"]["command"].pop("default") == "python -m prefect.engine"
    prefects["variables"]["properties"]["command"].pop("default")
    assert ours == prefects  # a Prefect upgrade that changes its template fails here


def test_the_worker_takes_the_engine_command_from_the_template() -> None:
    config = configuration(process_pool_template(PYTHON))
    assert shlex.split(config.command or "") == [PYTHON, "-m", "prefect.engine"]
    assert config._command_configured  # the worker starts it directly, without a workspace supervisor
    assert not configuration(ProcessWorker.get_default_base_job_template())._command_configured


def test_an_existing_pools_template_keeps_everything_but_gets_the_command() -> None:
    existing = ProcessWorker.get_default_base_job_template()
    existing["variables"]["properties"]["stream_output"]["default"] = False
    existing["variables"]["properties"]["env"]["default"] = {"SITE": "dc-2"}
    updated = process_pool_template(PYTHON, existing)
    assert command_default(updated) == engine_command(PYTHON)
    assert updated["variables"]["properties"]["env"]["default"] == {"SITE": "dc-2"}
    assert configuration(updated).stream_output is False
    assert command_default(existing) is None  # the caller's template is left as it was


def pool_template(api: PrefectApi, name: str) -> dict:
    return api.request("GET", f"/work_pools/{name}")["base_job_template"]


def test_the_pool_is_made_with_the_command_or_given_it_on_a_real_server(
    prefect_server: LocalPrefectServer,
) -> None:
    with PrefectApi(prefect_server.api_url) as api:
        fresh = f"alertflow-process-{uuid4().hex[:8]}"
        ensure_process_pool(api, fresh, PYTHON)
        assert command_default(pool_template(api, fresh)) == engine_command(PYTHON)

        # a pool a worker made with Prefect's default template, one of its settings changed
        made_by_a_worker = f"alertflow-process-{uuid4().hex[:8]}"
        template = ProcessWorker.get_default_base_job_template()
        template["variables"]["properties"]["env"]["default"] = {"SITE": "dc-2"}
        body = {"name": made_by_a_worker, "type": "process", "base_job_template": template}
        api.request("POST", "/work_pools/", json=body)
        ensure_process_pool(api, made_by_a_worker, PYTHON)
        updated = pool_template(api, made_by_a_worker)
        assert command_default(updated) == engine_command(PYTHON)
        assert updated["variables"]["properties"]["env"]["default"] == {"SITE": "dc-2"}

        # a command the operator set is theirs: left alone
        ensure_process_pool(api, made_by_a_worker, "/usr/bin/python3")
        assert command_default(pool_template(api, made_by_a_worker)) == engine_command(PYTHON)
        for name in (fresh, made_by_a_worker):
            api.request("DELETE", f"/work_pools/{name}")
