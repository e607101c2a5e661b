"""ZAP scans through zapv2, with a local server standing in for the ZAP daemon's proxy/API port."""

from __future__ import annotations

import pytest
from prefect import flow
from pytest_httpserver import HTTPServer

from alertmodel.errors import ServiceAuthError, ServiceServerError, ServiceTimeoutError
from blocks.zap import ZapScanner
from tasks.zap import check_target, scan_web_application, scan_with_zap, summarize_alerts
from tests.tasks.conftest import StalledServer, artifacts_of, assert_secret_absent

KEY = "zap-api-key-7g3k9q2m"
TARGET = "http://127.0.0.1:8000/shop"


def zap_alert(
    plugin: str, name: str, risk: str, url: str, confidence: str = "Medium", cwe: str = "693"
) -> dict:
    return {
        "sourceid": "3",
        "other": "",
        "method": "GET",
        "evidence": "",
        "pluginId": plugin,
        "cweid": cwe,
        "confidence": confidence,
        "sourceMessageId": 1,
        "wascid": "15",
        "description": f"{name} description",
        "messageId": "1",
        "inputVector": "",
        "url": url,
        "tags": {},
        "reference": "https://owasp.org",
        "solution": f"Fix {name}",
        "alert": name,
        "param": "",
        "attack": "",
        "name": name,
        "risk": risk,
        "id": "0",
        "alertRef": f"{plugin}-1",
    }


ALERTS = [
    zap_alert("10038", "Content Security Policy (CSP) Header Not Set", "Medium", f"{TARGET}/"),
    zap_alert("10038", "Content Security Policy (CSP) Header Not Set", "Medium", f"{TARGET}/cart"),
    zap_alert("40018", "SQL Injection", "High", f"{TARGET}/item?id=1", "High", "89"),
    zap_alert("10021", "X-Content-Type-Options Header Missing", "Low", f"{TARGET}/"),
    zap_alert("10109", "Modern Web Application", "Informational", f"{TARGET}/", "Medium", "-1"),
]


def scanner(httpserver: HTTPServer, **overrides: object) -> ZapScanner:
    fields = {
        "proxy_url": httpserver.url_for("/").rstrip("/"),
        "api_key": KEY,
        "poll_interval_s": 0.05,
        "request_timeout_s": 10,
        "max_retry_after_s": 5,
        "target_prefixes": ["http://127.0.0.1:8000/"],
    }
    fields.update(overrides)
    return ZapScanner(**fields)


def serve_scan(httpserver: HTTPServer, alerts: list[dict]) -> None:
    api = "/JSON/"
    httpserver.expect_oneshot_request(
        f"{api}spider/action/scan/", headers={"X-ZAP-API-Key": KEY}
    ).respond_with_json({"scan": "4"})
    for progress in ("0", "45", "100"):
        httpserver.expect_oneshot_request(
            f"{api}spider/view/status/", query_string={"scanId": "4"}
        ).respond_with_json({"status": progress})
    httpserver.expect_oneshot_request(f"{api}spider/view/results/").respond_with_json(
        {"results": [f"{TARGET}/", f"{TARGET}/cart", f"{TARGET}/item?id=1"]}
    )
    httpserver.expect_oneshot_request(f"{api}ascan/action/scan/").respond_with_json({"scan": "9"})
    for progress in ("12", "100"):
        httpserver.expect_oneshot_request(
            f"{api}ascan/view/status/", query_string={"scanId": "9"}
        ).respond_with_json({"status": progress})
    httpserver.expect_oneshot_request(f"{api}alert/view/alerts/").respond_with_json({"alerts": alerts})


