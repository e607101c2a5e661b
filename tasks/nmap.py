"""Scan hosts with nmap (python-nmap) using only allow-listed argument sets."""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Sequence
from typing import Any

import anyio
import nmap
from prefect import task
from pydantic import BaseModel

from alertmodel.errors import IntegrationError
from alertmodel.posture import CheckResult, HostReport
from blocks.run_context import in_run_context, run_logger

# The only nmap flags a playbook can ask for: alert data picks a profile name, never flags.
# Connect scans (-sT) work without root.
SCAN_PROFILES: dict[str, tuple[str, ...]] = {
    "tcp-connect": ("-sT", "-Pn", "-T4"),
    "service-version": ("-sT", "-Pn", "-T4", "-sV", "--version-light"),
    "top-100": ("-sT", "-Pn", "-T4", "--top-ports", "100"),
    "host-discovery": ("-sn",),
}
PORTLESS = {"top-100", "host-discovery"}
HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
MIN_PREFIX = {4: 16, 6: 112}
"""The widest network a scan may cover, when networks are allowed at all."""
PORT_ITEM = re.compile(r"^(?:[TU]:)?(\d{1,5})(?:-(\d{1,5}))?$")


class NmapPort(BaseModel):
    protocol: str
    port: int
    state: str
    service: str = ""
    product: str = ""
    version: str = ""


class NmapHost(BaseModel):
    address: str
    hostnames: list[str]
    state: str
    ports: list[NmapPort]


class NmapScanResult(BaseModel):
    """Hosts, their ports, states and services, as nmap reported them."""

    profile: str
    command_line: str
    hosts: list[NmapHost]
    elapsed_s: float

    def open_ports(self, address: str) -> list[int]:
        return [p.port for h in self.hosts if h.address == address for p in h.ports if p.state == "open"]


def validate_targets(targets: Sequence[str], *, networks: bool = False, names: bool = False) -> list[str]:
    """Single IP addresses; CIDR networks and DNS names only when allowed. Nothing nmap could read as a flag.

    A target may come from an alert (its srcip), which an attacker can forge: by default one
    address is one host, never 0.0.0.0/0 nor a name that resolves anywhere.
    """
    if isinstance(targets, str):
        raise TypeError("targets must be a list of addresses, networks or host names")
    if not targets:
        raise ValueError("give at least one target")
    checked = []
    for target in targets:
        if not isinstance(target, str):
            raise TypeError(f"target {target!r} must be a string")
        if "/" in target:
            try:
                net = ipaddress.ip_network(target, strict=False)
            except ValueError:
                raise ValueError(f"target {target!r} is not an IP address, network or host name") from None
            if net.num_addresses > 1 and not networks:
                raise ValueError(f"target {target!r} is a network; pass allow_networks=True to scan networks")
            if net.prefixlen < MIN_PREFIX[net.version]:
                raise ValueError(f"target {target!r} is wider than /{MIN_PREFIX[net.version]}")
            checked.append(str(net))
            continue
        try:
            checked.append(str(ipaddress.ip_address(target)))
        except ValueError:
            if not HOSTNAME.match(target):
                raise ValueError(f"target {target!r} is not an IP address, network or host name") from None
            if not names:
                raise ValueError(
                    f"target {target!r} is a host name; pass allow_names=True to scan host names"
                ) from None
            checked.append(target)
    return checked


def validate_ports(ports: str | Sequence[int]) -> str:
    """A port list such as '22,80,8000-8100' (or a list of ints), every port 1-65535."""
    text = ports if isinstance(ports, str) else ",".join(str(int(p)) for p in ports)
    items = text.split(",") if text else []
    if not items:
        raise ValueError("give at least one port")
    for item in items:
        match = PORT_ITEM.match(item.strip())
        if not match or not all(1 <= int(p) <= 65535 for p in match.groups() if p):
            raise ValueError(f"port spec {item!r} is not a port or range within 1-65535")
    return ",".join(i.strip() for i in items)


