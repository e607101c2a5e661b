"""Linear YAML playbooks, the Alertflex way: a name and an ordered list of jobs.

```yaml
name: contain-host
description: Collect evidence, then isolate.
parameters:                               # defaults; `--param name=...` overrides
  agent_hosts: {web-01: host-web-01}      # agent name -> HostProfile block name
jobs:
  - name: who
    type: run_script                      # a key of flows.job_types.JOB_TYPES
    blocks:                               # task parameter -> block document name(s)
      hosts: {from_alert: agent, map: "{{ params.agent_hosts }}"}
    params: {command: ["who"]}            # other task parameters
    on_error: continue                    # or stop (the default)
```

Strings in `params` may hold Jinja expressions over `alert` (the triggering alert), `alerts`,
`params` (the run's parameters) and `results` (earlier jobs' results by job name), rendered in
an immutable sandbox: a template can read them, never change them. A whole-string expression
keeps its type (a list stays a list).

Block names may use only `params`: an alert is attacker-controlled and must never name a
block. To pick a block by an alert field, `{from_alert: FIELD, map: {...}}` looks the field's
value up in an explicit map (or a `{{ params.x }}` giving one); a value not in it is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import jinja2
import yaml
from jinja2 import StrictUndefined, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from alertmodel.errors import (
    ConfigurationError,
    JobTypeUnavailable,
    Location,
    describe_validation_error,
    document_path,
)
from flows.alert import PlaybookAlert
from flows.approval import ApprovalParams
from flows.job_types import resolve

APPROVAL_JOB_TYPE = "require_approval"
"""The job that pauses the run until an analyst decides (flows/approval.py); not a task."""
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
BUNDLED_DIR = Path(__file__).resolve().parent / "playbooks"

TEMPLATES = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
"""Renders playbook strings: no attribute starting with '_', no call that changes a list or dict."""


def is_template(text: str) -> bool:
    """True when `text` holds Jinja markup."""
    return "{{" in text or "{%" in text


def _names_params_only(text: str, *, where: str) -> str:
    """`text` unchanged, if its Jinja uses no variable but `params`; else ValueError."""
    if not is_template(text):
        return text
    try:
        used = meta.find_undeclared_variables(TEMPLATES.parse(text))
    except jinja2.TemplateSyntaxError as exc:
        raise ValueError(f"{where}: invalid template {text!r}: {exc.message}") from None
    if used - {"params"}:
        raise ValueError(
            f"{where}: a block name may use only params, not {', '.join(sorted(used - {'params'}))}: "
            "alert data must never name a block. To pick a block by an alert field, write "
            "{from_alert: FIELD, map: {VALUE: BLOCK, ...}}"
        )
    return text


class BlockFromAlert(BaseModel):
    """A block picked by an alert field's value through an explicit map; other values are refused."""

    model_config = ConfigDict(extra="forbid")

    from_alert: str = Field(description="The alert field whose value picks the block, e.g. agent.")
    map: dict[str, str] | str = Field(
        description="Field value -> block name, or a '{{ params.x }}' expression giving that mapping."
    )

    @field_validator("from_alert")
    @classmethod
    def _alert_field(cls, name: str) -> str:
        if name not in PlaybookAlert.model_fields:
            raise ValueError(f"from_alert: {name!r} is not an alert field")
        return name

    @field_validator("map")
    @classmethod
    def _map_from_params(cls, value: dict[str, str] | str) -> dict[str, str] | str:
        if isinstance(value, str):
            stripped = value.strip()
            if not (stripped.startswith("{{") and stripped.endswith("}}")):
                raise ValueError("map: give a mapping, or one '{{ params.x }}' expression giving one")
            _names_params_only(value, where="map")
        return value


def _invalid(message: str) -> PydanticCustomError:
    """A validation error shown as written (a ValueError would read "Value error, ...")."""
    return PydanticCustomError("invalid_playbook", message)


