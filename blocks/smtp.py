"""The mail server reports go out through: prefect-email's block plus a sender address."""

from __future__ import annotations

from prefect_email import EmailServerCredentials
from pydantic import Field


class SmtpServer(EmailServerCredentials):
    """An SMTP server (prefect-email's EmailServerCredentials) with the From address alertflow uses."""

    _block_type_name = "alertflow SMTP Server"
    _description = "An SMTP server for email reports and notifications, with the sender address."

    sender: str = Field(description="From address of messages alertflow sends, e.g. 'soc@example.org'.")
    timeout_s: float = Field(default=30, gt=0, description="Seconds to wait for the SMTP server.")