async def test_a_scan_spiders_then_active_scans_then_summarizes_the_alerts(httpserver: HTTPServer) -> None:
    serve_scan(httpserver, ALERTS)

    result = await scan_web_application(scanner(httpserver), TARGET, page=500)

    assert result.spider_urls == 3 and result.alerts == 5
    assert result.risk_counts == {"High": 1, "Medium": 2, "Low": 1, "Informational": 1}
    assert [(f.name, f.risk, f.count) for f in result.top_findings] == [
        ("SQL Injection", "High", 1),
        ("Content Security Policy (CSP) Header Not Set", "Medium", 2),
        ("X-Content-Type-Options Header Missing", "Low", 1),
        ("Modern Web Application", "Informational", 1),
    ]
    assert result.top_findings[0].cwe_id == "89"
    calls = [(r.host, r.path, dict(r.args)) for r, _ in httpserver.log]
    assert all(
        host == "zap" for host, _, _ in calls
    )  # zapv2 speaks to http://zap/ through the daemon's proxy port
    assert calls[0][1:] == (
        "/JSON/spider/action/scan/",
        {"url": TARGET, "recurse": "True", "subtreeOnly": "True"},
    )
    assert ("/JSON/ascan/action/scan/", {"url": TARGET, "recurse": "True"}) in [c[1:] for c in calls]
    assert calls[-1][1:] == ("/JSON/alert/view/alerts/", {"baseurl": TARGET, "start": "0", "count": "500"})
    assert all(r.headers["X-ZAP-API-Key"] == KEY and "apikey" not in r.args for r, _ in httpserver.log)
    httpserver.check_assertions()


