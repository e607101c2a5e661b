"""submit_to_sandbox against local servers answering Cuckoo, Hybrid Analysis v2 and VMRay REST JSON."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request

from alertmodel.errors import (
    ServiceAuthError,
    ServiceCallError,
    ServiceRateLimitedError,
    ServiceServerError,
    ServiceTimeoutError,
)
from blocks.sandbox import SandboxService
from tasks.sandbox import submit_to_sandbox
from tests.tasks.conftest import StalledServer, assert_secret_absent

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_SHA256 = hashlib.sha256(EICAR).hexdigest()
KEY = "sandboxKey-9f8e7d6c5b4a39281706"


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "invoice.exe"
    path.write_bytes(EICAR)
    return path


def sandbox(httpserver: HTTPServer, backend: str, **overrides: object) -> SandboxService:
    fields = {
        "backend": backend,
        "url": httpserver.url_for("/").rstrip("/"),
        "api_key": KEY,
        "poll_interval_s": 0.05,
        "max_poll_interval_s": 0.2,
        "analysis_timeout_s": 30,
        "request_timeout_s": 10,
        "max_retry_after_s": 5,
    }
    fields.update(overrides)
    return SandboxService(**fields)


def uploaded(request: Request, field: str) -> bytes:
    return request.files[field].read()


async def test_cuckoo_submits_polls_until_reported_and_scores_the_report(
    httpserver: HTTPServer, sample: Path
) -> None:
    httpserver.expect_oneshot_request(
        "/tasks/create/file", method="POST", headers={"Authorization": f"Bearer {KEY}"}
    ).respond_with_json({"task_id": 1337})
    for status in ("pending", "running", "completed"):
        httpserver.expect_oneshot_request("/tasks/view/1337").respond_with_json(
            {"task": {"id": 1337, "category": "file", "target": "/tmp/invoice.exe", "status": status}}
        )
    httpserver.expect_oneshot_request("/tasks/view/1337").respond_with_json(
        {"task": {"id": 1337, "status": "reported"}}
    )
    httpserver.expect_oneshot_request("/tasks/report/1337").respond_with_json(
        {
            "info": {"id": 1337, "category": "file", "score": 8.4, "package": "exe", "duration": 121},
            "target": {"category": "file", "file": {"name": "invoice.exe", "sha256": EICAR_SHA256}},
            "signatures": [{"name": "antivirus_virustotal", "severity": 3}],
        }
    )

    result = await submit_to_sandbox.fn(
        sandbox(httpserver, "cuckoo", report_url="http://cuckoo-web:8000"),
        str(sample),
        local_roots=[str(sample.parent)],
    )

    assert (result.verdict, result.score, result.analysis_id, result.sha256) == (
        "malicious",
        84,
        "1337",
        EICAR_SHA256,
    )
    assert result.report_url == "http://cuckoo-web:8000/analysis/1337/summary"
    create = httpserver.log[0][0]
    assert uploaded(create, "file") == EICAR and create.files["file"].filename == "invoice.exe"
    assert sum(r.path == "/tasks/view/1337" for r, _ in httpserver.log) == 4
    httpserver.check_assertions()


async def test_hybrid_analysis_sends_its_key_agent_and_environment(
    httpserver: HTTPServer, sample: Path
) -> None:
    job = "5f8d7e6c5b4a3928170f6e5d"
    httpserver.expect_oneshot_request(
        "/api/v2/submit/file", method="POST", headers={"api-key": KEY, "User-Agent": "Falcon Sandbox"}
    ).respond_with_json(
        {
            "job_id": job,
            "submission_id": "6a7b8c9d0e1f2a3b4c5d6e7f",
            "environment_id": 120,
            "sha256": EICAR_SHA256,
        },
        status=201,
    )
    httpserver.expect_oneshot_request(f"/api/v2/report/{job}/state").respond_with_json(
        {"state": "IN_QUEUE", "error_type": None, "error_origin": None, "error": None, "related_reports": []}
    )
    httpserver.expect_oneshot_request(f"/api/v2/report/{job}/state").respond_with_json(
        {"state": "SUCCESS", "error_type": None, "error_origin": None, "error": None, "related_reports": []}
    )
    httpserver.expect_oneshot_request(f"/api/v2/report/{job}/summary").respond_with_json(
        {
            "job_id": job,
            "environment_id": 120,
            "environment_description": "Windows 7 64 bit",
            "size": len(EICAR),
            "type": "EICAR virus test files",
            "md5": "44d88612fea8a8f36de82e1278abb02f",
            "sha1": "3395856ce81f2b7382dee72602f798b642f14140",
            "sha256": EICAR_SHA256,
            "verdict": "suspicious",
            "threat_score": 55,
            "threat_level": 1,
            "av_detect": 0,
            "vx_family": None,
        }
    )

    result = await submit_to_sandbox.fn(
        sandbox(httpserver, "hybrid_analysis", environment_id=120),
        str(sample),
        local_roots=[str(sample.parent)],
    )

    assert (result.verdict, result.score, result.analysis_id) == ("suspicious", 55, job)
    assert result.report_url.endswith(f"/sample/{EICAR_SHA256}/{job}")
    submit = httpserver.log[0][0]
    assert submit.form["environment_id"] == "120" and uploaded(submit, "file") == EICAR
    httpserver.check_assertions()


async def test_vmray_waits_for_the_submission_and_takes_the_worst_analysis(
    httpserver: HTTPServer, sample: Path
) -> None:
    httpserver.expect_oneshot_request(
        "/rest/sample/submit", method="POST", headers={"Authorization": f"api_key {KEY}"}
    ).respond_with_json(
        {
            "data": {
                "errors": [],
                "jobs": [{"job_id": 901, "job_sample_id": 42, "job_vm_name": "win10_64"}],
                "samples": [
                    {
                        "sample_id": 42,
                        "sample_sha256hash": EICAR_SHA256,
                        "sample_webif_url": "https://cloud.vmray.com/user/sample/view?id=42",
                    }
                ],
                "submissions": [
                    {"submission_id": 77, "submission_sample_id": 42, "submission_finished": False}
                ],
            },
            "result": "ok",
        }
    )
    httpserver.expect_oneshot_request("/rest/submission/77").respond_with_json(
        {"data": {"submission_id": 77, "submission_finished": False}, "result": "ok"}
    )
    httpserver.expect_oneshot_request("/rest/submission/77").respond_with_json(
        {
            "data": {"submission_id": 77, "submission_finished": True, "submission_verdict": "malicious"},
            "result": "ok",
        }
    )
    httpserver.expect_oneshot_request("/rest/analysis/submission/77").respond_with_json(
        {
            "data": [
                {"analysis_id": 1, "analysis_verdict": "clean", "analysis_vti_score": 5},
                {"analysis_id": 2, "analysis_verdict": "malicious", "analysis_vti_score": 92},
            ],
            "result": "ok",
        }
    )

    result = await submit_to_sandbox.fn(
        sandbox(httpserver, "vmray"), str(sample), local_roots=[str(sample.parent)]
    )

    assert (result.verdict, result.score, result.analysis_id) == ("malicious", 92, "77")
    assert result.report_url == "https://cloud.vmray.com/user/sample/view?id=42"
    assert uploaded(httpserver.log[0][0], "sample_file") == EICAR
    httpserver.check_assertions()


async def test_polling_gives_up_at_the_analysis_timeout(httpserver: HTTPServer, sample: Path) -> None:
    httpserver.expect_request("/tasks/create/file").respond_with_json({"task_id": 5})
    httpserver.expect_request("/tasks/view/5").respond_with_json({"task": {"id": 5, "status": "running"}})

    started = time.monotonic()
    with pytest.raises(
        ServiceTimeoutError, match=r"Cuckoo: analysis of invoice.exe did not finish within 1 s"
    ):
        await submit_to_sandbox.fn(
            sandbox(httpserver, "cuckoo", analysis_timeout_s=1, poll_interval_s=0.1),
            str(sample),
            local_roots=[str(sample.parent)],
        )

    assert time.monotonic() - started >= 0.95  # Retry-After: 1 was honoured


async def test_polls_back_off_doubling_up_to_the_cap(
    httpserver: HTTPServer, sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)

    import tasks.sandbox

    monkeypatch.setattr(tasks.sandbox.asyncio, "sleep", no_sleep)
    httpserver.expect_oneshot_request("/tasks/create/file").respond_with_json({"task_id": 7})
    for _ in range(5):
        httpserver.expect_oneshot_request("/tasks/view/7").respond_with_json(
            {"task": {"id": 7, "status": "running"}}
        )
    httpserver.expect_oneshot_request("/tasks/view/7").respond_with_json(
        {"task": {"id": 7, "status": "reported"}}
    )
    httpserver.expect_oneshot_request("/tasks/report/7").respond_with_json({"info": {"id": 7, "score": 5.0}})

    box = sandbox(httpserver, "cuckoo", poll_interval_s=0.1, max_poll_interval_s=0.4, analysis_timeout_s=600)
    result = await submit_to_sandbox.fn(box, str(sample), local_roots=[str(sample.parent)])

    assert result.verdict == "suspicious"
    assert waits == [0.1, 0.2, 0.4, 0.4, 0.4]


async def test_a_failed_analysis_is_an_error_naming_the_sample(httpserver: HTTPServer, sample: Path) -> None:
    httpserver.expect_request("/tasks/create/file").respond_with_json({"task_id": 6})
    httpserver.expect_request("/tasks/view/6").respond_with_json(
        {"task": {"id": 6, "status": "failed_analysis"}}
    )
    with pytest.raises(
        ServiceCallError, match=r"Cuckoo: analysis 6 of invoice\.exe ended as failed_analysis"
    ):
        await submit_to_sandbox.fn(
            sandbox(httpserver, "cuckoo"), str(sample), local_roots=[str(sample.parent)]
        )


async def test_a_rejected_key_is_an_auth_error_without_the_key(
    httpserver: HTTPServer, sample: Path, caplog: pytest.LogCaptureFixture
) -> None:
    httpserver.expect_request("/api/v2/submit/file").respond_with_json(
        {"validation_errors": [], "message": f"Invalid API key {KEY}"}, status=401
    )
    with pytest.raises(ServiceAuthError, match="Hybrid Analysis") as caught:
        await submit_to_sandbox.fn(
            sandbox(httpserver, "hybrid_analysis"), str(sample), local_roots=[str(sample.parent)]
        )
    assert_secret_absent(KEY, caught.value, caplog)


async def test_429_is_honoured_and_a_lasting_one_fails(httpserver: HTTPServer, sample: Path) -> None:
    httpserver.expect_oneshot_request("/rest/sample/submit").respond_with_json(
        {"error_msg": "Too many requests", "result": "error"}, status=429, headers={"Retry-After": "1"}
    )
    httpserver.expect_oneshot_request("/rest/sample/submit").respond_with_json(
        {"error_msg": "Too many requests", "result": "error"}, status=429, headers={"Retry-After": "1"}
    )
    started = time.monotonic()
    with pytest.raises(ServiceRateLimitedError, match="VMRay"):
        await submit_to_sandbox.fn(
            sandbox(httpserver, "vmray", max_retries=1), str(sample), local_roots=[str(sample.parent)]
        )
    assert time.monotonic() - started >= 0.95  # Retry-After: 1 was honoured
    assert len(httpserver.log) == 2


async def test_a_5xx_on_a_status_poll_is_retried_but_not_on_the_upload(
    httpserver: HTTPServer, sample: Path
) -> None:
    httpserver.expect_oneshot_request("/tasks/create/file").respond_with_json({"task_id": 8})
    httpserver.expect_oneshot_request("/tasks/view/8").respond_with_data("Bad Gateway", status=502)
    httpserver.expect_oneshot_request("/tasks/view/8").respond_with_json(
        {"task": {"id": 8, "status": "reported"}}
    )
    httpserver.expect_oneshot_request("/tasks/report/8").respond_with_json({"info": {"id": 8, "score": 0.2}})
    result = await submit_to_sandbox.fn(
        sandbox(httpserver, "cuckoo"), str(sample), local_roots=[str(sample.parent)]
    )
    assert (result.verdict, result.score) == ("clean", 2)

    httpserver.expect_request("/tasks/create/file").respond_with_data("Internal Server Error", status=500)
    with pytest.raises(ServiceServerError, match="Cuckoo"):
        await submit_to_sandbox.fn(
            sandbox(httpserver, "cuckoo"), str(sample), local_roots=[str(sample.parent)]
        )
    assert (
        sum(r.path == "/tasks/create/file" for r, _ in httpserver.log) == 2
    )  # one each: uploads never repeat on 500


async def test_a_slow_sandbox_is_a_timeout_error(stalled: StalledServer, sample: Path) -> None:
    stalled.server.expect_request("/tasks/create/file").respond_with_handler(stalled.stall())
    with pytest.raises(ServiceTimeoutError, match="Cuckoo: did not answer in time"):
        await submit_to_sandbox.fn(
            sandbox(stalled.server, "cuckoo", request_timeout_s=0.5),
            str(sample),
            local_roots=[str(sample.parent)],
        )


async def test_a_missing_or_empty_sample_is_refused_before_any_call(tmp_path: Path) -> None:
    box = SandboxService(backend="cuckoo", url="http://127.0.0.1:9")
    roots = [str(tmp_path)]
    with pytest.raises(ValueError, match="not a regular file"):
        await submit_to_sandbox.fn(box, str(tmp_path / "missing.exe"), local_roots=roots)
    (tmp_path / "empty.exe").write_bytes(b"")
    with pytest.raises(ValueError, match="0 bytes"):
        await submit_to_sandbox.fn(box, str(tmp_path / "empty.exe"), local_roots=roots)


async def test_a_sample_outside_the_local_roots_is_never_uploaded(
    httpserver: HTTPServer, sample: Path
) -> None:
    box = sandbox(httpserver, "cuckoo")
    link = sample.parent / "passwd"
    link.symlink_to("/etc/passwd")
    for path, roots, reason in [
        (str(sample), [], "no file roots are set"),
        ("/etc/passwd", [str(sample.parent)], "outside the allowed roots"),
        (f"{sample.parent}/../../etc/passwd", [str(sample.parent)], "traversal"),
        ("invoice.exe", [str(sample.parent)], "must be absolute"),
        (str(link), [str(sample.parent)], r"\(resolved\).*outside the allowed roots"),
    ]:
        with pytest.raises(ValueError, match=reason):
            await submit_to_sandbox.fn(box, path, local_roots=roots)
    assert httpserver.log == []
