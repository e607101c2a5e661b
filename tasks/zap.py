"""ZAP jobs: spider and active-scan a web application, then summarize the alerts ZAP raised."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

import anyio
import requests
from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel
from zapv2 import ZAPv2

from alertmodel.errors import ServiceAuthError, ServiceTimeoutError
from blocks.run_context import run_logger
from blocks.zap import ZapScanner
from tasks._common import guard_secrets, mount_retries, service_errors, status_error

INTEGRATION = "ZAP"
RISKS = ("High", "Medium", "Low", "Informational")
_RISK_ORDER = {risk: i for i, risk in enumerate(RISKS)}


class ZapFinding(BaseModel):
    """One kind of issue (ZAP plugin), how many times it was raised and where first."""

    plugin_id: str
    name: str
    risk: str
    confidence: str
    count: int
    example_url: str
    cwe_id: str = ""
    solution: str = ""


class ZapScanResult(BaseModel):
    """What a ZAP scan of `target` found: counts per risk and the worst findings first."""

    target: str
    spider_urls: int
    alerts: int
    risk_counts: dict[str, int]
    top_findings: list[ZapFinding]

    def markdown(self) -> str:
        """A short report for the Prefect UI."""
        counts = " | ".join(f"{risk}: {self.risk_counts.get(risk, 0)}" for risk in RISKS)
        lines = [
            f"# ZAP scan of {self.target}",
            "",
            f"{self.spider_urls} URLs spidered, {self.alerts} alerts. {counts}",
            "",
            "| Risk | Confidence | Finding | Count | Example | CWE |",
            "|---|---|---|---|---|---|",
        ]
        for f in self.top_findings:
            lines.append(
                f"| {f.risk} | {f.confidence} | {f.name} | {f.count} | {f.example_url} | {f.cwe_id} |"
            )
        return "\n".join(lines) + "\n"


class _Zap(ZAPv2):
    """zapv2's client with our transport: one session with bounded retries, a timeout and named errors."""

    def __init__(self, scanner: ZapScanner) -> None:
        key = scanner.api_key.get_secret_value()
        guard_secrets(key)
        super().__init__(proxies={"http": scanner.proxy_url, "https": scanner.proxy_url}, apikey=key)
        self._key = key
        self._proxy = scanner.proxy_url
        self._session = requests.Session()
        mount_retries(
            self._session,
            max_retries=scanner.max_retries,
            max_retry_after_s=scanner.max_retry_after_s,
            timeout_s=scanner.request_timeout_s,
        )

    def _request_api(
        self, url: str, query: Any = None, method: str = "GET", body: Any = None
    ) -> requests.Response:
        if not url.startswith("http://zap/"):
            raise ValueError(f"not a ZAP API URL: {url}")  # never send the key anywhere else
        with service_errors(INTEGRATION, [self._key]):
            response = self._session.request(
                method,
                url,
                params=query,
                data=body,
                headers={"X-ZAP-API-Key": self._key},
                proxies={"http": self._proxy, "https": self._proxy},
            )
        if response.status_code >= 400:
            # ZAP answers {"code": "bad_api_key", "message": ...} and the like; name the call, not the key.
            call = url.removeprefix("http://zap/JSON/").rstrip("/")
            if "bad_api_key" in response.text:
                raise ServiceAuthError(
                    INTEGRATION, f"{call}: rejected the API key", status=response.status_code
                )
            raise status_error(
                INTEGRATION, response.status_code, f"{call}: {response.text}", secrets=[self._key]
            )
        return response


def _wait(
    poll: Callable[[], str], stop: Callable[[], Any], what: str, timeout_s: float, interval_s: float, log: Any
) -> None:
    deadline = time.monotonic() + timeout_s
    last = -1
    while True:
        progress = int(poll())
        if progress != last:
            log.info("ZAP %s: %d%%", what, progress)
            last = progress
        if progress >= 100:
            return
        if time.monotonic() >= deadline:
            stop()
            raise ServiceTimeoutError(
                INTEGRATION, f"{what} did not finish within {timeout_s:g} s (stopped at {progress}%)"
            )
        time.sleep(interval_s)


