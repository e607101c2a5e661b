"""`yaml-playbook`: the one generic flow that runs a linear YAML playbook, job after job."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, Literal

from jinja2 import Undefined
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.blocks.core import Block
from pydantic import BaseModel

from alertmodel.errors import PlaybookFailed
from flows.alert import PlaybookAlert, the_alert
from flows.approval import ApprovalDecision, ApprovalParams, NextJob, require_approval
from flows.job_types import JobType, resolve
from flows.playbook_spec import (
    APPROVAL_JOB_TYPE,
    TEMPLATES,
    BlockFromAlert,
    JobSpec,
    PlaybookSpec,
    is_template,
    load_bundled_playbook,
)


class JobOutcome(BaseModel):
    """What one job did."""

    name: str
    type: str
    status: Literal["completed", "failed", "skipped", "rejected"]
    result: Any = None
    error: str | None = None


class PlaybookResult(BaseModel):
    """Every job's outcome, in order."""

    playbook: str
    status: Literal["completed", "completed_with_errors", "rejected"]
    jobs: list[JobOutcome]


def render(value: Any, context: dict[str, Any]) -> Any:
    """Render Jinja in strings (recursively); a string that is one whole expression keeps its type."""
    if isinstance(value, str):
        if not is_template(value):
            return value
        stripped = value.strip()
        if stripped.startswith("{{") and stripped.endswith("}}") and stripped.count("{{") == 1:
            value = TEMPLATES.compile_expression(stripped[2:-2].strip(), undefined_to_none=False)(**context)
            if isinstance(value, Undefined):
                value._fail_with_undefined_error()  # a missing name is an error, never ""
            return value
        return TEMPLATES.from_string(value).render(**context)
    if isinstance(value, list):
        return [render(item, context) for item in value]
    if isinstance(value, dict):
        return {key: render(item, context) for key, item in value.items()}
    return value


def _jsonable(result: Any) -> Any:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    if isinstance(result, list):
        return [_jsonable(item) for item in result]
    return result


def block_from_alert(choice: BlockFromAlert, context: dict[str, Any], *, where: str) -> str:
    """The block name `choice.map` gives for the alert's field value; ValueError for any other value."""
    mapping = render(choice.map, {"params": context["params"]})
    if not isinstance(mapping, dict):
        raise ValueError(f"{where}: map must be a mapping of {choice.from_alert} -> block name")
    value = context["alert"].get(choice.from_alert)
    name = mapping.get(value) if isinstance(value, str) else None
    if not isinstance(name, str):
        known = ", ".join(sorted(str(k) for k in mapping)[:20]) or "none"
        raise ValueError(
            f"{where}: the alert's {choice.from_alert} {str(value)[:100]!r} is not in the map (known: {known})"
        )
    return name


def block_names(job: JobSpec, job_type: JobType, context: dict[str, Any]) -> dict[str, str | list[str]]:
    """Each block parameter's document name(s): templates see only `params`, alert fields only pick from a map."""
    only_params = {"params": context["params"]}
    names: dict[str, str | list[str]] = {}
    for pname, given in job.blocks.items():
        if isinstance(given, BlockFromAlert):
            name = block_from_alert(given, context, where=f"job {job.name}: blocks.{pname}")
            names[pname] = [name] if job_type.block_params[pname].many else name
        elif isinstance(given, list):
            names[pname] = [str(render(item, only_params)) for item in given]
        else:
            rendered = render(given, only_params)
            names[pname] = [str(n) for n in rendered] if isinstance(rendered, list) else str(rendered)
    return names


class BlockNotConfigured(LookupError):
    """A block the job names has no document; the job is skipped when it says skip_without_blocks."""


async def _load_block(block_type: type[Block], name: str) -> Block:
    try:
        return await block_type.aload(name)
    except ValueError as exc:
        if "Unable to find block document" in str(exc):
            raise BlockNotConfigured(f"no {block_type.get_block_type_slug()} block named {name!r}") from exc
        raise


async def _run_job(job: JobSpec, job_type: JobType, context: dict[str, Any]) -> Any:
    kwargs: dict[str, Any] = {p: None for p, b in job_type.block_params.items() if b.optional}
    for pname, names in block_names(job, job_type, context).items():
        block_type = job_type.block_params[pname].block_type
        if isinstance(names, list):
            kwargs[pname] = [await _load_block(block_type, name) for name in names]
        else:
            kwargs[pname] = await _load_block(block_type, names)
    kwargs.update(render(job.params, context))
    task = job_type.task.with_options(
        name=f"{job.name} ({job.type})",
        retries=job.retries,
        timeout_seconds=job.timeout_s,
    )
    outcome = task(**kwargs)
    if inspect.isawaitable(outcome):
        outcome = await outcome
    return outcome


