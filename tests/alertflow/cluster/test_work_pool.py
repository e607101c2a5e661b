"""The process pool's job template: Prefect's own, with flow runs started as the engine directly."""

from __future__ import annotations

import json
import shlex
from uuid import uuid4

from prefect.client.schemas.objects import FlowRun
from prefect.utilities.templating import apply_values
from prefect.workers.process import ProcessJobConfiguration, ProcessWorker

from alertflow.cluster.work_pool import TEMPLATE_PATH, command_default, engine_command, process_pool_template

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
