"""The process work pool's job template: a flow run starts as one `python -m prefect.engine` process.

With the pool's `command` left blank (Prefect's default), a process worker starts a workspace
supervisor that runs the deployment's pull steps and then starts the engine as a second Python
process: Prefect is imported twice, about a second each here, before a playbook runs. With the
command set, the worker starts the engine directly and the engine runs the pull steps itself.
`process-pool.json` is Prefect's own process template with only that default changed; the
compose workers create the pool from it, `alertflow cluster up` with this interpreter's path.
"""

from __future__ import annotations

import copy
import json
import shlex
from pathlib import Path
from typing import Any

from alertflow.up.prefect_api import PrefectApi

TEMPLATE_PATH = Path(__file__).with_name("process-pool.json")


def engine_command(python: str) -> str:
    """The flow-run command: the engine, run by `python` (the interpreter that has alertflow)."""
    return shlex.join([python, "-m", "prefect.engine"])


def process_pool_template(python: str, template: dict[str, Any] | None = None) -> dict[str, Any]:
    """`template` (a pool's base job template; `process-pool.json` when None) with flow runs started
    by `python` as the engine; the rest of a pool's template is kept."""
    result: dict[str, Any] = (
        copy.deepcopy(template) if template else json.loads(TEMPLATE_PATH.read_text(encoding="utf-8"))
    )
    properties = result.setdefault("variables", {}).setdefault("properties", {})
    properties.setdefault("command", {"anyOf": [{"type": "string"}, {"type": "null"}]})
    properties["command"]["default"] = engine_command(python)
    result.setdefault("job_configuration", {})["command"] = "{{ command }}"
    return result


def command_default(template: dict[str, Any]) -> str | None:
    """The `command` a pool's template gives its flow runs (None: Prefect's two-process default)."""
    command = template.get("variables", {}).get("properties", {}).get("command", {})
    default = command.get("default") if isinstance(command, dict) else None
    return default if isinstance(default, str) and default.strip() else None


def ensure_process_pool(api: PrefectApi, name: str, python: str) -> None:
    """Create the process pool `name` from our template, or set only the command of one without it."""
    pools = api.request("POST", "/work_pools/filter", json={"work_pools": {"name": {"any_": [name]}}})
    if not pools:
        body = {"name": name, "type": "process", "base_job_template": process_pool_template(python)}
        api.request("POST", "/work_pools/", json=body)
    elif command_default(current := pools[0].get("base_job_template") or {}) is None:
        # a pool made before its command was set (or by a worker): set only that, keep the rest
        template = process_pool_template(python, current)
        api.request("PATCH", f"/work_pools/{name}", json={"base_job_template": template})
