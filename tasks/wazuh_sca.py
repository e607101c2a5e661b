"""Wazuh SCA (Security Configuration Assessment) results → posture findings, one per failed check.

Read from the Wazuh server API: `POST /security/user/authenticate` (basic auth) gives a JWT;
`GET /agents?agents_list=ID` names the agent; `GET /sca/{agent_id}` lists its policies;
`GET /sca/{agent_id}/checks/{policy_id}?result=failed` pages through the failed checks. Every
answer is `{"data": {"affected_items": [...], "total_affected_items": N, ...}, "error": 0}`.
SCA checks carry no severity of their own: a failed check is Major (2), as Wazuh's own SCA
alert rule (19007, level 7) rates it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import httpx
from prefect import task

from alertmodel.errors import ServiceCallError
from alertmodel.posture import CheckResult, HostReport
from blocks.run_context import run_logger
from blocks.wazuh import WazuhApi
from tasks._common import service_errors, status_error

INTEGRATION = "Wazuh API"
FAILED_SEVERITY = 2
PAGE = 500
AGENT_ID = re.compile(r"^\d{3,8}$")
POLICY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


def sca_checks(policy_id: str, items: Sequence[dict[str, Any]]) -> list[CheckResult]:
    """The failed checks among SCA check items (`/sca/{agent}/checks/{policy}` affected_items)."""
    found = []
    for item in items:
        if not isinstance(item, dict) or item.get("result") != "failed" or item.get("id") is None:
            continue
        compliance = item.get("compliance") or []
        tags = ", ".join(
            f"{c.get('key')}:{c.get('value')}" for c in compliance if isinstance(c, dict) and c.get("key")
        )
        found.append(
            CheckResult(
                check_id=f"{policy_id}:{item['id']}",
                title=str(item.get("title") or f"SCA check {item['id']}"),
                severity=FAILED_SEVERITY,
                detail=f"SCA policy {policy_id} check {item['id']} failed" + (f"; {tags}" if tags else ""),
            )
        )
    return found


def _items(response: httpx.Response, what: str) -> tuple[list[dict[str, Any]], int]:
    if response.status_code != 200:
        raise status_error(INTEGRATION, response.status_code, f"{what}: {response.text[:200]}")
    try:
        body = response.json()
        data = body["data"]
        items = data["affected_items"]
        total = int(data.get("total_affected_items", len(items)))
    except (ValueError, KeyError, TypeError) as exc:
        raise ServiceCallError(INTEGRATION, f"{what}: not a Wazuh API answer ({type(exc).__name__})") from exc
    if body.get("error", 0) not in (0, None) or not isinstance(items, list):
        raise ServiceCallError(
            INTEGRATION, f"{what}: error {body.get('error')}: {str(body.get('message'))[:200]}"
        )
    return items, total


async def _all_items(
    client: httpx.AsyncClient, path: str, params: dict[str, Any], what: str
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page, total = _items(
            await client.get(path, params={**params, "offset": len(items), "limit": PAGE}), what
        )
        items += page
        if not page or len(items) >= total:
            return items


@task(name="fetch_wazuh_sca", retries=2, retry_delay_seconds=[5, 30])  # reads only: safe to repeat
async def fetch_wazuh_sca(api: WazuhApi, agent_ids: Sequence[str]) -> list[HostReport]:
    """One report per agent (host = the agent's name): the failed checks of every SCA policy it ran."""
    for agent_id in agent_ids:
        if not isinstance(agent_id, str) or not AGENT_ID.match(agent_id):
            raise ValueError(f"agent id {agent_id!r} is not a Wazuh agent id such as '001'")
    password = api.password.get_secret_value()
    reports = []
    with service_errors(INTEGRATION, [password]):
        async with httpx.AsyncClient(
            base_url=api.url.rstrip("/"),
            verify=api.tls_verify(),
            timeout=api.timeout_s,
            follow_redirects=False,
        ) as client:
            login = await client.post("/security/user/authenticate", auth=(api.username, password))
            if login.status_code != 200:
                raise status_error(INTEGRATION, login.status_code, "login", secrets=[password])
            try:
                token = login.json()["data"]["token"]
            except (ValueError, KeyError, TypeError) as exc:
                raise ServiceCallError(INTEGRATION, "login: no token in the answer") from exc
            client.headers["Authorization"] = f"Bearer {token}"
            for agent_id in agent_ids:
                agents, _ = _items(await client.get("/agents", params={"agents_list": agent_id}), "agents")
                if not agents:
                    raise ServiceCallError(
                        INTEGRATION, f"agent {agent_id} is unknown to the manager", status=404
                    )
                name = str(agents[0].get("name") or agent_id)
                checks: list[CheckResult] = []
                for policy in await _all_items(client, f"/sca/{agent_id}", {}, f"SCA policies of {agent_id}"):
                    policy_id = str(policy.get("policy_id", ""))
                    if not POLICY_ID.match(policy_id):
                        raise ServiceCallError(
                            INTEGRATION, f"agent {agent_id}: odd policy id {policy_id[:60]!r}"
                        )
                    items = await _all_items(
                        client,
                        f"/sca/{agent_id}/checks/{policy_id}",
                        {"result": "failed"},
                        f"SCA checks {policy_id}",
                    )
                    checks += sca_checks(policy_id, items)
                run_logger().info("Wazuh SCA of agent %s (%s): %d failed checks", agent_id, name, len(checks))
                reports.append(HostReport(report_type="wazuh-sca", host=name, checks=checks))
    return reports
