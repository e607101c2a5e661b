"""The job types a YAML playbook may use, each the import path of a job task.

A type whose task is not installed is refused when a playbook is validated, with a message
saying so: a playbook never "succeeds" at a job that cannot run.
"""

from __future__ import annotations

import importlib
import inspect
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from prefect import Task
from prefect.blocks.core import Block

from alertmodel.errors import JobTypeUnavailable

JOB_TYPES: dict[str, str] = {
    "run_script": "tasks.ssh:run_script",
    "copy_files": "tasks.sftp:copy_files",
    "move_files": "tasks.sftp:move_files",
    "nmap_scan": "tasks.nmap:nmap_scan",
    "update_ids_rules": "tasks.ids_rules:update_ids_rules",
    "block_ips": "tasks.ids_rules:block_ips",
    "unblock_ips": "tasks.ids_rules:unblock_ips",
    "send_email_report": "tasks.email:send_email_report",
    "check_reputation": "tasks.reputation:check_reputation",
    "search_misp_attributes": "tasks.misp:search_misp_attributes",
    "add_misp_attribute": "tasks.misp:add_misp_attribute",
    "create_thehive_alert": "tasks.thehive:create_thehive_alert",
    "create_thehive_case": "tasks.thehive:create_thehive_case",
    "create_jira_issue": "tasks.jira:create_jira_issue",
    "add_jira_comment": "tasks.jira:add_jira_comment",
    "send_slack_message": "tasks.slack:send_slack_message",
    "send_sms": "tasks.twilio:send_sms",
    "submit_to_sandbox": "tasks.sandbox:submit_to_sandbox",
    "scan_with_zap": "tasks.zap:scan_with_zap",
    "related_alerts": "tasks.alert_store:related_alerts",
    "write_report": "tasks.report:write_report",
}
"""Job type name → `module:task` of the task that does the job."""


@dataclass(frozen=True)
class BlockParam:
    """A task parameter that takes a block (or a list of blocks) loaded by name."""

    block_type: type[Block]
    many: bool
    optional: bool = False


@dataclass(frozen=True)
class JobType:
    """A job type resolved to its task, with the parameters the task takes."""

    name: str
    task: Task[..., Any]
    block_params: dict[str, BlockParam]
    plain_params: frozenset[str]
    required: frozenset[str]


def resolve(name: str) -> JobType:
    """The task behind job type `name`; JobTypeUnavailable says why there is none."""
    target = JOB_TYPES.get(name)
    if target is None:
        raise JobTypeUnavailable(f"unknown job type {name!r} (known: {', '.join(sorted(JOB_TYPES))})")
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise JobTypeUnavailable(
            f"job type {name!r} needs task {module_name}.{attr}, which is not installed yet ({exc})"
        ) from exc
    task = getattr(module, attr, None)
    if not isinstance(task, Task):
        raise JobTypeUnavailable(
            f"job type {name!r} needs task {module_name}.{attr}, which is not installed yet"
        )
    hints = typing.get_type_hints(task.fn)
    block_params: dict[str, BlockParam] = {}
    plain: set[str] = set()
    required: set[str] = set()
    for pname, param in inspect.signature(task.fn).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        block = _block_param(hints.get(pname))
        if block is not None:
            block_params[pname] = block
        else:
            plain.add(pname)
        if param.default is inspect.Parameter.empty and not (block is not None and block.optional):
            required.add(pname)
    return JobType(name, task, block_params, frozenset(plain), frozenset(required))


def _block_param(annotation: Any) -> BlockParam | None:
    """A BlockParam when the annotation is a Block type, a list of one, or either | None."""
    if annotation is None:
        return None
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        members = [_block_param(a) for a in args if a is not type(None)]
        if not members or any(m is None for m in members):
            return None
        kinds = {m.block_type for m in members if m is not None}
        if len(kinds) != 1:
            return None
        return BlockParam(
            kinds.pop(), many=any(m.many for m in members if m is not None), optional=type(None) in args
        )
    if isinstance(annotation, type) and issubclass(annotation, Block):
        return BlockParam(annotation, many=False)
    if origin in (list, Sequence, tuple) or (
        isinstance(origin, type) and issubclass(origin, Sequence) and origin is not str
    ):
        args = typing.get_args(annotation)
        if args and isinstance(args[0], type) and issubclass(args[0], Block):
            return BlockParam(args[0], many=True)
    return None
