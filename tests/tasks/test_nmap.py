"""nmap_scan with real nmap against the loopback sshd test hosts."""

from __future__ import annotations

from typing import Any

import pytest
from prefect import flow
from prefect.runtime import flow_run

from tasks.nmap import nmap_scan, validate_ports, validate_targets
from tests.tasks.conftest import artifacts_of

pytestmark = pytest.mark.integration


def test_targets_that_could_be_read_as_flags_are_refused() -> None:
    assert validate_targets(
        ["127.0.0.1", "10.0.0.0/16", "web-01.example.org"], networks=True, names=True
    ) == [
        "127.0.0.1",
        "10.0.0.0/16",
        "web-01.example.org",
    ]
    for bad in ["-oN/etc/passwd", "127.0.0.1 -iL /etc/shadow", "host;reboot", "--script=x", "10.0.0.0/x"]:
        with pytest.raises(ValueError, match="not an IP address"):
            validate_targets([bad], networks=True, names=True)
    with pytest.raises(TypeError):
        validate_targets("127.0.0.1")  # type: ignore[arg-type]


def test_a_target_is_one_address_unless_networks_or_names_are_allowed() -> None:
    assert validate_targets(["203.0.113.9", "2001:db8::1", "203.0.113.9/32"]) == [
        "203.0.113.9",
        "2001:db8::1",
        "203.0.113.9/32",
    ]
    for forged in ["0.0.0.0/0", "203.0.113.0/24", "::/0"]:
        with pytest.raises(ValueError, match="is a network; pass allow_networks=True"):
            validate_targets([forged])
    with pytest.raises(ValueError, match="is a host name; pass allow_names=True"):
        validate_targets(["scanme.example.org"])
    for wide in ["0.0.0.0/0", "10.0.0.0/8", "2001:db8::/64"]:
        with pytest.raises(ValueError, match="is wider than"):
            validate_targets([wide], networks=True)


async def test_a_forged_network_target_never_reaches_nmap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("nmap.PortScanner", lambda: pytest.fail("nmap was started"))
    with pytest.raises(ValueError, match="is a network"):
        await nmap_scan.fn(["0.0.0.0/0"], [22])


def test_port_specs_are_checked() -> None:
    assert validate_ports([22, 80]) == "22,80"
    assert validate_ports("22, 8000-8100,U:53") == "22,8000-8100,U:53"
    for bad in ["0", "70000", "22 --script x", "1-2-3", ""]:
        with pytest.raises(ValueError):
            validate_ports(bad)


async def test_an_unknown_profile_is_refused_with_the_allowed_names() -> None:
    with pytest.raises(ValueError, match="choose one of"):
        await nmap_scan.fn(["127.0.0.1"], [22], profile="-sS -O")


async def test_nmap_finds_the_test_sshd_ports_and_attaches_the_xml(
    ssh_hosts: Any, prefect_server: Any
) -> None:
    addresses = [h["address"] for h in ssh_hosts.hosts]
    ports = [h["port"] for h in ssh_hosts.hosts]

    @flow
    async def scan() -> tuple[Any, Any]:
        return await nmap_scan(addresses, ports), flow_run.id

    result, run_id = await scan()
    assert "-sT" in result.command_line
    for host in ssh_hosts.hosts:
        assert host["port"] in result.open_ports(host["address"])
    artifacts = await artifacts_of(run_id)
    assert len(artifacts) == 1 and artifacts[0].type == "markdown"
    assert "<nmaprun" in artifacts[0].data and ssh_hosts.hosts[0]["address"] in artifacts[0].data


async def test_the_service_version_profile_identifies_openssh(ssh_hosts: Any) -> None:
    host = ssh_hosts.hosts[0]
    result = await nmap_scan.fn([host["address"]], [host["port"]], profile="service-version")
    (port,) = result.hosts[0].ports
    assert (port.state, port.service, port.product) == ("open", "ssh", "OpenSSH")


def test_open_ports_of_hosts_that_are_up_become_posture_checks() -> None:
    from tasks.nmap import NmapHost, NmapPort, NmapScanResult, nmap_reports

    result = NmapScanResult(
        profile="tcp-connect",
        command_line="nmap -sT",
        elapsed_s=0.1,
        hosts=[
            NmapHost(
                address="127.0.0.9",
                hostnames=[],
                state="up",
                ports=[
                    NmapPort(
                        protocol="tcp",
                        port=22,
                        state="open",
                        service="ssh",
                        product="OpenSSH",
                        version="9.2p1",
                    ),
                    NmapPort(protocol="tcp", port=80, state="closed"),
                ],
            ),
            NmapHost(address="127.0.0.10", hostnames=[], state="down", ports=[]),
        ],
    )
    [report] = nmap_reports(result)
    assert (report.report_type, report.host) == ("nmap", "127.0.0.9")
    assert [(c.check_id, c.title, c.severity, c.detail) for c in report.checks] == [
        ("tcp/22", "Open port 22/tcp (ssh)", 1, "OpenSSH 9.2p1")
    ]
