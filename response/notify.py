"""Telling people: e-mail, Slack and SMS to a user group, for a profile's action or an incident by hand.

An e-mail carries the outbox key as its Message-ID, so a resend after a crash is recognisable;
e-mail, Slack and SMS are at-least-once (no product lets us ask "did you get this already?").
"""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from alertmodel import AlertRead
from alertmodel.errors import IncidentError, IntegrationError
from alertmodel.repository import load_alerts
from alertmodel.types import utcnow
from blocks.loader import load_block
from blocks.slack import SlackWorkspace
from blocks.smtp import SmtpServer
from blocks.twilio import TwilioAccount
from response import incidents
from response.payload import OutboxItem
from response.profiles import UserGroupSpec, read_user_group
from tasks.notify import email_text
from tasks.slack import send_alert_to_slack
from tasks.twilio import send_alert_as_sms

if TYPE_CHECKING:
    from prefect_email import EmailServerCredentials

NOTIFY_CHANNELS = ("email", "slack", "twilio")


def user_group(engine: Engine, name: str) -> UserGroupSpec:
    with engine.connect() as conn:
        return read_user_group(conn, name)


async def send_to_group(
    engine: Engine,
    server: EmailServerCredentials,
    group: str,
    subject: str,
    body: str,
    *,
    message_id: str,
) -> list[str]:
    """Send one message to every address of user group `group`; the recipients it went to."""
    recipients = (await asyncio.to_thread(user_group, engine, group)).emails
    if not recipients:
        raise IntegrationError(f"user group {group!r} has no e-mail addresses")
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = getattr(server, "sender", None) or server.username or "alertflow@localhost"
    message["To"] = ", ".join(recipients)
    message["Message-ID"] = f"<{message_id.replace(':', '.')}@alertflow>"
    message.set_content(body)

    def send() -> None:
        try:
            with server.get_server() as smtp:
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            host = server.smtp_server if isinstance(server.smtp_server, str) else server.smtp_server.value
            raise IntegrationError(
                f"SMTP server {host}:{server.smtp_port} refused the message: {exc}"
            ) from exc

    await asyncio.to_thread(send)
    return recipients


class _GroupExecutor:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def _alert(self, item: OutboxItem) -> AlertRead:
        [alert] = await asyncio.to_thread(load_alerts, self._engine, [item.request.alert_uuid])
        return alert


class EmailExecutor(_GroupExecutor):
    """E-mail the alert to the action's user group through an SMTP server block."""

    async def __call__(self, item: OutboxItem) -> None:
        request = item.request
        assert request.action.kind == "email"
        alert = await self._alert(item)
        server = await load_block(SmtpServer, request.action.block)
        subject, body = email_text(alert.model_dump(), profile=request.profile)
        await send_to_group(self._engine, server, request.action.group, subject, body, message_id=item.key)


class SlackExecutor(_GroupExecutor):
    """Post the alert to the Slack channel of the action's user group."""

    async def __call__(self, item: OutboxItem) -> None:
        request = item.request
        assert request.action.kind == "slack"
        group = await asyncio.to_thread(user_group, self._engine, request.action.group)
        if not group.slack_channel:
            raise IntegrationError(f"user group {group.name!r} has no Slack channel")
        slack = await load_block(SlackWorkspace, request.action.block)
        alert = await self._alert(item)
        await send_alert_to_slack.fn(slack, alert.model_dump(mode="json"), channel=group.slack_channel)


class TwilioExecutor(_GroupExecutor):
    """Text the alert to every phone number of the action's user group."""

    async def __call__(self, item: OutboxItem) -> None:
        request = item.request
        assert request.action.kind == "twilio"
        group = await asyncio.to_thread(user_group, self._engine, request.action.group)
        if not group.phones:
            raise IntegrationError(f"user group {group.name!r} has no phone numbers")
        twilio = await load_block(TwilioAccount, request.action.block)
        alert = await self._alert(item)
        await send_alert_as_sms.fn(twilio, alert.model_dump(mode="json"), group.phones)


async def notify_group(
    engine: Engine, incident_id: int, group: str, *, via: str = "email", actor: str, block: str = "default"
) -> list[str]:
    """Tell user group `group` about an incident by hand; recorded in its history. Returns recipients."""
    if via not in NOTIFY_CHANNELS:
        raise IncidentError(f"cannot notify via {via!r} (expected email, slack or twilio)")
    view = await asyncio.to_thread(incidents.get_incident, engine, incident_id)
    [alert] = await asyncio.to_thread(load_alerts, engine, [view.incident.alert_uuid])
    tag = f"[incident #{incident_id} {view.incident.state}]"
    if via == "email":
        subject, body = email_text(alert.model_dump())
        server = await load_block(SmtpServer, block)
        recipients = await send_to_group(
            engine,
            server,
            group,
            f"{tag} {subject}"[:200],
            body,
            message_id=f"incident-{incident_id}-{utcnow().timestamp()}",
        )
    else:
        data = alert.model_dump(mode="json")
        data["description"] = f"{tag} {data['description']}"
        members = await asyncio.to_thread(user_group, engine, group)
        if via == "slack":
            if not members.slack_channel:
                raise IntegrationError(f"user group {members.name!r} has no Slack channel")
            await send_alert_to_slack.fn(
                await load_block(SlackWorkspace, block), data, channel=members.slack_channel
            )
            recipients = [members.slack_channel]
        else:
            if not members.phones:
                raise IntegrationError(f"user group {members.name!r} has no phone numbers")
            await send_alert_as_sms.fn(await load_block(TwilioAccount, block), data, members.phones)
            recipients = list(members.phones)
    await asyncio.to_thread(
        incidents.record_note,
        engine,
        incident_id,
        actor=actor,
        comment=f"notified {group} by {via}: {', '.join(recipients)}",
    )
    return recipients
