"""Sandbox jobs: submit a file, poll until the analysis ends, return a normalized verdict.

Cuckoo, Hybrid Analysis and VMRay have no maintained Python SDK that fits, so this speaks their
REST APIs with httpx; `submit_to_sandbox` picks the backend from the block.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from alertmodel.errors import ServiceCallError, ServiceTimeoutError
from blocks.run_context import run_logger
from blocks.sandbox import SandboxService
from tasks._common import (
    IDEMPOTENT,
    RETRY_STATUSES,
    SAFE_TO_REPEAT,
    guard_secrets,
    service_errors,
    status_error,
)
from tasks.paths import resolved_local_path

Verdict = Literal["clean", "suspicious", "malicious"]
NAMES = {"cuckoo": "Cuckoo", "hybrid_analysis": "Hybrid Analysis", "vmray": "VMRay"}
MAX_SAMPLE_BYTES = 100 * 1024 * 1024


class SandboxVerdict(BaseModel):
    """What the sandbox concluded about a file, on one scale whatever the product."""

    backend: str
    sample: str
    sha256: str
    analysis_id: str
    verdict: Verdict
    score: int  # 0..100
    report_url: str


@dataclass
class _Api:
    """One sandbox's HTTP client with bounded retries and errors named after the product."""

    sandbox: SandboxService
    client: httpx.AsyncClient

    @property
    def name(self) -> str:
        return NAMES[self.sandbox.backend]

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        key = self.sandbox.api_key.get_secret_value() if self.sandbox.api_key else None
        attempt = 0
        while True:
            with service_errors(self.name, [key]):
                response = await self.client.request(method, path, **kwargs)
            status = response.status_code
            retryable = status in RETRY_STATUSES and (method in IDEMPOTENT or status in SAFE_TO_REPEAT)
            if retryable and attempt < self.sandbox.max_retries:
                attempt += 1
                await asyncio.sleep(self._delay(response, attempt))
                continue
            if status >= 400:
                raise status_error(self.name, status, response.text, secrets=[key])
            try:
                return response.json()
            except ValueError:
                raise ServiceCallError(
                    self.name, f"answered {path} with non-JSON: {response.text[:200]!r}"
                ) from None

    def _delay(self, response: httpx.Response, attempt: int) -> float:
        retry_after = response.headers.get("Retry-After", "")
        if retry_after.isdigit():
            return min(float(retry_after), self.sandbox.max_retry_after_s)
        return min(0.5 * 2 ** (attempt - 1), self.sandbox.max_retry_after_s)


def _client(sandbox: SandboxService) -> httpx.AsyncClient:
    key = sandbox.api_key.get_secret_value() if sandbox.api_key else None
    guard_secrets(key)
    headers = {"Accept": "application/json"}
    if key and sandbox.backend == "cuckoo":
        headers["Authorization"] = f"Bearer {key}"
    elif key and sandbox.backend == "hybrid_analysis":
        headers["api-key"] = key
        headers["User-Agent"] = "Falcon Sandbox"  # Hybrid Analysis refuses other agents
    elif key and sandbox.backend == "vmray":
        headers["Authorization"] = f"api_key {key}"
    return httpx.AsyncClient(
        base_url=sandbox.url.rstrip("/"),
        headers=headers,
        verify=sandbox.verify_tls,
        timeout=sandbox.request_timeout_s,
    )


class _Poller:
    """Waits between status polls, doubling up to a cap, until the analysis timeout."""

    def __init__(self, api: _Api, sample: str) -> None:
        self.api = api
        self.sample = sample
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + api.sandbox.analysis_timeout_s
        self._wait = api.sandbox.poll_interval_s

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        remaining = self._deadline - loop.time()
        if remaining <= 0:
            raise ServiceTimeoutError(
                self.api.name,
                f"analysis of {self.sample} did not finish within {self.api.sandbox.analysis_timeout_s:g} s",
            )
        await asyncio.sleep(min(self._wait, remaining))
        self._wait = min(self._wait * 2, self.api.sandbox.max_poll_interval_s)


def _web(sandbox: SandboxService) -> str:
    return (sandbox.report_url or sandbox.url).rstrip("/")


async def _cuckoo(api: _Api, path: Path, data: bytes, sha256: str) -> SandboxVerdict:
    created = await api.call("POST", "/tasks/create/file", files={"file": (path.name, data)})
    task_id = created["task_id"]
    poller = _Poller(api, path.name)
    while True:
        status = (await api.call("GET", f"/tasks/view/{task_id}"))["task"]["status"]
        if status == "reported":
            break
        if str(status).startswith("failed"):
            raise ServiceCallError(api.name, f"analysis {task_id} of {path.name} ended as {status}")
        await poller.wait()
    report = await api.call("GET", f"/tasks/report/{task_id}")
    score = float(report.get("info", {}).get("score", 0.0))  # Cuckoo scores 0..10 (and above, for many hits)
    verdict: Verdict = "malicious" if score >= 7 else "suspicious" if score >= 4 else "clean"
    return SandboxVerdict(
        backend="cuckoo",
        sample=path.name,
        sha256=sha256,
        analysis_id=str(task_id),
        verdict=verdict,
        score=min(100, round(score * 10)),
        report_url=f"{_web(api.sandbox)}/analysis/{task_id}/summary",
    )


