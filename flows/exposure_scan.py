"""`exposure-scan`: Nmap over a target list (and ZAP over web targets), an HTML e-mail report
and a Prefect table artifact of every open port."""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import acreate_table_artifact
from pydantic import BaseModel

from blocks.smtp import SmtpServer
from blocks.zap import ZapScanner
from tasks.email import send_email_report
from tasks.nmap import nmap_scan
from tasks.zap import ZapScanResult, scan_with_zap


class OpenPort(BaseModel):
    """One open port a scan found."""

    address: str
    port: int
    protocol: str
    service: str


class ExposureReport(BaseModel):
    """What is exposed, and who was told."""

    targets: list[str]
    open_ports: list[OpenPort]
    web: list[ZapScanResult]
    emailed_to: list[str]


def open_ports(result: object) -> list[OpenPort]:
    """Open ports of an NmapScanResult, sorted by address and port."""
    found = [
        OpenPort(address=host.address, port=port.port, protocol=port.protocol, service=port.service)
        for host in result.hosts  # type: ignore[attr-defined]
        for port in host.ports
        if port.state == "open"
    ]
    return sorted(found, key=lambda p: (p.address, p.port))


@flow(name="exposure-scan")
async def exposure_scan(
    targets: list[str],
    recipients: list[str],
    ports: str | None = None,
    profile: str = "tcp-connect",
    smtp: str = "default",
    zap: str | None = None,
    web_targets: list[str] | None = None,
    active_web_scan: bool = False,
) -> ExposureReport:
    """Scan `targets` (allow-listed nmap `profile`), optionally ZAP-scan `web_targets`, e-mail the report."""
    if web_targets and not zap:
        raise ValueError("web_targets need a ZapScanner block: pass zap=<block name>")
    # Scans only read: safe to repeat. The targets are the operator's (this flow takes no
    # alert), so networks and host names are allowed.
    scan = await nmap_scan.with_options(retries=2, retry_delay_seconds=[5, 30])(
        targets, ports, profile=profile, allow_networks=True, allow_names=True
    )
    exposed = open_ports(scan)
    web: list[ZapScanResult] = []
    if zap and web_targets:
        scanner = await ZapScanner.aload(zap)
        for target in web_targets:
            # An active scan sends attacks: run it once, never again on a retry.
            scan_web = scan_with_zap if active_web_scan else scan_with_zap.with_options(retries=2)
            web.append(await scan_web(scanner, target, active=active_web_scan))
    table = [p.model_dump() for p in exposed]
    await acreate_table_artifact(
        key="exposure-scan", table=table or [{"open ports": "none"}], description="open ports"
    )
    web_lines = "; ".join(f"{w.target}: {w.risk_counts}" for w in web)
    report = await send_email_report(
        await SmtpServer.aload(smtp),
        recipients,
        f"[alertflow] exposure scan: {len(exposed)} open ports on {len(targets)} targets",
        {
            "title": "alertflow exposure scan",
            "summary": f"nmap {scan.command_line}: {len(exposed)} open ports."
            + (f" ZAP: {web_lines}" if web else ""),
            "table": table,
            "footer": "Sent by the exposure-scan playbook.",
        },
    )
    return ExposureReport(targets=targets, open_ports=exposed, web=web, emailed_to=report.recipients)
