"""`block-attacker`: an alert's source IP, if MISP knows it as malicious (or always, when asked),
goes on the block list of every IDS sensor given; Slack and TheHive hear about it when their
blocks are named."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Literal

from prefect import flow, get_run_logger
from pydantic import BaseModel

from blocks.ids import IdsSensor
from blocks.misp import MispServer
from blocks.slack import SlackWorkspace
from blocks.thehive import TheHiveServer
from flows.alert import PlaybookAlert, the_alert
from tasks.ids_rules import block_ips, blockable_entries
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


def attacker_ip(alert: PlaybookAlert) -> str:
    """The alert's srcip as one checked address (never a network)."""
    try:
        return str(ipaddress.ip_address(alert.srcip.strip()))
    except ValueError:
        raise ValueError(f"alert {alert.alert_uuid} has no usable srcip ({alert.srcip!r})") from None


@flow(name="block-attacker")
async def block_attacker(
    alert: PlaybookAlert | None = None,
    *,
    sensors: list[str],
    misp: str | None = "default",
    block: Literal["malicious", "always"] = "malicious",
    slack: str | None = None,
    thehive: str | None = None,
    alerts: list[PlaybookAlert] | None = None,
    alert_uuid: str | None = None,
) -> BlockAttackerResult:
    """Check the alert's srcip in MISP, add it to the block list of `sensors` (IdsSensor blocks), then notify.

    The list on each sensor is the record: `block_ips` adds the address and keeps every entry
    already there. Each sensor's own_networks and never_block are checked before MISP is asked,
    so a forged srcip in your own network stops the run before anything happens. Without a
    MISP block (`misp` None), only `block="always"` makes sense: every alert routed here is
    trusted to name an attacker (a WAF or IDS rule that does not misfire). A grouped profile
    also passes `alerts`, the group so far: the lead `alert`'s srcip is the one blocked. A run
    started by hand may give only `alert_uuid`: the stored alert is read from the alert store.
    """
    logger = get_run_logger()
    alert = await asyncio.to_thread(the_alert, alert, alert_uuid)
    if alerts:
        logger.info("run for a group of %d alert(s); blocking the lead alert's srcip", len(alerts))
    if misp is None and block != "always":
        raise ValueError("without a MISP block nothing is ever malicious: set misp, or block='always'")
    ip = attacker_ip(alert)
    targets = {name: await IdsSensor.aload(name) for name in sensors}
    for sensor in targets.values():
        blockable_entries(sensor, [ip])
    verdict: Literal["malicious", "unknown"] = "unknown"
    events: list[str] = []
    if misp is not None:
        misp_server = await MispServer.aload(misp)
        # A read-only lookup: safe to repeat.
        reputation = await check_reputation.with_options(retries=2, retry_delay_seconds=[2, 10])(
            misp_server, ip, "ip"
        )
        verdict, events = reputation.verdict, reputation.events
    blocked_on: list[str] = []
    if verdict == "malicious" or block == "always":
        for name, sensor in targets.items():
            # Adding an entry that is already there changes nothing: safe to repeat.
            done = await block_ips.with_options(retries=1, retry_delay_seconds=5)(sensor, [ip])
            blocked_on.append(name)
            logger.info("blocked %s on sensor %s (%d entries)", ip, name, done.entries)
    else:
        logger.info("%s is %s in MISP: not blocked", ip, verdict)

    alert_row = alert.model_dump(mode="json")
    result = BlockAttackerResult(ip=ip, verdict=verdict, misp_events=events, blocked_on=blocked_on)
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
            description=f"alertflow blocked {ip} on {', '.join(blocked_on)}; MISP: {', '.join(events) or 'not asked'}",
            tags=["alertflow", "block-attacker"],
        )
        result.thehive_case = case.id
    return result