_HA_VERDICTS: dict[str, Verdict] = {"malicious": "malicious", "suspicious": "suspicious"}


async def _hybrid_analysis(api: _Api, path: Path, data: bytes, sha256: str) -> SandboxVerdict:
    created = await api.call(
        "POST",
        "/api/v2/submit/file",
        files={"file": (path.name, data)},
        data={"environment_id": str(api.sandbox.environment_id)},
    )
    job_id = created["job_id"]
    poller = _Poller(api, path.name)
    while True:
        state = await api.call("GET", f"/api/v2/report/{job_id}/state")
        if state["state"] == "SUCCESS":
            break
        if state["state"] == "ERROR":
            raise ServiceCallError(
                api.name, f"analysis {job_id} of {path.name} failed: {state.get('error') or 'ERROR'}"
            )
        await poller.wait()
    summary = await api.call("GET", f"/api/v2/report/{job_id}/summary")
    return SandboxVerdict(
        backend="hybrid_analysis",
        sample=path.name,
        sha256=summary.get("sha256") or sha256,
        analysis_id=str(job_id),
        verdict=_HA_VERDICTS.get(str(summary.get("verdict")), "clean"),
        score=int(summary.get("threat_score") or 0),
        report_url=f"{_web(api.sandbox)}/sample/{summary.get('sha256') or sha256}/{job_id}",
    )


_VMRAY_RANK: dict[str, int] = {"clean": 0, "not_suspicious": 0, "suspicious": 1, "malicious": 2}
_VMRAY_VERDICTS: tuple[Verdict, ...] = ("clean", "suspicious", "malicious")


async def _vmray(api: _Api, path: Path, data: bytes, sha256: str) -> SandboxVerdict:
    created = (await api.call("POST", "/rest/sample/submit", files={"sample_file": (path.name, data)}))[
        "data"
    ]
    if created.get("errors"):
        raise ServiceCallError(
            api.name, f"refused {path.name}: {created['errors'][0].get('error_msg', created['errors'][0])}"
        )
    submission = created["submissions"][0]
    submission_id = submission["submission_id"]
    poller = _Poller(api, path.name)
    while not (await api.call("GET", f"/rest/submission/{submission_id}"))["data"].get("submission_finished"):
        await poller.wait()
    analyses = (await api.call("GET", f"/rest/analysis/submission/{submission_id}"))["data"]
    rank = max(
        (_VMRAY_RANK.get(str(a.get("analysis_verdict") or a.get("analysis_severity")), 0) for a in analyses),
        default=0,
    )
    scores = [int(a["analysis_vti_score"]) for a in analyses if a.get("analysis_vti_score") is not None]
    sample = (created.get("samples") or [{}])[0]
    return SandboxVerdict(
        backend="vmray",
        sample=path.name,
        sha256=sample.get("sample_sha256hash") or sha256,
        analysis_id=str(submission_id),
        verdict=_VMRAY_VERDICTS[rank],
        score=max(scores) if scores else rank * 50,
        report_url=sample.get("sample_webif_url")
        or f"{_web(api.sandbox)}/user/sample/view?id={submission['submission_sample_id']}",
    )


_BACKENDS = {"cuckoo": _cuckoo, "hybrid_analysis": _hybrid_analysis, "vmray": _vmray}


def _read_sample(file_path: str | Path, local_roots: Sequence[str]) -> tuple[Path, bytes]:
    path = Path(resolved_local_path(str(file_path), local_roots, where="sample"))
    if not path.is_file():
        raise ValueError(f"{path} is not a regular file; give the path of the sample to analyse")
    size = path.stat().st_size
    if size == 0 or size > MAX_SAMPLE_BYTES:
        raise ValueError(f"{path} has {size} bytes; a sample must have 1 byte to {MAX_SAMPLE_BYTES} bytes")
    return path, path.read_bytes()


async def analyse_file(
    sandbox: SandboxService, file_path: str | Path, local_roots: Sequence[str]
) -> SandboxVerdict:
    """Submit `file_path` to the block's sandbox and wait for its verdict (see `submit_to_sandbox`)."""
    path, data = await asyncio.to_thread(_read_sample, file_path, local_roots)
    sha256 = hashlib.sha256(data).hexdigest()
    async with _client(sandbox) as client:
        verdict = await _BACKENDS[sandbox.backend](_Api(sandbox, client), path, data, sha256)
    run_logger().info(
        "%s: %s (%s) is %s, score %d: %s",
        NAMES[sandbox.backend],
        path.name,
        sha256,
        verdict.verdict,
        verdict.score,
        verdict.report_url,
    )
    return verdict


@task(cache_policy=NO_CACHE)  # it acts on the world: never answer from a cache
async def submit_to_sandbox(
    sandbox: SandboxService, file_path: str, *, local_roots: Sequence[str] = ()
) -> SandboxVerdict:
    """Submit a file to Cuckoo, Hybrid Analysis or VMRay (as the block says) and return the verdict.

    The file must lie inside `local_roots` (symlinks followed; empty: no file at all): a path
    from an alert must never upload this machine's files to a sandbox, often a public one.
    Polls with a doubling interval up to `max_poll_interval_s`; gives up after `analysis_timeout_s`.
    """
    return await analyse_file(sandbox, file_path, local_roots)