async def test_alerts_are_fetched_page_by_page(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/JSON/spider/action/scan/").respond_with_json({"scan": "1"})
    httpserver.expect_oneshot_request("/JSON/spider/view/status/").respond_with_json({"status": "100"})
    httpserver.expect_oneshot_request("/JSON/spider/view/results/").respond_with_json({"results": []})
    httpserver.expect_oneshot_request(
        "/JSON/alert/view/alerts/", query_string={"baseurl": TARGET, "start": "0", "count": "2"}
    ).respond_with_json({"alerts": ALERTS[:2]})
    httpserver.expect_oneshot_request(
        "/JSON/alert/view/alerts/", query_string={"baseurl": TARGET, "start": "2", "count": "2"}
    ).respond_with_json({"alerts": ALERTS[2:4]})
    httpserver.expect_oneshot_request(
        "/JSON/alert/view/alerts/", query_string={"baseurl": TARGET, "start": "4", "count": "2"}
    ).respond_with_json({"alerts": ALERTS[4:]})

    result = await scan_web_application(scanner(httpserver), TARGET, active=False, page=2)

    assert result.alerts == 5
    assert not any(r.path.startswith("/JSON/ascan") for r, _ in httpserver.log)
    httpserver.check_assertions()


async def test_a_scan_that_does_not_finish_in_time_is_stopped(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/JSON/spider/action/scan/").respond_with_json({"scan": "2"})
    httpserver.expect_request("/JSON/spider/view/status/").respond_with_json({"status": "30"})
    httpserver.expect_oneshot_request(
        "/JSON/spider/action/stop/", query_string={"scanId": "2"}
    ).respond_with_json({"Result": "OK"})

    with pytest.raises(
        ServiceTimeoutError, match=r"ZAP: spider of .* did not finish within 0\.3 s \(stopped at 30%\)"
    ):
        await scan_web_application(scanner(httpserver, spider_timeout_s=0.3), TARGET)
    httpserver.check_assertions()


async def test_a_bad_api_key_is_an_auth_error_without_the_key(
    httpserver: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    httpserver.expect_request("/JSON/spider/action/scan/").respond_with_json(
        {"code": "bad_api_key", "message": "Provided API key is missing or invalid."}, status=400
    )
    with pytest.raises(ServiceAuthError, match="ZAP: spider/action/scan: rejected the API key") as caught:
        await scan_web_application(scanner(httpserver, api_key="wrong-key-123"), TARGET)
    assert_secret_absent("wrong-key-123", caught.value, caplog)


async def test_zap_internal_errors_are_retried_for_reads_then_reported(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/JSON/spider/action/scan/").respond_with_json({"scan": "3"})
    httpserver.expect_request("/JSON/spider/view/status/").respond_with_json(
        {"code": "internal_error", "message": "Internal Error"}, status=500
    )
    with pytest.raises(ServiceServerError, match="ZAP: failed after the retries: spider/view/status"):
        await scan_web_application(scanner(httpserver, max_retries=2), TARGET)
    assert sum(r.path == "/JSON/spider/view/status/" for r, _ in httpserver.log) == 3


async def test_a_slow_zap_is_a_timeout_error(stalled: StalledServer) -> None:
    stalled.server.expect_request("/JSON/spider/action/scan/").respond_with_handler(stalled.stall())
    with pytest.raises(ServiceTimeoutError, match="ZAP: did not answer in time"):
        await scan_web_application(scanner(stalled.server, request_timeout_s=0.5), TARGET)


def test_a_target_that_is_not_a_web_url_is_refused() -> None:
    import anyio

    with pytest.raises(ValueError, match="not an http"):
        anyio.run(lambda: scan_web_application(ZapScanner(api_key="k"), "ftp://files.example.org/"))
    with pytest.raises(ValueError, match="must be an http"):
        ZapScanner(api_key="k", target_prefixes=["files.example.org"])


async def test_only_targets_inside_the_scanner_prefixes_are_scanned(httpserver: HTTPServer) -> None:
    shop = scanner(httpserver, target_prefixes=["http://127.0.0.1:8000/shop", "https://App.example.org"])
    for allowed in [TARGET, f"{TARGET}/cart?x=1", "https://app.example.org:443/login"]:
        assert check_target(allowed, shop.target_prefixes) == allowed
    for forged in [
        "http://127.0.0.1:8000/shopping",
        "http://127.0.0.1:8000/",
        "http://127.0.0.1:8001/shop",
        "https://127.0.0.1:8000/shop",
        "http://203.0.113.9/",
        "http://app.example.org/",
        "https://app.example.org.evil.example/",
    ]:
        with pytest.raises(ValueError, match="not inside the scanner's target_prefixes"):
            await scan_web_application(shop, forged)
    for forged in [
        "http://127.0.0.1:8000/shop/../admin",
        "http://127.0.0.1:8000/shop/%2e%2e/admin",
        "http://x@127.0.0.1:8000/shop",
    ]:
        with pytest.raises(ValueError, match=r"user name or a '\.\.' segment"):
            await scan_web_application(shop, forged)
    with pytest.raises(ValueError, match=r"target_prefixes \[\]"):
        await scan_web_application(scanner(httpserver, target_prefixes=[]), TARGET)
    assert httpserver.log == []


def test_summaries_keep_only_the_top_findings_worst_first() -> None:
    many = [zap_alert(str(i), f"Finding {i}", "Low", f"{TARGET}/{i}") for i in range(12)] + ALERTS[2:3]
    result = summarize_alerts(TARGET, 0, many, top=3)
    assert [f.name for f in result.top_findings] == ["SQL Injection", "Finding 0", "Finding 1"]
    assert result.risk_counts["Low"] == 12


async def test_in_a_flow_the_scan_leaves_a_markdown_artifact(
    httpserver: HTTPServer, prefect_server: object
) -> None:
    serve_scan(httpserver, ALERTS)

    @flow
    async def scan_shop() -> tuple[object, object]:
        from prefect.runtime import flow_run

        return flow_run.id, await scan_with_zap(scanner(httpserver), TARGET)

    run_id, result = await scan_shop()

    assert result.alerts == 5  # type: ignore[attr-defined]
    [artifact] = [a for a in await artifacts_of(run_id) if a.key == "zap-127-0-0-1"]
    assert artifact.type == "markdown"
    assert "| High | High | SQL Injection | 1 |" in artifact.data