@flow(name="yaml-playbook")
async def yaml_playbook(
    playbook: PlaybookSpec | str,
    params: dict[str, Any] | None = None,
    alert: PlaybookAlert | None = None,
    alerts: list[PlaybookAlert] | None = None,
    alert_uuid: str | None = None,
) -> PlaybookResult:
    """Run `playbook`'s jobs in order with the run's `params` and the triggering `alert`.

    `playbook` is the whole playbook, or the name of one bundled in flows/playbooks/ (what
    deployments pass, so prefect.yaml never holds Jinja that `prefect deploy` would template).

    A grouped response profile also passes `alerts`, every alert of the group so far. A run
    started by hand may give only `alert_uuid`: the stored alert is read from the alert store.
    """
    logger = get_run_logger()
    if alert_uuid:
        alert = await asyncio.to_thread(the_alert, alert, alert_uuid)
    if isinstance(playbook, str):
        playbook = load_bundled_playbook(playbook)
    context: dict[str, Any] = {
        "params": playbook.run_parameters(params or {}),
        "alert": alert.model_dump(mode="json") if alert is not None else {},
        "alerts": [a.model_dump(mode="json") for a in alerts or ([alert] if alert else [])],
        "results": {},
    }
    outcomes: list[JobOutcome] = []
    stopped = rejected = False
    for index, job in enumerate(playbook.jobs):
        if stopped or rejected:
            outcomes.append(JobOutcome(name=job.name, type=job.type, status="skipped"))
            continue
        if job.type == APPROVAL_JOB_TYPE:
            decision = await _ask(playbook, index, context)
            context["results"][job.name] = decision.model_dump(mode="json")
            status: Literal["completed", "rejected"] = "completed" if decision.approved else "rejected"
            outcomes.append(
                JobOutcome(
                    name=job.name, type=job.type, status=status, result=decision.model_dump(mode="json")
                )
            )
            rejected = not decision.approved
            continue
        try:
            result = _jsonable(await _run_job(job, resolve(job.type), context))
        except BlockNotConfigured as exc:
            if not job.skip_without_blocks:
                error = f"{exc}"[:1000]
                logger.error("job %s (%s) failed: %s", job.name, job.type, error)
                outcomes.append(JobOutcome(name=job.name, type=job.type, status="failed", error=error))
                stopped = job.on_error == "stop"
                continue
            logger.info("job %s (%s) skipped: %s", job.name, job.type, exc)
            outcomes.append(JobOutcome(name=job.name, type=job.type, status="skipped", error=str(exc)))
            continue
        # The runner's purpose is to record any job failure and apply on_error.
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:1000]
            logger.error("job %s (%s) failed: %s", job.name, job.type, error)
            outcomes.append(JobOutcome(name=job.name, type=job.type, status="failed", error=error))
            stopped = job.on_error == "stop"
            continue
        context["results"][job.name] = result
        outcomes.append(JobOutcome(name=job.name, type=job.type, status="completed", result=result))
        logger.info("job %s (%s) completed", job.name, job.type)

    await create_markdown_artifact(
        key=f"playbook-{playbook.name.lower().replace('_', '-').replace('.', '-')}",
        markdown=_summary(playbook, outcomes),
        description=f"YAML playbook {playbook.name}",
    )
    if stopped:
        failed = next(o for o in outcomes if o.status == "failed")
        raise PlaybookFailed(f"playbook {playbook.name} stopped at job {failed.name}: {failed.error}")
    any_failed = any(o.status == "failed" for o in outcomes)
    return PlaybookResult(
        playbook=playbook.name,
        status="rejected" if rejected else "completed_with_errors" if any_failed else "completed",
        jobs=outcomes,
    )


async def _ask(playbook: PlaybookSpec, index: int, context: dict[str, Any]) -> ApprovalDecision:
    """Pause for the approval job at `index`; the request shows the jobs it guards as written."""
    job = playbook.jobs[index]
    params = ApprovalParams.model_validate(render(job.params, context))
    alert = context["alert"]
    return await require_approval(
        params,
        playbook=playbook.name,
        job=job.name,
        key=f"job-{index}",
        alert_uuid=alert.get("alert_uuid"),
        ref_id=alert.get("ref_id"),
        next_jobs=[NextJob(name=j.name, type=j.type, params=j.params) for j in playbook.jobs[index + 1 :]],
    )


def _summary(playbook: PlaybookSpec, outcomes: list[JobOutcome]) -> str:
    rows = [
        f"| {o.name} | {o.type} | {o.status} | {(o.error or '').replace('|', '/')[:200]} |" for o in outcomes
    ]
    return "\n".join(
        [f"# Playbook {playbook.name}", "", "| job | type | status | error |", "|---|---|---|---|", *rows]
    )
