"""What an outbox row does to the world: one executor per action kind.

Every executor is safe to run again for the same row (a dispatcher can die between doing the
work and marking the row done): see each executor's module for how.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Engine

from alertmodel.errors import IntegrationError
from response.escalate import EscalationLocks, JiraExecutor, TheHiveExecutor
from response.incidents import IncidentExecutor
from response.notify import EmailExecutor, SlackExecutor, TwilioExecutor
from response.payload import Executor, OutboxItem
from response.playbook_runs import PlaybookExecutor

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient


class MissingIntegration:
    """An action whose integration is not wired: fail loudly, never pretend to succeed."""

    def __init__(self, product: str) -> None:
        self.product = product

    async def __call__(self, item: OutboxItem) -> None:
        raise IntegrationError(
            f"no {self.product} block configured: cannot perform the {item.kind} action of profile "
            f"{item.payload.get('profile')!r}"
        )


def product_executors(engine: Engine) -> dict[str, Executor]:
    """The Slack, Twilio, TheHive and JIRA executors, keyed by action kind."""
    locks = EscalationLocks()
    return {
        "slack": SlackExecutor(engine),
        "twilio": TwilioExecutor(engine),
        "thehive": TheHiveExecutor(engine, locks),
        "jira": JiraExecutor(engine, locks),
    }


def default_executors(engine: Engine, client: PrefectClient) -> dict[str, Executor]:
    """One executor per action kind of response.profiles."""
    return {
        "playbook": PlaybookExecutor(engine, client),
        "incident": IncidentExecutor(engine),
        "email": EmailExecutor(engine),
        **product_executors(engine),
    }
