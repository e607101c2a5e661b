"""`posture`: OpenSCAP, Wazuh SCA and Nmap reports → findings per host and check → posture alerts.

Each scanner's report of a host is recorded (`alertmodel.posture.record_report`); the findings
its report type's mode selects (`all`, `unconfirmed` or `new`, default `new`) become alerts:
generic records (source OpenSCAP, Wazuh SCA or Nmap; event = the check id; agent = the host;
category `posture`) written as one JSON-lines file into the drop directory, which `alertflow up`
imports like any other alert file (the policy, response profiles and all). A host whose scan
fails is reported in the result and fails the run, after the other hosts' reports are stored:
an incomplete report is never recorded, so it cannot make findings look resolved.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from prefect import flow, get_run_logger
from pydantic import BaseModel, SecretStr
from sqlmodel import Session

from alertmodel.engine import make_engine
from alertmodel.errors import AlertflowError, PlaybookFailed
from alertmodel.posture import MODES, REPORT_TYPES, CheckResult, HostReport, record_report
from alertmodel.settings import get_settings
from alertmodel.types import utcnow
from blocks.host import HostProfile
from blocks.wazuh import WazuhApi
from tasks.nmap import nmap_reports, nmap_scan
from tasks.openscap import DEBIAN_BENCHMARK, DEBIAN_OVAL, STANDARD_PROFILE, scan_with_openscap
from tasks.wazuh_sca import fetch_wazuh_sca

SOURCES = {"openscap": "OpenSCAP", "wazuh-sca": "Wazuh SCA", "nmap": "Nmap"}
CATEGORY = "posture"


class ReportSummary(BaseModel):
    """What one host's report changed."""

    report_type: str
    host: str
    report_id: int
    findings: int
    new: int
    resolved: int
    raised: int


class PostureRun(BaseModel):
    """The reports recorded, the alerts raised and where they went, and the scans that failed."""

    reports: list[ReportSummary]
    alerts: int
    alerts_file: str | None
    failed: list[str]


def alert_record(report_type: str, host: str, report_id: int, check: CheckResult, at: str) -> dict[str, Any]:
    """A finding as a generic alert record (`ingest.generic`)."""
    record: dict[str, Any] = {
        "source": SOURCES[report_type],
        "type": "HOST",
        "event": check.check_id,
        "severity": check.severity,
        "category": CATEGORY,
        "description": check.title,
        "agent": host,
        "info": f"{check.detail}; posture report {report_id}"
        if check.detail
        else f"posture report {report_id}",
        "time_event": at,
    }
    if report_type == "nmap":
        protocol, _, port = check.check_id.partition("/")
        record.update(type="NET", dstip=host, dstport=int(port) if port.isdigit() else 0, proto=protocol)
    return record


def write_alert_file(directory: Path, records: Sequence[dict[str, Any]]) -> Path:
    """Write the records as one JSON-lines file, appearing under its final name only when complete."""
    directory.mkdir(parents=True, exist_ok=True)
    name = f"posture-{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}.jsonl"
    temporary = directory / f".{name}.tmp"
    with open(temporary, "xb") as f:
        for record in records:
            f.write(orjson.dumps(record) + b"\n")
        f.flush()
        os.fsync(f.fileno())
    os.chmod(temporary, 0o600)
    final = directory / name
    os.rename(temporary, final)
    return final


def _modes(modes: dict[str, str] | None) -> dict[str, str]:
    chosen = {kind: "new" for kind in REPORT_TYPES}
    for kind, mode in (modes or {}).items():
        if kind not in REPORT_TYPES:
            raise ValueError(f"modes: unknown report type {kind!r}; expected {', '.join(REPORT_TYPES)}")
        if mode not in MODES:
            raise ValueError(f"modes[{kind!r}] must be one of {', '.join(MODES)}, not {mode!r}")
        chosen[kind] = mode
    return chosen


