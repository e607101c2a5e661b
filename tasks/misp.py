"""MISP jobs: search attributes, add an attribute to an event, look IOCs up in MISP's database; the ingest look-up."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import anyio
import requests
import sqlalchemy as sa
from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel
from pymisp import MISPAttribute, MISPEvent, PyMISP, PyMISPError
from requests.auth import AuthBase

from alertmodel.errors import ServiceCallError
from blocks.misp import MispServer
from blocks.run_context import run_logger
from tasks._common import (
    RetryingAdapter,
    bounded_retry,
    guard_secrets,
    mount_retries,
    scrub,
    service_errors,
    status_error,
)

INTEGRATION = "MISP"


class MispAttribute(BaseModel):
    """One MISP attribute as a search or look-up found it."""

    id: int
    event_id: int
    event_info: str = ""
    type: str
    category: str = ""
    value: str
    to_ids: bool = False
    comment: str = ""


class MispAttributeAdded(BaseModel):
    """Where an added attribute landed."""

    event_id: int
    attribute_id: int
    event_created: bool


class _ErrorRecorder(AuthBase):
    """Remembers the last HTTP error pymisp saw; its constructor folds statuses into plain text."""

    def __init__(self) -> None:
        self.last: tuple[int, str] | None = None

    def __call__(self, request: Any) -> Any:
        request.register_hook("response", self._record)
        return request

    def _record(self, response: Any, **_: Any) -> None:
        if response.status_code >= 400:
            self.last = (response.status_code, response.text)


def _check(misp: MispServer, answer: Any) -> Any:
    """pymisp returns `{'errors': (status, body)}` for a 4xx instead of raising; raise ours."""
    if isinstance(answer, dict) and "errors" in answer:
        errors = answer["errors"]
        if isinstance(errors, tuple | list) and len(errors) == 2 and isinstance(errors[0], int):
            raise status_error(
                INTEGRATION, errors[0], str(errors[1]), secrets=[misp.api_key.get_secret_value()]
            )
        raise ServiceCallError(
            INTEGRATION, f"refused the request: {scrub(str(errors), [misp.api_key.get_secret_value()])[:300]}"
        )
    return answer


@contextmanager
def _calls(misp: MispServer, recorder: _ErrorRecorder) -> Iterator[None]:
    """Map whatever pymisp raises (it folds HTTP statuses into plain text) to project errors."""
    key = misp.api_key.get_secret_value()
    recorder.last = None
    with service_errors(INTEGRATION, [key]):
        try:
            yield
        except PyMISPError as exc:
            cause = exc.__context__
            if isinstance(cause, requests.RequestException):
                raise cause from exc  # service_errors turns it into a timeout/unreachable error
            if recorder.last is not None:
                raise status_error(INTEGRATION, *recorder.last, secrets=[key]) from exc
            raise ServiceCallError(INTEGRATION, f"failed: {scrub(str(exc), [key])[:300]}") from exc


def connect(misp: MispServer) -> tuple[PyMISP, _ErrorRecorder]:
    """A pymisp client with our retry policy and timeout; raises a project error if MISP refuses."""
    key = misp.api_key.get_secret_value()
    guard_secrets(key)
    recorder = _ErrorRecorder()
    adapter = RetryingAdapter(bounded_retry(misp.max_retries, misp.max_retry_after_s), misp.timeout_s)
    with _calls(misp, recorder):
        client = PyMISP(
            misp.url,
            key,
            ssl=misp.tls_verify(),
            timeout=misp.timeout_s,
            https_adapter=adapter,
            auth=recorder,
            tool="alertflow",
        )
    # pymisp mounts its adapter on https:// only; plain-http (lab) instances get the same policy.
    mount_retries(
        client._PyMISP__session,  # type: ignore[attr-defined]
        max_retries=misp.max_retries,
        max_retry_after_s=misp.max_retry_after_s,
        timeout_s=misp.timeout_s,
    )
    return client, recorder


def _attribute(raw: dict[str, Any]) -> MispAttribute:
    event = raw.get("Event") or {}
    return MispAttribute(
        id=int(raw["id"]),
        event_id=int(raw["event_id"]),
        event_info=str(event.get("info", "")),
        type=raw["type"],
        category=raw.get("category", ""),
        value=raw["value"],
        to_ids=bool(raw.get("to_ids", False)),
        comment=raw.get("comment", "") or "",
    )


def _search(
    misp: MispServer,
    connection: tuple[PyMISP, _ErrorRecorder],
    value: str,
    attribute_type: str | None = None,
    *,
    to_ids_only: bool = False,
    limit: int = 100,
) -> list[MispAttribute]:
    """Blocking: one attribute search over a `connect()` connection (reused to search many values)."""
    client, recorder = connection
    with _calls(misp, recorder):
        answer = client.search(
            controller="attributes",
            value=value,
            type_attribute=attribute_type,
            to_ids=True if to_ids_only else None,
            limit=limit,
            include_context=False,
        )
    answer = _check(misp, answer)
    return [_attribute(raw) for raw in answer.get("Attribute", [])]


@task
async def search_misp_attributes(
    misp: MispServer,
    value: str,
    attribute_type: str | None = None,
    to_ids_only: bool = False,
    limit: int = 100,
) -> list[MispAttribute]:
    """Attributes whose value equals `value` (optionally of one MISP type), with their event's info."""
    found = await anyio.to_thread.run_sync(
        lambda: _search(misp, connect(misp), value, attribute_type, to_ids_only=to_ids_only, limit=limit)
    )
    run_logger().info("MISP %s: %d attribute(s) for %s", misp.url, len(found), value)
    return found


