"""send_email_report against a real SMTP server (aiosmtpd), plain and with STARTTLS + login."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from prefect import flow
from prefect.runtime import flow_run

from alertflow.up.prefect_server import free_port
from alertmodel.errors import IntegrationError
from blocks.smtp import SmtpServer
from tasks.email import EmailAttachment, render_report, send_email_report
from tests.conftest import SmtpSink
from tests.tasks.conftest import artifacts_of
from tests.tls_files import self_signed

pytestmark = pytest.mark.integration

PASSWORD = "smtp-pw-never-shown"


def _server(sink: SmtpSink, **fields: Any) -> SmtpServer:
    values = {
        "smtp_server": sink.host,
        "smtp_port": sink.port,
        "smtp_type": "INSECURE",
        "sender": "soc@alertflow.test",
    }
    return SmtpServer(**{**values, **fields})


def test_the_html_report_escapes_values_and_a_missing_variable_is_an_error() -> None:
    html, text = render_report({"title": "Alerts <b>", "table": [{"srcip": "10.0.0.1", "note": "<script>"}]})
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert "srcip: 10.0.0.1, note: <script>" in text
    with pytest.raises(ValueError, match="undefined"):
        render_report({}, html_template="{{ nope }}", text_template="x")


def test_template_code_cannot_reach_python_internals() -> None:
    with pytest.raises(ValueError):
        render_report({}, html_template="{{ ''.__class__.__mro__[1].__subclasses__() }}", text_template="x")


async def test_the_report_arrives_with_html_text_and_attachments(
    smtp_sink: SmtpSink, prefect_server: Any, tmp_path: Path
) -> None:
    evidence = tmp_path / "hosts.csv"
    evidence.write_text("host,ip\nweb-01,10.0.0.5\n")
    pcap = EmailAttachment(
        filename="capture.pcap", content=bytes(range(256)), content_type="application/vnd.tcpdump.pcap"
    )

    @flow
    async def report() -> tuple[Any, Any]:
        result = await send_email_report(
            _server(smtp_sink),
            ["analyst@alertflow.test", "Lead <lead@alertflow.test>"],
            "Incident 42: brute force",
            {
                "title": "Incident 42",
                "summary": "SSH brute force",
                "table": [{"srcip": "203.0.113.9", "count": 57}],
            },
            attachments=[evidence, pcap],
        )
        return result, flow_run.id

    result, run_id = await report()
    (message,) = smtp_sink.messages
    assert smtp_sink.envelopes[0].rcpt_tos == ["analyst@alertflow.test", "lead@alertflow.test"]
    assert message["Subject"] == "Incident 42: brute force"
    assert message["From"] == "soc@alertflow.test"
    assert message["Message-ID"] == result.message_id
    assert "203.0.113.9" in message.get_body(("plain",)).get_content()
    assert "<td>203.0.113.9</td>" in message.get_body(("html",)).get_content()
    attached = {part.get_filename(): part for part in message.iter_attachments()}
    assert attached["hosts.csv"].get_content() == evidence.read_text()
    assert attached["capture.pcap"].get_content() == bytes(range(256))
    assert attached["capture.pcap"].get_content_type() == "application/vnd.tcpdump.pcap"
    assert result.attachments == ["hosts.csv", "capture.pcap"] and result.refused == {}
    (artifact,) = await artifacts_of(run_id)
    assert (
        artifact.type == "markdown" and "SSH brute force" in artifact.data and "capture.pcap" in artifact.data
    )


async def test_header_injection_in_subject_or_address_is_refused(smtp_sink: SmtpSink) -> None:
    with pytest.raises(ValueError, match="one line"):
        await send_email_report.fn(_server(smtp_sink), ["a@alertflow.test"], "hi\r\nBcc: x@evil.test", {})
    with pytest.raises(ValueError, match="not an email address"):
        await send_email_report.fn(_server(smtp_sink), ["a@alertflow.test\r\nBcc: x@evil.test"], "hi", {})
    assert smtp_sink.messages == []


@pytest.fixture
def tls_sink(tmp_path: Path) -> Iterator[tuple[SmtpSink, list[tuple[bytes, bytes]]]]:
    """An SMTP server that requires STARTTLS (self-signed certificate) and a login."""
    certfile, keyfile = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    logins: list[tuple[bytes, bytes]] = []

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        return AuthResult(success=data.login == b"soc" and data.password == PASSWORD.encode())

    sink = SmtpSink(host="127.0.0.1", port=free_port())
    controller = Controller(
        sink,
        hostname=sink.host,
        port=sink.port,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticate,
        auth_required=True,
    )
    controller.start()
    try:
        yield sink, logins
    finally:
        controller.stop()


async def test_starttls_and_login_deliver_and_keep_the_password_out_of_results_and_logs(
    tls_sink: tuple[SmtpSink, list[tuple[bytes, bytes]]], caplog: pytest.LogCaptureFixture
) -> None:
    sink, logins = tls_sink
    server = _server(sink, smtp_type="STARTTLS", username="soc", password=PASSWORD, verify=False)
    result = await send_email_report.fn(server, ["analyst@alertflow.test"], "tls report", {"title": "TLS"})
    assert logins == [(b"soc", PASSWORD.encode())]
    assert [m["Subject"] for m in sink.messages] == ["tls report"]
    assert PASSWORD not in result.model_dump_json() and PASSWORD not in caplog.text


async def test_an_unverifiable_certificate_is_refused_when_verification_is_on(
    tls_sink: tuple[SmtpSink, list[tuple[bytes, bytes]]],
) -> None:
    sink, logins = tls_sink
    server = _server(sink, smtp_type="STARTTLS", username="soc", password=PASSWORD)
    with pytest.raises(IntegrationError, match="CERTIFICATE_VERIFY_FAILED") as info:
        await send_email_report.fn(server, ["analyst@alertflow.test"], "tls report", {})
    assert PASSWORD not in str(info.value)
    assert logins == [] and sink.messages == []
