"""How an alert reads in an e-mail, a chat message, an SMS or a ticket: the one place alert text is built."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alertmodel.alert import SEVERITY_NAMES


def _known(value: Any) -> bool:
    return value not in (None, "", "indef", 0)


def alert_title(alert: Mapping[str, Any]) -> str:
    """`[Critical] Suricata 2010935: ET SCAN ...` in one line."""
    severity = SEVERITY_NAMES.get(int(alert.get("severity") or 0), "Info")
    return f"[{severity}] {alert.get('source', 'alert')} {alert.get('event', '')}: {alert.get('description', '')}".strip()


def alert_facts(alert: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The fields an analyst reads first, only those that are known."""
    facts = []
    src = (
        f"{alert.get('srcip')}:{alert.get('srcport')}" if _known(alert.get("srcport")) else alert.get("srcip")
    )
    dst = (
        f"{alert.get('dstip')}:{alert.get('dstport')}" if _known(alert.get("dstport")) else alert.get("dstip")
    )
    for label, value in (
        ("Source", src),
        ("Destination", dst),
        ("Agent", alert.get("agent")),
        ("User", alert.get("user")),
        ("File", alert.get("file")),
        ("Category", alert.get("category")),
        ("Node", alert.get("node_id")),
        ("Time", alert.get("time_collr")),
        ("Alert", alert.get("alert_uuid")),
    ):
        if _known(value) and _known(str(value).split(":")[0]):
            facts.append((label, str(value)))
    return facts


def sms_text(alert: Mapping[str, Any], limit: int = 320) -> str:
    """A short SMS body: the title and the source/destination, cut to `limit` characters."""
    facts = dict(alert_facts(alert))
    parts = [alert_title(alert)]
    if "Source" in facts or "Destination" in facts:
        parts.append(f"{facts.get('Source', '?')} -> {facts.get('Destination', '?')}")
    text = " | ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


EMAIL_FIELDS = (
    "alert_uuid", "time_collr", "node_id", "source", "event", "severity", "category",
    "description", "srcip", "srcport", "dstip", "dstport", "agent", "user", "process", "file",
)  # fmt: skip


def email_text(alert: Mapping[str, Any], *, profile: str | None = None) -> tuple[str, str]:
    """A short subject and a plain-text body listing every field an analyst reads first."""
    severity = SEVERITY_NAMES.get(int(alert.get("severity") or 0), str(alert.get("severity")))
    subject = f"[alertflow] {severity} {alert.get('source')} {alert.get('event')}: {alert.get('description')}"
    lines = [f"{name}: {alert.get(name)}" for name in EMAIL_FIELDS]
    if profile:
        lines.insert(0, f"response profile: {profile}")
    return subject[:200], "\n".join(lines) + "\n"
