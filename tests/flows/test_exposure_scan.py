from __future__ import annotations

import uuid
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from alertflow.up.prefect_server import LocalPrefectServer
from blocks.smtp import SmtpServer
from flows.exposure_scan import exposure_scan
from tests.conftest import SmtpSink
from tests.tasks.test_zap import ALERTS, TARGET, scanner, serve_scan

pytestmark = pytest.mark.integration


async def test_nmap_finds_the_sshd_ports_and_the_report_is_emailed(
    prefect_server: LocalPrefectServer, ssh_hosts: Any, smtp_sink: SmtpSink
) -> None:
    block = f"exposure-smtp-{uuid.uuid4().hex[:8]}"
    await SmtpServer(
        smtp_server=smtp_sink.host,
        smtp_port=smtp_sink.port,
        smtp_type="INSECURE",
        sender="soc@alertflow.test",
    ).save(block)
    hosts = ssh_hosts.hosts[:2]
    ports = ",".join(str(h["port"]) for h in hosts)

    report = await exposure_scan(
        targets=[h["address"] for h in hosts], recipients=["soc@alertflow.test"], ports=ports, smtp=block
    )

    assert {(p.address, p.port) for p in report.open_ports} == {(h["address"], h["port"]) for h in hosts}
    (message,) = smtp_sink.messages
    assert message["Subject"] == "[alertflow] exposure scan: 2 open ports on 2 targets"
    html = message.get_body(("html",)).get_content()
    for host in hosts:
        assert f"<td>{host['port']}</td>" in html


async def test_web_targets_without_a_zap_block_are_refused() -> None:
    with pytest.raises(ValueError, match="web_targets need a ZapScanner block"):
        await exposure_scan.fn(targets=["127.0.0.1"], recipients=["a@b.c"], web_targets=["http://127.0.0.1/"])


async def test_web_targets_are_zap_scanned_once_and_reported(
    prefect_server: LocalPrefectServer, ssh_hosts: Any, smtp_sink: SmtpSink, httpserver: HTTPServer
) -> None:
    tag = uuid.uuid4().hex[:8]
    await SmtpServer(
        smtp_server=smtp_sink.host,
        smtp_port=smtp_sink.port,
        smtp_type="INSECURE",
        sender="soc@alertflow.test",
    ).save(f"smtp-{tag}")
    await scanner(httpserver).save(f"zap-{tag}")
    serve_scan(httpserver, ALERTS)
    host = ssh_hosts.hosts[0]

    report = await exposure_scan(
        targets=[host["address"]],
        recipients=["soc@alertflow.test"],
        ports=str(host["port"]),
        smtp=f"smtp-{tag}",
        zap=f"zap-{tag}",
        web_targets=[TARGET],
        active_web_scan=True,
    )

    [web] = report.web
    assert (web.target, web.risk_counts["High"]) == (TARGET, 1)
    assert sum(r.path == "/JSON/ascan/action/scan/" for r, _ in httpserver.log) == 1
    (message,) = smtp_sink.messages
    assert f"ZAP: {TARGET}:" in message.get_body(("plain",)).get_content()
