"""`block-attacker`: an alert's source IP, if MISP knows it as malicious, goes on the block list
of every IDS sensor given; Slack and TheHive hear about it when their blocks are named."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from prefect import flow, get_run_logger
from prefect.variables import Variable
from pydantic import BaseModel

from blocks.ids import IdsSensor
from blocks.misp import MispServer
from blocks.slack import SlackWorkspace
from blocks.thehive import TheHiveServer
from flows.alert import PlaybookAlert
from tasks.ids_rules import update_ip_blocklist
from tasks.reputation import check_reputation
from tasks.slack import send_alert_to_slack
from tasks.thehive import create_thehive_case


class BlockAttackerResult(BaseModel):
    """What the playbook found and did."""

    ip: str
    verdict: Literal["malicious", "unknown"]
    misp_events: list[str]
    blocked_on: list[str]
    slack_ts: str | None = None
    thehive_case: str | None = None


OWN_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "224.0.0.0/4",
        "255.255.255.255/32",
        "::/128",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    )
)
"""Private, loopback, link-local, shared and multicast ranges: blocking these hits your own network."""


def attacker_ip(alert: PlaybookAlert, *, allow_private: bool) -> str:
    """The alert's srcip as a checked address; private/loopback ones only when allowed."""
    try:
        ip = ipaddress.ip_address(alert.srcip.strip())
    except ValueError:
        raise ValueError(f"alert {alert.alert_uuid} has no usable srcip ({alert.srcip!r})") from None
    if any(ip in net for net in OWN_NETWORKS if net.version == ip.version) and not allow_private:
        raise ValueError(
            f"{ip} is not a public address; blocking it could cut off your own network "
            "(pass allow_private=true to block it anyway)"
        )
    return str(ip)


def blocklist_variable(sensor_block: str) -> str:
    """The Prefect Variable holding the IPs alertflow blocks on one sensor (the list it pushes)."""
    return "alertflow-blocklist-" + re.sub(r"[^a-z0-9_-]", "-", sensor_block.lower())


@flow(name="block-attacker")
async def block_attacker(
    alert: PlaybookAlert,
    sensors: list[str],
    misp: str = "default",
    block: Literal["malicious", "always"] = "malicious",
    allow_private: bool = False,
    slack: str | None = None,
    thehive: str | None = None,
) -> BlockAttackerResult:
    """Check the alert's srcip in MISP, block it on `sensors` (IdsSensor blocks), then notify.

    Runs one at a time (the deployment's concurrency limit is 1): each sensor's list is read,
    extended and pushed whole, so two runs at once could otherwise lose an entry.
    """
    logger = get_run_logger()
    ip = attacker_ip(alert, allow_private=allow_private)
    misp_server = await MispServer.aload(misp)
    # A read-only lookup: safe to repeat.
    reputation = await check_reputation.with_options(retries=2, retry_delay_seconds=[2, 10])(
        misp_server, ip, "ip"
    )
    blocked_on: list[str] = []
    if reputation.verdict == "malicious" or block == "always":
        for name in sensors:
            sensor = await IdsSensor.aload(name)
            variable = blocklist_variable(name)
            listed = list(await Variable.aget(variable, default=[]) or [])
            if ip not in listed:
                listed.append(ip)
            # Pushing the same whole list twice is harmless, and a failed push is rolled back.
            await update_ip_blocklist.with_options(retries=1, retry_delay_seconds=5)(sensor, listed)
            await Variable.aset(variable, listed, overwrite=True)
            blocked_on.append(name)
            logger.info("blocked %s on sensor %s (%d entries)", ip, name, len(listed))
    else:
        logger.info("%s is %s in MISP: not blocked", ip, reputation.verdict)

    alert_row = alert.model_dump(mode="json")
    result = BlockAttackerResult(
        ip=ip, verdict=reputation.verdict, misp_events=reputation.events, blocked_on=blocked_on
    )
    # Notifications are not repeated on failure: a retry could post twice.
    if slack:
        message = await send_alert_to_slack(await SlackWorkspace.aload(slack), alert_row)
        result.slack_ts = message.ts
    if thehive and blocked_on:
        case = await create_thehive_case(
            await TheHiveServer.aload(thehive),
            title=f"Blocked {ip}: {alert.description}"[:200],
            alerts=[alert_row],
            severity=max(1, min(alert.severity + 1, 4)),
            description=f"alertflow blocked {ip} on {', '.join(blocked_on)}; MISP: {', '.join(reputation.events)}",
            tags=["alertflow", "block-attacker"],
        )
        result.thehive_case = case.id
    return result