def _parse(scanner: nmap.PortScanner) -> list[NmapHost]:
    hosts = []
    for address in scanner.all_hosts():
        info: Any = scanner[address]
        ports = [
            NmapPort(
                protocol=proto,
                port=int(port),
                state=detail.get("state", ""),
                service=detail.get("name", ""),
                product=detail.get("product", ""),
                version=detail.get("version", ""),
            )
            for proto in ("tcp", "udp")
            for port, detail in sorted(info.get(proto, {}).items())
        ]
        names = [h["name"] for h in info.get("hostnames", []) if h.get("name")]
        hosts.append(NmapHost(address=address, hostnames=names, state=info.state(), ports=ports))
    return hosts


def _markdown(result: NmapScanResult, xml: str) -> str:
    lines = [f"# nmap scan ({result.profile})", "", f"`{result.command_line}`", ""]
    lines += ["| host | port | state | service | product |", "|---|---|---|---|---|"]
    for host in result.hosts:
        for port in host.ports:
            lines.append(
                f"| {host.address} | {port.port}/{port.protocol} | {port.state} | {port.service} | {port.product} {port.version} |"
            )
    lines += ["", "```xml", xml[:200_000], "```"]
    return "\n".join(lines)


@task(name="nmap_scan")
async def nmap_scan(
    targets: Sequence[str],
    ports: str | Sequence[int] | None = None,
    *,
    profile: str = "tcp-connect",
    timeout_s: float = 600,
    allow_networks: bool = False,
    allow_names: bool = False,
) -> NmapScanResult:
    """Scan `targets` with an allow-listed `profile`; the nmap XML is attached as an artifact.

    Targets are single IP addresses unless `allow_networks` (CIDR, /16 or /112 at the widest)
    or `allow_names` (DNS names) is set: turn those on only for targets an operator chose.
    """
    if profile not in SCAN_PROFILES:
        raise ValueError(f"unknown scan profile {profile!r}; choose one of {sorted(SCAN_PROFILES)}")
    hosts = validate_targets(targets, networks=allow_networks, names=allow_names)
    port_spec = None
    if profile not in PORTLESS:
        if ports is None:
            raise ValueError(f"profile {profile!r} needs ports")
        port_spec = validate_ports(ports)
    arguments = " ".join(SCAN_PROFILES[profile])
    scanner = nmap.PortScanner()
    started = time.monotonic()
    try:
        await anyio.to_thread.run_sync(
            lambda: scanner.scan(" ".join(hosts), port_spec, arguments=arguments, timeout=int(timeout_s))
        )
    except (nmap.PortScannerError, nmap.PortScannerTimeout) as exc:
        raise IntegrationError(f"nmap scan of {', '.join(hosts)[:200]} failed: {str(exc)[:300]}") from exc
    result = NmapScanResult(
        profile=profile,
        command_line=scanner.command_line(),
        hosts=_parse(scanner),
        elapsed_s=time.monotonic() - started,
    )
    run_logger().info("nmap %s: %d hosts up in %.1fs", profile, len(result.hosts), result.elapsed_s)
    if in_run_context():
        from prefect.artifacts import acreate_markdown_artifact

        xml = scanner.get_nmap_last_output()
        text = xml.decode("utf-8", errors="replace") if isinstance(xml, bytes) else str(xml)
        await acreate_markdown_artifact(markdown=_markdown(result, text), description=f"nmap {profile} scan")
    return result


OPEN_PORT_SEVERITY = 1


def nmap_reports(result: NmapScanResult) -> list[HostReport]:
    """One posture report per scanned host that was up: each open port is a finding (`tcp/22`)."""
    reports = []
    for host in result.hosts:
        if host.state != "up":
            continue
        checks = [
            CheckResult(
                check_id=f"{port.protocol}/{port.port}",
                title=f"Open port {port.port}/{port.protocol}"
                + (f" ({port.service})" if port.service else ""),
                severity=OPEN_PORT_SEVERITY,
                detail=" ".join(p for p in (port.product, port.version) if p) or f"nmap {result.profile}",
            )
            for port in host.ports
            if port.state == "open"
        ]
        reports.append(HostReport(report_type="nmap", host=host.address, checks=checks))
    return reports
