"""Reputation of an IP, domain or file hash, as MISP knows it (a playbook's question)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from prefect import task
from pydantic import BaseModel

from alertmodel.indicators import IndicatorKind, normalize_indicator
from blocks.misp import MispServer
from blocks.run_context import run_logger
from tasks.misp import MispAttribute, look_up_iocs_in_misp_db, search_misp_attributes

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
        found = await look_up_iocs_in_misp_db.fn(misp, [value])
    else:
        found = {value: await search_misp_attributes.fn(misp, value, to_ids_only=True)}
    reputation = reputation_from_hits(kind, value, found.get(value, []))
    run_logger().info("reputation of %s %s: %s", kind, value, reputation.verdict)
    return reputation