def _find_event_id(client: PyMISP, misp: MispServer, event_info: str) -> int | None:
    events = _check(misp, client.search_index(eventinfo=event_info))
    for event in events or []:
        if event.get("info") == event_info:  # eventinfo is a LIKE search: keep exact matches only
            return int(event["id"])
    return None


@task(cache_policy=NO_CACHE)  # it acts on the world: never answer from a cache
async def add_misp_attribute(
    misp: MispServer,
    event_info: str,
    value: str,
    attribute_type: str,
    category: str | None = None,
    to_ids: bool = True,
    comment: str = "",
) -> MispAttributeAdded:
    """Add an IP/domain/hash attribute to the event titled `event_info`, creating that event when needed."""

    def add() -> MispAttributeAdded:
        client, recorder = connect(misp)
        with _calls(misp, recorder):
            event_id = _find_event_id(client, misp, event_info)
            created = event_id is None
            if event_id is None:
                event = MISPEvent()
                event.info = event_info
                event.distribution = 0  # your organisation only: sharing is a human decision
                event.threat_level_id = 2
                event.analysis = 0
                answer = _check(misp, client.add_event(event))
                event_id = int(answer["Event"]["id"])
            attribute = MISPAttribute()
            attribute.from_dict(
                type=attribute_type, value=value, to_ids=to_ids, comment=comment, category=category
            )
            # breakOnDuplicate=0: adding an attribute the event already holds updates it instead of
            # failing, so a retried playbook does not fail on its own earlier success.
            answer = _check(misp, client.add_attribute(event_id, attribute, break_on_duplicate=False))
        return MispAttributeAdded(
            event_id=event_id, attribute_id=int(answer["Attribute"]["id"]), event_created=created
        )

    added = await anyio.to_thread.run_sync(add)
    run_logger().info(
        "MISP %s: %s %s added to event %d%s",
        misp.url,
        attribute_type,
        value,
        added.event_id,
        " (new event)" if added.event_created else "",
    )
    return added


