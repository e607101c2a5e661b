"""The IDS rule behind a Suricata alert, read from its sensor's rules file over SSH.

The sensor is the `IdsSensor` block named after the alert's `sensor` field; the file is the
block's `rules_path`, never anything the alert says. The alert's event id is the rule's `sid`
only when it is a plain number, and it reaches the sensor as one `grep` argument. Whatever
cannot be reached is a reason shown on the page ("rule not available: ..."), never an error.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from fastapi import HTTPException, Request

from alertflow.api.prefect_access import prefect_settings
from alertmodel.errors import AlertflowError

BLOCK_NAME = re.compile(r"^[a-z0-9-]{1,255}$")  # what Prefect allows in a block's name
SID = re.compile(r"^[0-9]{1,10}$")
LOOKUP_TIMEOUT_S = 15.0
MAX_RULE_BYTES = 64 * 1024


@dataclass(frozen=True)
class RuleLookup:
    """The rule's text, or why there is none; where it was looked for."""

    rule: str | None
    reason: str
    sensor: str | None = None
    path: str | None = None


def _unavailable(reason: str, sensor: str | None = None, path: str | None = None) -> RuleLookup:
    return RuleLookup(None, reason, sensor, path)


async def find_rule(request: Request, *, source: str, sensor: str, event: str) -> RuleLookup:
    """The Suricata rule with sid `event` in the rules file of the IdsSensor block named `sensor`."""
    if source.lower() != "suricata":
        return _unavailable(f"rule lookup reads Suricata rule files; this alert came from {source}")
    if not SID.match(event):
        return _unavailable(f"the event id {event!r} is not a Suricata signature id")
    name = sensor.lower()
    if not BLOCK_NAME.match(name):
        return _unavailable(f"no IdsSensor block can be named after the sensor {sensor!r}")
    try:
        with prefect_settings(request):
            return await asyncio.wait_for(_read_rule(name, event), LOOKUP_TIMEOUT_S)
    except HTTPException as exc:  # no Prefect server for this console
        return _unavailable(str(exc.detail), name)
    except TimeoutError:
        return _unavailable(f"the sensor did not answer within {LOOKUP_TIMEOUT_S:.0f} s", name)


async def _read_rule(name: str, sid: str) -> RuleLookup:
    import asyncssh
    import httpx

    from blocks.ids import IdsSensor
    from blocks.loader import load_block
    from tasks.ssh import run_command

    try:
        block = await load_block(IdsSensor, name)
    except AlertflowError as exc:
        return _unavailable(str(exc)[:300], name)  # names the block and how to add it
    except ValueError as exc:  # a saved block that no longer validates
        return _unavailable(f"the IdsSensor block {name!r} cannot be read: {str(exc)[:200]}", name)
    except httpx.HTTPError as exc:
        return _unavailable(f"the Prefect server did not answer ({type(exc).__name__})", name)
    if block.kind != "suricata" or not block.rules_path:
        return _unavailable(f"the IdsSensor block {name!r} names no Suricata rules file", name)
    path = block.rules_path
    pattern = rf"(^|[;( ])sid *: *{sid} *;"
    try:
        async with await block.host.connect() as conn:
            out = await run_command(
                conn,
                ["grep", "-m", "1", "-E", "--", pattern, path],
                timeout_s=LOOKUP_TIMEOUT_S - 2,
                max_output_bytes=MAX_RULE_BYTES,
            )
    except (OSError, asyncssh.Error, ValueError) as exc:
        return _unavailable(
            f"the sensor's host could not be reached: {type(exc).__name__}: {str(exc)[:200]}", name, path
        )
    if out.exit_status == 0 and out.stdout.strip():
        return RuleLookup(out.stdout.strip(), "", name, path)
    if out.exit_status == 1:
        return _unavailable(f"no rule with sid {sid} in the sensor's rules file", name, path)
    return _unavailable(f"the sensor's rules file could not be read: {out.stderr.strip()[:200]}", name, path)
