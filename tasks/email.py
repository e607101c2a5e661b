"""Send an HTML + plain-text report (jinja2 templates) with attachments over SMTP."""

from __future__ import annotations

import mimetypes
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr
from importlib import resources
from pathlib import Path
from typing import Any

import anyio
import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment
from prefect import task
from prefect_email.credentials import SMTPServer, SMTPType
from pydantic import BaseModel

from alertmodel.errors import IntegrationError
from blocks.run_context import in_run_context, run_logger
from blocks.smtp import SmtpServer


class EmailAttachment(BaseModel):
    """A file to attach, given as bytes."""

    filename: str
    content: bytes
    content_type: str = "application/octet-stream"


class EmailReportResult(BaseModel):
    """What the SMTP server accepted."""

    message_id: str
    subject: str
    recipients: list[str]
    refused: dict[str, str]
    attachments: list[str]


def _template(name: str) -> str:
    return resources.files("tasks").joinpath("templates", name).read_text()


def render_report(
    context: Mapping[str, Any], *, html_template: str | None = None, text_template: str | None = None
) -> tuple[str, str]:
    """HTML (autoescaped) and text bodies. Templates run sandboxed; a missing variable is an error.

    The built-in templates use `title`, `summary`, `table` (a list of dicts) and `footer`.
    """
    defaults = {"title": "alertflow report", "summary": "", "table": [], "footer": ""}
    values = {**defaults, **context} if html_template is None or text_template is None else dict(context)
    html_env = ImmutableSandboxedEnvironment(autoescape=True, undefined=jinja2.StrictUndefined)
    text_env = ImmutableSandboxedEnvironment(autoescape=False, undefined=jinja2.StrictUndefined)
    try:
        html = html_env.from_string(html_template or _template("report.html.j2")).render(values)
        text = text_env.from_string(text_template or _template("report.txt.j2")).render(values)
    except jinja2.TemplateError as exc:
        raise ValueError(f"email report template failed: {exc}") from exc
    return html, text


def _address(value: str) -> str:
    if "\r" in value or "\n" in value or "@" not in parseaddr(value)[1]:
        raise ValueError(f"{value!r} is not an email address")
    return value


def _attachment(item: Path | EmailAttachment) -> EmailAttachment:
    if isinstance(item, EmailAttachment):
        return item
    guessed = mimetypes.guess_type(item.name)[0] or "application/octet-stream"
    return EmailAttachment(filename=item.name, content=item.read_bytes(), content_type=guessed)


def _send(server: SmtpServer, message: EmailMessage, recipients: list[str]) -> dict[str, str]:
    """Deliver over SMTP (blocking; run in a thread)."""
    host = server.smtp_server.value if isinstance(server.smtp_server, SMTPServer) else str(server.smtp_server)
    kind = server.smtp_type if isinstance(server.smtp_type, SMTPType) else SMTPType[str(server.smtp_type)]
    port = server.smtp_port or kind.value
    context = ssl.create_default_context()
    if not server.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        if kind == SMTPType.SSL:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, context=context, timeout=server.timeout_s)
        else:
            smtp = smtplib.SMTP(host, port, timeout=server.timeout_s)
        with smtp:
            if kind == SMTPType.STARTTLS:
                smtp.starttls(context=context)
            if server.username:
                if kind == SMTPType.INSECURE or not server.verify:
                    run_logger().warning("SMTP login to %s:%s without a verified TLS connection", host, port)
                smtp.login(server.username, server.password.get_secret_value())
            refused = smtp.send_message(message, to_addrs=recipients)
    except (smtplib.SMTPException, OSError) as exc:
        raise IntegrationError(f"SMTP {host}:{port} failed: {type(exc).__name__}: {str(exc)[:300]}") from exc
    return {addr: f"{code} {reply.decode(errors='replace')}" for addr, (code, reply) in refused.items()}


def _markdown(subject: str, recipients: list[str], text: str, attachments: list[EmailAttachment]) -> str:
    lines = [f"# {subject}", "", f"To: {', '.join(recipients)}", "", "```text", text, "```"]
    if attachments:
        lines += ["", "| attachment | type | bytes |", "|---|---|---|"]
        lines += [f"| {a.filename} | {a.content_type} | {len(a.content)} |" for a in attachments]
    return "\n".join(lines)


@task(name="send_email_report")
async def send_email_report(
    server: SmtpServer,
    to: Sequence[str],
    subject: str,
    context: Mapping[str, Any],
    *,
    html_template: str | None = None,
    text_template: str | None = None,
    attachments: Sequence[Path | EmailAttachment] = (),
) -> EmailReportResult:
    """Render a report from jinja2 templates and mail it (HTML + text, with attachments).

    The text version is also published as a Prefect markdown artifact of the run.
    """
    if isinstance(to, str):
        raise TypeError("to must be a list of addresses")
    recipients = [_address(a) for a in to]
    if not recipients:
        raise ValueError("give at least one recipient")
    if "\n" in subject or "\r" in subject:
        raise ValueError("subject must be one line")
    html, text = render_report(context, html_template=html_template, text_template=text_template)
    files = [_attachment(a) for a in attachments]
    message = EmailMessage()
    message["From"] = _address(server.sender)
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=parseaddr(server.sender)[1].split("@")[-1])
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    for item in files:
        maintype, _, subtype = item.content_type.partition("/")
        message.add_attachment(
            item.content, maintype=maintype, subtype=subtype or "octet-stream", filename=item.filename
        )
    refused = await anyio.to_thread.run_sync(_send, server, message, recipients)
    run_logger().info(
        "email report %r sent to %d recipients (%d refused)", subject, len(recipients), len(refused)
    )
    if in_run_context():
        from prefect.artifacts import acreate_markdown_artifact

        await acreate_markdown_artifact(
            markdown=_markdown(subject, recipients, text, files), description=subject
        )
    return EmailReportResult(
        message_id=str(message["Message-ID"]),
        subject=subject,
        recipients=recipients,
        refused=refused,
        attachments=[f.filename for f in files],
    )
