"""TheHive jobs: create an alert or a case (with observables) from alertflow alerts, and update status."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import anyio
from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel
from thehive4py import TheHiveApi
from thehive4py.errors import TheHiveError
from thehive4py.query.filters import Eq

from alertmodel.errors import ServiceCallError
from blocks.run_context import run_logger
from blocks.thehive import TheHiveServer
from tasks._common import (
    bounded_retry,
    guard_secrets,
    mount_retries,
    service_errors,
    status_error,
)
from tasks.notify import alert_title

INTEGRATION = "TheHive"

# alertflow severity 0 Info .. 3 Critical -> TheHive 1 LOW .. 4 CRITICAL
_SEVERITY = {0: 1, 1: 2, 2: 3, 3: 4}
_OBSERVABLE_FIELDS = (
    ("srcip", "ip"),
    ("dstip", "ip"),
    ("hash_md5", "hash"),
    ("hash_sha1", "hash"),
    ("hash_sha256", "hash"),
    ("file", "filename"),
    ("url", "url"),
)


class TheHiveRef(BaseModel):
    """An object in TheHive: its id (`~123`), kind, status and, for cases, the number analysts use."""

    id: str
    kind: Literal["alert", "case"]
    status: str = ""
    number: int | None = None


def _known(value: Any) -> bool:
    return value not in (None, "", "indef", "0.0.0.0")  # noqa: S104 - Alertflex's "no address"


def observables_of(alerts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """TheHive observables (ip, hash, filename, url) for the known values of these alerts, once each."""
    seen: set[tuple[str, str]] = set()
    observables = []
    for alert in alerts:
        for field, data_type in _OBSERVABLE_FIELDS:
            value = alert.get(field)
            if _known(value) and (data_type, str(value)) not in seen:
                seen.add((data_type, str(value)))
                observables.append(
                    {"dataType": data_type, "data": str(value), "message": f"alertflow {field}"}
                )
    return observables


def _description(alert: Mapping[str, Any]) -> str:
    lines = [f"**{alert_title(alert)}**", ""]
    for name in ("alert_uuid", "time_collr", "node_id", "source", "event", "category", "srcip", "dstip", "agent", "user", "file", "info"):  # fmt: skip
        if _known(alert.get(name)):
            lines.append(f"- {name}: {alert[name]}")
    return "\n".join(lines)


def _api(thehive: TheHiveServer) -> TheHiveApi:
    key = thehive.api_key.get_secret_value()
    guard_secrets(key)
    api = TheHiveApi(
        url=thehive.url,
        apikey=key,
        organisation=thehive.organisation,
        verify=thehive.tls_verify(),
        max_retries=bounded_retry(thehive.max_retries, thehive.max_retry_after_s),
    )
    # thehive4py sets no timeout of its own: give its session ours (and the same retries).
    mount_retries(
        api.session,
        max_retries=thehive.max_retries,
        max_retry_after_s=thehive.max_retry_after_s,
        timeout_s=thehive.timeout_s,
    )
    return api


@contextmanager
def _calls(thehive: TheHiveServer, doing: str) -> Iterator[None]:
    key = thehive.api_key.get_secret_value()
    with service_errors(INTEGRATION, [key]):
        try:
            yield
        except TheHiveError as exc:
            if exc.response is None:
                raise status_error(INTEGRATION, 400, f"{doing}: {exc.message}", secrets=[key]) from exc
            raise status_error(
                INTEGRATION, exc.response.status_code, f"{doing}: {exc.message}", secrets=[key]
            ) from exc


def _create_alert_sync(thehive: TheHiveServer, alert: Mapping[str, Any]) -> TheHiveRef:
    api = _api(thehive)
    body = {
        "type": thehive.alert_type,
        "source": thehive.alert_source,
        "sourceRef": str(alert["alert_uuid"]),
        "title": alert_title(alert)[:512],
        "description": _description(alert),
        "severity": _SEVERITY.get(int(alert.get("severity") or 0), 1),
        "tags": [t.strip() for t in str(alert.get("category", "")).split(",") if _known(t.strip())],
        "observables": observables_of([alert]),
    }
    # Looked up first, so a retry after a crash between creating it and storing its id finds it.
    created = _find_alert(api, thehive, body)
    if created is not None:
        return TheHiveRef(id=created["_id"], kind="alert", status=created.get("status", ""))
    try:
        with _calls(thehive, "creating an alert"):
            created = api.alert.create(alert=body)  # type: ignore[arg-type]
    except ServiceCallError as exc:
        # TheHive keeps (type, source, sourceRef) unique: a concurrent creator got there first.
        if exc.status not in (400, 409) or "exist" not in str(exc):
            raise
        created = _find_alert(api, thehive, body)
        if created is None:
            raise
    return TheHiveRef(id=created["_id"], kind="alert", status=created.get("status", ""))


def _find_alert(api: TheHiveApi, thehive: TheHiveServer, body: Mapping[str, Any]) -> Any:
    """The TheHive alert with this (type, source, sourceRef), or None."""
    with _calls(thehive, "looking for the alert"):
        found = api.alert.find(
            filters=Eq("type", body["type"])
            & Eq("source", body["source"])
            & Eq("sourceRef", body["sourceRef"])
        )
    return found[0] if found else None


@task(cache_policy=NO_CACHE)  # it acts on the world: never answer from a cache
async def create_thehive_alert(thehive: TheHiveServer, alert: dict[str, Any]) -> TheHiveRef:
    """Create (or find, when it exists already) the TheHive alert for an alertflow alert, with its observables."""
    ref = await anyio.to_thread.run_sync(lambda: _create_alert_sync(thehive, alert))
    run_logger().info("TheHive: alert %s for %s", ref.id, alert.get("alert_uuid"))
    return ref


def _create_case_sync(
    thehive: TheHiveServer,
    title: str,
    description: str,
    severity: int,
    alerts: Sequence[Mapping[str, Any]],
    tags: list[str],
) -> TheHiveRef:
    api = _api(thehive)
    with _calls(thehive, "creating a case"):
        case = api.case.create(
            case={
                "title": title[:512],
                "description": description or "\n\n".join(_description(a) for a in alerts) or title,
                "severity": _SEVERITY.get(severity, 1),
                "tags": tags,
            }
        )
    with _calls(thehive, f"adding observables to case {case['_id']}"):
        for observable in observables_of(alerts):
            api.case.create_observable(case_id=case["_id"], observable=observable)  # type: ignore[arg-type]
    return TheHiveRef(id=case["_id"], kind="case", status=case.get("status", ""), number=case.get("number"))


@task(cache_policy=NO_CACHE)  # it acts on the world: never answer from a cache
async def create_thehive_case(
    thehive: TheHiveServer,
    title: str,
    alerts: list[dict[str, Any]],
    severity: int = 2,
    description: str = "",
    tags: list[str] | None = None,
) -> TheHiveRef:
    """Open a TheHive case for an incident: its alerts' IPs, hashes, file names and URLs become observables."""
    ref = await anyio.to_thread.run_sync(
        lambda: _create_case_sync(thehive, title, description, severity, alerts, list(tags or []))
    )
    run_logger().info("TheHive: case #%s (%s) opened: %s", ref.number, ref.id, title)
    return ref


@task(cache_policy=NO_CACHE)  # it acts on the world: never answer from a cache
async def update_thehive_status(
    thehive: TheHiveServer, kind: Literal["alert", "case"], thehive_id: str, status: str
) -> TheHiveRef:
    """Set the status of a TheHive alert (New, Ignored, ...) or case (InProgress, TruePositive, ...)."""

    def update() -> None:
        api = _api(thehive)
        with _calls(thehive, f"updating {kind} {thehive_id}"):
            if kind == "alert":
                api.alert.update(thehive_id, fields={"status": status})
            else:
                api.case.update(thehive_id, fields={"status": status})

    await anyio.to_thread.run_sync(update)
    run_logger().info("TheHive: %s %s is now %s", kind, thehive_id, status)
    return TheHiveRef(id=thehive_id, kind=kind, status=status)
