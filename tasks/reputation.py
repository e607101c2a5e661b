"""Reputation of an IP, domain or file hash, as MISP knows it (the IOC checks' and playbooks' question)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import anyio
from prefect import task
from pydantic import BaseModel

from alertmodel.indicators import IndicatorKind, normalize_indicator
from blocks.misp import MispServer
from blocks.run_context import run_logger
from tasks.misp import MispAttribute, connect, lookup_iocs_in_db, misp_db_engine, search_attributes_sync

MISP_TYPES: dict[str, frozenset[str]] = {
    "ip": frozenset({"ip-src", "ip-dst", "ip-src|port", "ip-dst|port", "domain|ip"}),
    "domain": frozenset({"domain", "hostname", "domain|ip"}),
    "md5": frozenset({"md5", "filename|md5"}),
    "sha1": frozenset({"sha1", "filename|sha1"}),
    "sha256": frozenset({"sha256", "filename|sha256"}),
}
"""The MISP attribute types that can hold an indicator of each kind (composites hold it in value1 or value2)."""


class Reputation(BaseModel):
    """What MISP says about one indicator."""

    indicator: str
    kind: IndicatorKind
    verdict: Literal["malicious", "unknown"]
    events: list[str]
    hits: list[MispAttribute]


def ioc_lookup(misp: MispServer) -> Callable[[Sequence[str]], Mapping[str, list[MispAttribute]]]:
    """A blocking look-up of many IOC values at once: MISP's database when configured, else its REST API."""
    if misp.database_url is not None:
        engine = misp_db_engine(misp)
        return lambda values: lookup_iocs_in_db(engine, values)

    connection: list[Any] = []  # connected on first use, then reused: pymisp's handshake costs 3 calls

    def by_rest(values: Sequence[str]) -> Mapping[str, list[MispAttribute]]:
        if not connection:
            connection.append(connect(misp))
        hits: dict[str, list[MispAttribute]] = {}
        for value in dict.fromkeys(values):
            found = search_attributes_sync(misp, value, to_ids_only=True, connection=connection[0])
            if found:
                hits[value] = found
        return hits

    return by_rest


def reputation_from_hits(kind: IndicatorKind, indicator: str, hits: Sequence[MispAttribute]) -> Reputation:
    """The verdict for `indicator` from the attributes found for its value."""
    relevant = [hit for hit in hits if hit.type in MISP_TYPES[kind]]
    return Reputation(
        indicator=indicator,
        kind=kind,
        verdict="malicious" if relevant else "unknown",
        events=sorted({hit.event_info for hit in relevant if hit.event_info}),
        hits=relevant,
    )


@task
async def check_reputation(misp: MispServer, indicator: str, kind: IndicatorKind) -> Reputation:
    """Is this IP, domain or hash a detection IOC in MISP? (`malicious` with the events, or `unknown`)."""
    value = normalize_indicator(kind, indicator)
    if misp.database_url is not None:
        engine = misp_db_engine(misp)
        try:
            found = await anyio.to_thread.run_sync(lambda: lookup_iocs_in_db(engine, [value]))
        finally:
            engine.dispose()
    else:
        found = {
            value: await anyio.to_thread.run_sync(
                lambda: search_attributes_sync(misp, value, to_ids_only=True)
            )
        }
    reputation = reputation_from_hits(kind, value, found.get(value, []))
    run_logger().info("reputation of %s %s: %s", kind, value, reputation.verdict)
    return reputation
