"""Wiring of the ingest IOC checks: a MISP block (from Prefect) becomes an `IocEnricher`."""

from __future__ import annotations

from ingest.ioc import IocEnricher, TtlCache


def misp_ioc_enricher(
    block_name: str, *, node: str, severity: int = 2, cache_ttl_s: float = 300.0, cache_entries: int = 50_000
) -> IocEnricher:
    """An enricher checking ingest indicators against the MISP block `block_name` (its DB when configured).

    Raises ValueError when no such block is saved on the Prefect server (PREFECT_API_URL).
    """
    from blocks.misp import MispServer
    from tasks.reputation import ioc_lookup

    misp = MispServer.load(block_name)
    return IocEnricher(
        ioc_lookup(misp),
        node=node,
        severity=severity,
        cache=TtlCache(max_entries=cache_entries, ttl_s=cache_ttl_s),
    )