# MISP's own schema: `attributes` holds value1/value2 (the halves of composite types such as
# filename|md5), `deleted` marks soft-deleted rows, `to_ids` the attributes meant for detection.
# Two indexed IN look-ups joined by UNION (an OR across value1 and value2 would scan the table).
_LOOKUP = sa.text(
    "SELECT a.id, a.event_id, a.type, a.category, a.value1, a.value2, a.to_ids, a.comment, e.info "
    "FROM attributes a LEFT JOIN events e ON e.id = a.event_id WHERE a.deleted = 0 AND a.value1 IN :values "
    "UNION "
    "SELECT a.id, a.event_id, a.type, a.category, a.value1, a.value2, a.to_ids, a.comment, e.info "
    "FROM attributes a LEFT JOIN events e ON e.id = a.event_id WHERE a.deleted = 0 AND a.value2 IN :values"
).bindparams(sa.bindparam("values", expanding=True))


def _query_iocs(
    engine: sa.Engine, values: Sequence[str], *, to_ids_only: bool = True
) -> dict[str, list[MispAttribute]]:
    """Blocking: the MISP attributes matching each of `values`, straight from MISP's database (one query)."""
    wanted = sorted({v for v in values if v})
    if not wanted:
        return {}
    hits: dict[str, list[MispAttribute]] = {}
    with engine.connect() as conn:
        for row in conn.execute(_LOOKUP, {"values": wanted}):
            if to_ids_only and not row.to_ids:
                continue
            for matched in {row.value1, row.value2} & set(wanted):
                hits.setdefault(matched, []).append(
                    MispAttribute(
                        id=row.id,
                        event_id=row.event_id,
                        event_info=row.info or "",
                        type=row.type,
                        category=row.category or "",
                        value=matched,
                        to_ids=bool(row.to_ids),
                        comment=row.comment or "",
                    )
                )
    return hits


def misp_db_engine(misp: MispServer) -> sa.Engine:
    """An engine on MISP's database; ValueError when the block has no database URL."""
    if misp.database_url is None:
        raise ValueError(f"MISP block for {misp.url} has no database_url; set it to use direct IOC look-ups")
    return sa.create_engine(misp.database_url.get_secret_value(), pool_pre_ping=True, pool_recycle=3600)


@task
async def look_up_iocs_in_misp_db(
    misp: MispServer, values: list[str], to_ids_only: bool = True
) -> dict[str, list[MispAttribute]]:
    """Look IOC values up in MISP's database directly (Alertflex's fast path), one query for all."""
    engine = misp_db_engine(misp)
    guard_secrets(engine.url.password)  # type: ignore[arg-type]
    try:
        with service_errors(f"{INTEGRATION} database", [misp.database_url.get_secret_value()]):  # type: ignore[union-attr]
            try:
                return await anyio.to_thread.run_sync(
                    lambda: _query_iocs(engine, values, to_ids_only=to_ids_only)
                )
            except sa.exc.OperationalError as exc:
                raise ServiceCallError(
                    f"{INTEGRATION} database", f"query failed: {type(exc.orig).__name__}: {exc.orig}"[:300]
                ) from exc
    finally:
        engine.dispose()


def ioc_lookup(misp: MispServer) -> Callable[[Sequence[str]], Mapping[str, list[MispAttribute]]]:
    """The ingest IOC checks' blocking look-up of many values: MISP's database when configured, else REST.

    It keeps its engine or connection for the life of the worker that calls it.
    """
    if misp.database_url is not None:
        engine = misp_db_engine(misp)
        return lambda values: _query_iocs(engine, values)

    # Connected on first use, then reused: pymisp's handshake costs 3 calls.
    connection: list[tuple[PyMISP, _ErrorRecorder]] = []

    def by_rest(values: Sequence[str]) -> Mapping[str, list[MispAttribute]]:
        if not connection:
            connection.append(connect(misp))
        hits: dict[str, list[MispAttribute]] = {}
        for value in dict.fromkeys(values):
            found = _search(misp, connection[0], value, to_ids_only=True)
            if found:
                hits[value] = found
        return hits

    return by_rest