class JobSpec(BaseModel):
    """One job: a task run with blocks by name and plain parameters."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="Unique within the playbook; names the result.")
    type: str = Field(description="The job type, e.g. run_script, copy_files, nmap_scan.")
    blocks: dict[str, str | list[str] | BlockFromAlert] = Field(
        default_factory=dict,
        description="Task parameter -> block document name (or list of names; templates may use "
        "params only), or {from_alert: FIELD, map: {...}} to pick it by an alert field.",
    )
    params: dict[str, Any] = Field(default_factory=dict, description="The task's other parameters.")
    on_error: Literal["stop", "continue"] = "stop"
    skip_without_blocks: bool = Field(
        default=False,
        description="Skip the job, instead of failing it, when a block it names is not configured "
        "(e.g. a host job in a playbook that also runs without hosts).",
    )
    retries: int = Field(default=0, ge=0, le=5, description="Only for jobs that are safe to repeat.")
    timeout_s: float | None = Field(default=None, gt=0, le=86400)

    @field_validator("type")
    @classmethod
    def _type_is_available(cls, value: str) -> str:
        if value == APPROVAL_JOB_TYPE:
            return value
        try:
            resolve(value)
        except JobTypeUnavailable as exc:
            raise _invalid(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _parameters_fit_the_task(self) -> JobSpec:
        if self.type == APPROVAL_JOB_TYPE:
            return self._approval_fits()
        job = resolve(self.type)
        for pname, names in self.blocks.items():
            bp = job.block_params.get(pname)
            if bp is None:
                raise _invalid(
                    f"blocks.{pname}: task {self.type} has no block parameter {pname!r} "
                    f"(block parameters: {', '.join(sorted(job.block_params)) or 'none'})"
                )
            if isinstance(names, list) and not bp.many:
                raise _invalid(f"blocks.{pname}: task {self.type} takes one block here, not a list")
            for name in names if isinstance(names, list) else [names]:
                if isinstance(name, str):
                    _names_params_only(name, where=f"blocks.{pname}")
        for pname in self.params:
            if pname in job.block_params:
                raise _invalid(f"params.{pname}: is a block parameter; give it under blocks by name")
            if pname not in job.plain_params:
                raise _invalid(
                    f"params.{pname}: task {self.type} has no parameter {pname!r} "
                    f"(parameters: {', '.join(sorted(job.plain_params)) or 'none'})"
                )
        missing = sorted(job.required - set(self.blocks) - set(self.params))
        if missing:
            raise _invalid(f"task {self.type} needs {', '.join(missing)}")
        return self

    def _approval_fits(self) -> JobSpec:
        if self.blocks:
            raise _invalid(f"blocks: a {APPROVAL_JOB_TYPE} job takes no blocks")
        if self.retries or self.timeout_s is not None or self.skip_without_blocks:
            raise _invalid(f"a {APPROVAL_JOB_TYPE} job takes no retries, timeout_s or skip_without_blocks")
        try:
            ApprovalParams.model_validate(self.params)  # timeout_s and default are literals, never templates
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            raise _invalid(f"params.{where}: {error['msg']}") from None
        return self


class PlaybookSpec(BaseModel):
    """A linear playbook: jobs run in order; each job's on_error says whether a failure stops it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="Parameters the jobs may use as {{ params.x }}, with defaults."
    )
    jobs: list[JobSpec] = Field(min_length=1)
    safe_to_repeat: bool = Field(
        default=False,
        description="Every job can run twice with the effect of once: after a crash (its worker died "
        "mid-run) alertflow runs the playbook again, once. Leave false when a job sends, opens or deletes.",
    )

    @field_validator("jobs")
    @classmethod
    def _unique_job_names(cls, jobs: list[JobSpec]) -> list[JobSpec]:
        seen: set[str] = set()
        for index, job in enumerate(jobs):
            if job.name in seen:
                raise _invalid(f"jobs[{index}].name: {job.name!r} is used by an earlier job")
            seen.add(job.name)
        return jobs

    def run_parameters(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """The declared parameters with `overrides` applied; an undeclared name is an error."""
        unknown = sorted(set(overrides) - set(self.parameters))
        if unknown:
            raise ConfigurationError(
                f"playbook {self.name}: unknown parameter(s) {', '.join(unknown)} "
                f"(declared: {', '.join(sorted(self.parameters)) or 'none'})"
            )
        return {**self.parameters, **overrides}


def parse_playbook(data: Any, *, origin: str) -> PlaybookSpec:
    """Validate a decoded playbook; ConfigurationError names origin, job index and field."""
    if not isinstance(data, dict):
        raise ConfigurationError(
            f"{origin}: a playbook is a mapping with name and jobs, not {type(data).__name__}"
        )
    try:
        return PlaybookSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigurationError(describe_validation_error(exc, origin, _job_location(data))) from None


def load_playbook(path: str | Path) -> PlaybookSpec:
    """Read and validate a YAML playbook file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read the playbook ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise ConfigurationError(f"{path}:{where} invalid YAML: {getattr(exc, 'problem', exc)}") from None
    return parse_playbook(data, origin=str(path))


def load_bundled_playbook(name: str) -> PlaybookSpec:
    """A playbook shipped in flows/playbooks/ by name (what deployments refer to)."""
    if not re.fullmatch(NAME_PATTERN, name) or ".." in name:
        raise ConfigurationError(f"{name!r} is not a playbook name (letters, digits, '_', '.', '-')")
    path = BUNDLED_DIR / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in BUNDLED_DIR.glob("*.yaml")))
        raise ConfigurationError(f"no bundled playbook {name!r} (bundled: {known})")
    spec = load_playbook(path)
    if spec.name != name:
        raise ConfigurationError(f"{path}: the playbook's name is {spec.name!r}; it must match the file name")
    return spec


def _job_location(data: dict[str, Any]) -> Callable[[Location], str]:
    """Locations as a playbook's author reads them: `job 1 (isolate): field params.command`."""
    jobs = data.get("jobs") if isinstance(data.get("jobs"), list) else []

    def where(loc: Location) -> str:
        job = ""
        if len(loc) >= 2 and loc[0] == "jobs" and isinstance(loc[1], int):
            index = loc[1]
            raw = jobs[index] if index < len(jobs) else None
            name = raw.get("name") if isinstance(raw, dict) else None
            job = f"job {index}" + (f" ({name})" if name else "")
            loc = loc[2:]
        field = document_path(loc)
        return ": ".join(part for part in (job, field and f"field {field}") if part)

    return where