@flow(name="posture")
async def posture(
    openscap_hosts: list[str] | None = None,
    oscap_kind: str = "oval",
    oscap_content: str = DEBIAN_OVAL,
    oscap_benchmark: str | None = DEBIAN_BENCHMARK,
    oscap_definitions: list[str] | None = None,
    oscap_profile: str | None = STANDARD_PROFILE,
    wazuh: str | None = None,
    wazuh_agents: list[str] | None = None,
    nmap_targets: list[str] | None = None,
    nmap_ports: str = "1-1024",
    modes: dict[str, str] | None = None,
    alerts_dir: str | None = None,
    database_url: SecretStr | None = None,
) -> PostureRun:
    """Scan hosts (OpenSCAP over SSH on HostProfile blocks, Wazuh SCA via a WazuhApi block, Nmap),
    record each report's findings, and raise the ones `modes` selects as posture alerts.

    Args:
        openscap_hosts: HostProfile block names to run `oscap` on.
        oscap_kind: "oval" (Debian 12 with the Debian 11 SSG OVAL content) or "xccdf" (a data stream).
        oscap_definitions: evaluate exactly these OVAL definitions.
        oscap_profile: the XCCDF profile whose rules' OVAL definitions are evaluated (oval kind, when
            oscap_definitions is unset; None: the whole OVAL file), or that is evaluated (xccdf kind).
        wazuh: WazuhApi block name; wazuh_agents: the agent ids whose SCA results to read.
        nmap_targets: addresses or networks whose open ports are findings.
        modes: report type (openscap, wazuh-sca, nmap) → all | unconfirmed | new (default new).
        alerts_dir: where the alert file goes; the `alertflow up` drop directory when unset.
        database_url: the alert store; ALERTFLOW_DATABASE_URL (or the data dir's SQLite) when unset.
    """
    chosen = _modes(modes)
    if wazuh_agents and not wazuh:
        raise ValueError("wazuh_agents need a WazuhApi block: pass wazuh=<block name>")
    logger = get_run_logger()
    reports: list[HostReport] = []
    failed: list[str] = []
    for name in openscap_hosts or []:
        try:
            host = await HostProfile.aload(name)
            reports.append(
                await scan_with_openscap.with_options(retries=1, retry_delay_seconds=[30])(
                    host,
                    kind=oscap_kind,  # type: ignore[arg-type]
                    content=oscap_content,
                    benchmark=oscap_benchmark,
                    definitions=oscap_definitions,
                    profile=oscap_profile,
                )
            )
        except (AlertflowError, ValueError, OSError) as exc:
            logger.error("OpenSCAP scan of %s failed: %s", name, exc)
            failed.append(f"openscap {name}: {exc}"[:500])
    if wazuh and wazuh_agents:
        try:
            reports += await fetch_wazuh_sca(await WazuhApi.aload(wazuh), wazuh_agents)
        except (AlertflowError, ValueError) as exc:
            logger.error("Wazuh SCA read failed: %s", exc)
            failed.append(f"wazuh-sca: {exc}"[:500])
    if nmap_targets:
        try:
            scan = await nmap_scan.with_options(retries=2, retry_delay_seconds=[5, 30])(
                nmap_targets, nmap_ports, profile="tcp-connect", allow_networks=True, allow_names=True
            )
            reports += nmap_reports(scan)
        except (AlertflowError, ValueError) as exc:
            logger.error("Nmap scan failed: %s", exc)
            failed.append(f"nmap: {exc}"[:500])

    settings = get_settings()
    url = database_url.get_secret_value() if database_url else settings.resolved_database_url
    engine = make_engine(url)
    summaries: list[ReportSummary] = []
    records: list[dict[str, Any]] = []
    try:
        for report in reports:
            now = utcnow()
            with Session(engine) as session:
                outcome = record_report(
                    session,
                    report.report_type,
                    report.host,
                    report.checks,
                    mode=chosen[report.report_type],
                    now=now,
                )
                session.commit()
            at = now.isoformat()
            records += [
                alert_record(report.report_type, report.host, outcome.report_id, check, at)
                for check in outcome.raised
            ]
            summaries.append(
                ReportSummary(
                    report_type=report.report_type,
                    host=report.host,
                    report_id=outcome.report_id,
                    findings=len(report.checks),
                    new=len(outcome.new),
                    resolved=len(outcome.resolved),
                    raised=len(outcome.raised),
                )
            )
            logger.info(
                "%s report of %s: %d findings, %d new, %d resolved, %d raised (%s mode)",
                report.report_type,
                report.host,
                len(report.checks),
                len(outcome.new),
                len(outcome.resolved),
                len(outcome.raised),
                chosen[report.report_type],
            )
    finally:
        engine.dispose()
    alerts_file = None
    if records:
        directory = Path(alerts_dir) if alerts_dir else settings.data_dir.expanduser() / "drop"
        alerts_file = str(write_alert_file(directory, records))
        logger.info("%d posture alerts written to %s", len(records), alerts_file)
    result = PostureRun(reports=summaries, alerts=len(records), alerts_file=alerts_file, failed=failed)
    if failed:
        raise PlaybookFailed(f"{len(failed)} posture scans failed: {'; '.join(failed)}"[:2000])
    return result