def summarize_alerts(
    target: str, spider_urls: int, alerts: list[dict[str, Any]], top: int = 10
) -> ZapScanResult:
    """Risk counts and the `top` findings (by risk, then how often), from ZAP's alert JSON."""
    risk_counts = Counter(str(a.get("risk", "Informational")) for a in alerts)
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for alert in alerts:
        key = (
            str(alert.get("pluginId", "")),
            str(alert.get("name") or alert.get("alert", "")),
            str(alert.get("risk")),
        )
        groups.setdefault(key, []).append(alert)
    findings = [
        ZapFinding(
            plugin_id=plugin,
            name=name,
            risk=risk,
            confidence=str(members[0].get("confidence", "")),
            count=len(members),
            example_url=str(members[0].get("url", "")),
            cwe_id=str(members[0].get("cweid", "")),
            solution=str(members[0].get("solution", ""))[:500],
        )
        for (plugin, name, risk), members in groups.items()
    ]
    findings.sort(key=lambda f: (_RISK_ORDER.get(f.risk, len(RISKS)), -f.count, f.name))
    return ZapScanResult(
        target=target,
        spider_urls=spider_urls,
        alerts=len(alerts),
        risk_counts={risk: risk_counts.get(risk, 0) for risk in RISKS},
        top_findings=findings[:top],
    )


def _scan_sync(scanner: ZapScanner, target: str, active: bool, top: int, page: int) -> ZapScanResult:
    zap = _Zap(scanner)
    log = run_logger()
    spider_id = zap.spider.scan(url=target, recurse=True, subtreeonly=True)
    _wait(
        lambda: zap.spider.status(spider_id),
        lambda: zap.spider.stop(spider_id),
        f"spider of {target}",
        scanner.spider_timeout_s,
        scanner.poll_interval_s,
        log,
    )
    spider_urls = len(zap.spider.results(spider_id))
    if active:
        scan_id = zap.ascan.scan(url=target, recurse=True)
        _wait(
            lambda: zap.ascan.status(scan_id),
            lambda: zap.ascan.stop(scan_id),
            f"active scan of {target}",
            scanner.active_scan_timeout_s,
            scanner.poll_interval_s,
            log,
        )
    alerts: list[dict[str, Any]] = []
    while True:
        batch = zap.alert.alerts(baseurl=target, start=len(alerts), count=page)
        alerts.extend(batch)
        if len(batch) < page:
            break
    return summarize_alerts(target, spider_urls, alerts, top)


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    return (parts.scheme, (parts.hostname or "").lower(), parts.port or default)


def check_target(target: str, prefixes: Sequence[str]) -> str:
    """`target` if it is an http(s) URL inside one of the scanner's `target_prefixes`; else ValueError.

    A target may come from an alert: ZAP attacks what it scans, so only listed applications.
    """
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{target!r} is not an http(s) URL; give the application's base URL")
    if parts.username is not None or ".." in unquote(parts.path).split("/"):
        raise ValueError(f"{target!r} has a user name or a '..' segment; give the application's base URL")
    for prefix in prefixes:
        base = urlsplit(prefix).path.rstrip("/")
        if _origin(target) == _origin(prefix) and (parts.path == base or parts.path.startswith(base + "/")):
            return target
    raise ValueError(
        f"{target!r} is not inside the scanner's target_prefixes {list(prefixes)}; "
        "add the application to the ZapScanner block to scan it"
    )


async def scan_web_application(
    scanner: ZapScanner, target: str, *, active: bool = True, top: int = 10, page: int = 500
) -> ZapScanResult:
    """Spider (and, unless `active` is off, actively scan) `target`, then summarize its alerts.

    `target` must lie inside the scanner block's `target_prefixes`.
    """
    check_target(target, scanner.target_prefixes)
    result = await anyio.to_thread.run_sync(lambda: _scan_sync(scanner, target, active, top, page))
    run_logger().info("ZAP scan of %s: %d alerts (%s)", target, result.alerts, result.risk_counts)
    return result


@task(cache_policy=NO_CACHE)  # it acts on the world: never answer from a cache
async def scan_with_zap(
    scanner: ZapScanner, target: str, active: bool = True, top: int = 10
) -> ZapScanResult:
    """Spider and active-scan a web application with ZAP; the summary is also a markdown artifact."""
    result = await scan_web_application(scanner, target, active=active, top=top)
    from prefect.artifacts import acreate_markdown_artifact

    host = urlsplit(target).hostname or "target"
    await acreate_markdown_artifact(
        key=f"zap-{host.replace('.', '-').lower()}"[:60],
        markdown=result.markdown(),
        description=f"ZAP scan of {target}",
    )
    return result
