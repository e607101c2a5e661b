"""`collect-forensics`: run a collection command on several hosts, copy what each wrote to the
evidence host, and return every file's SHA-256 as verified at the destination."""

from __future__ import annotations

import asyncio
import posixpath

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from pydantic import BaseModel

from blocks.host import HostProfile
from tasks.paths import validate_path
from tasks.sftp import copy_files
from tasks.ssh import run_script


class HostEvidence(BaseModel):
    """One host's collection: where its output now is and its checksum, or why there is none."""

    host: str
    ok: bool
    exit_status: int | None = None
    evidence_path: str | None = None
    sha256: str | None = None
    size: int | None = None
    error: str | None = None


class ForensicsResult(BaseModel):
    """Every host's evidence, in the order the hosts were given."""

    evidence_host: str
    evidence_dir: str
    hosts: list[HostEvidence]


@flow(name="collect-forensics")
async def collect_forensics(
    hosts: list[str],
    command: list[str],
    output_path: str,
    evidence_host: str,
    evidence_dir: str,
    timeout_s: float = 600,
) -> ForensicsResult:
    """Run `command` (an argument list that writes `output_path`) on every HostProfile in `hosts`,
    then copy each host's `output_path` to `evidence_dir/<run>/<host>/` on `evidence_host`.

    `{host}` in `command` and `output_path` is replaced by the host's name. `output_path` must lie
    in each host's `file_roots` and `evidence_dir` in the evidence host's, checked before any
    command runs. A host whose command fails is reported, not copied; the run fails only when
    no host succeeded.
    """
    if not hosts:
        raise ValueError("hosts must name at least one HostProfile block")
    if not posixpath.isabs(output_path) or not posixpath.isabs(evidence_dir):
        raise ValueError("output_path and evidence_dir must be absolute paths")
    logger = get_run_logger()
    profiles = [await HostProfile.aload(name) for name in hosts]
    destination = await HostProfile.aload(evidence_host)
    # Every host's file_roots must allow the copy before any collection command runs.
    validate_path(evidence_dir, destination.file_roots, where=f"evidence host {destination.name}")
    for p in profiles:
        validate_path(output_path.replace("{host}", p.name), p.file_roots, where=f"host {p.name}")
    # Concurrently, one command per host; not retried: a collection may change what it
    # collects (rotated logs, memory).
    runs = await asyncio.gather(
        *(
            run_script(
                p, [arg.replace("{host}", p.name) for arg in command], timeout_s=timeout_s, allow_failure=True
            )
            for p in profiles
        )
    )
    run_dir = posixpath.join(evidence_dir, str(flow_run.get_id() or "local"))
    evidence: list[HostEvidence] = []
    for profile, run in zip(profiles, runs, strict=True):
        [outcome] = run.results
        if not outcome.ok:
            evidence.append(
                HostEvidence(
                    host=profile.name, ok=False, exit_status=outcome.exit_status, error=outcome.error
                )
            )
            continue
        target_dir = posixpath.join(run_dir, profile.name)
        # Creating a directory that may exist is safe to repeat.
        await run_script.with_options(retries=2, retry_delay_seconds=[2, 10])(
            destination, ["mkdir", "-p", "--", target_dir], timeout_s=60
        )
        # Copying the same file again is safe (same content, verified again).
        copied = await copy_files.with_options(retries=2, retry_delay_seconds=[2, 10])(
            profile, [output_path.replace("{host}", profile.name)], destination, target_dir, overwrite=True
        )
        [file] = copied.files
        evidence.append(
            HostEvidence(
                host=profile.name,
                ok=True,
                exit_status=outcome.exit_status,
                evidence_path=file.destination,
                sha256=file.sha256,
                size=file.size,
            )
        )
        logger.info("evidence from %s: %s sha256 %s", profile.name, file.destination, file.sha256)
    if not any(e.ok for e in evidence):
        raise RuntimeError(f"collection failed on every host: {[e.error for e in evidence]}")
    return ForensicsResult(evidence_host=destination.name, evidence_dir=run_dir, hosts=evidence)
