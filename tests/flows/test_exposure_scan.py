from __future__ import annotations

import uuid
from typing import Any

import pytest

from alertflow.local_prefect import LocalPrefectServer
from blocks.smtp import SmtpServer
from flows.exposure_scan import exposure_scan
from tests.conftest import SmtpSink

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
