"""Elasticsearch and OpenSearch `_bulk` through the official clients, one result per document.

Each alert is an `index` action with the alert's uuid as `_id`, so sending it again overwrites
the same document. A document the cluster refuses for good (a mapping or parse error: a 4xx
item) is handed back as Refused and dead-lettered; an item answered 429 or 5xx, or a request
that fails, makes the whole batch go again later (the documents already written are overwritten).
"""

from __future__ import annotations

from typing import Any

import orjson

from alertmodel.errors import ServiceCallError, ServiceUnavailableError
from blocks.forwarders import ElasticsearchForwarder
from tasks.forward.common import Refused
from tasks.forward.render import Window

RETRY_ITEM_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))


def _client(block: ElasticsearchForwarder) -> Any:
    auth: dict[str, Any] = {}
    if block.flavor == "elasticsearch":
        from elasticsearch import Elasticsearch
        from elasticsearch.serializer import OrjsonSerializer

        if block.api_key is not None:
            auth["api_key"] = block.api_key.get_secret_value()
        elif block.username is not None:
            auth["basic_auth"] = (block.username, block.password.get_secret_value() if block.password else "")
        return Elasticsearch(
            block.url,
            verify_certs=block.verify_tls,
            ca_certs=block.ca_file,
            request_timeout=block.timeout_s,
            max_retries=0,
            serializer=OrjsonSerializer(),  # a _bulk answer has one item per document
            **auth,
        )
    from opensearchpy import JSONSerializer, OpenSearch

    class OrjsonLoads(JSONSerializer):
        def loads(self, s: Any) -> Any:
            return orjson.loads(s)

    if block.api_key is not None:
        auth["headers"] = {"Authorization": "ApiKey " + block.api_key.get_secret_value()}
    elif block.username is not None:
        auth["http_auth"] = (block.username, block.password.get_secret_value() if block.password else "")
    return OpenSearch(
        [block.url],
        verify_certs=block.verify_tls,
        ca_certs=block.ca_file,
        timeout=block.timeout_s,
        max_retries=0,
        serializer=OrjsonLoads(),
        **auth,
    )


class ElasticSender:
    """Sends alerts to one Elasticsearch or OpenSearch index."""

    def __init__(self, block: ElasticsearchForwarder) -> None:
        self.block = block
        self.origin = f"{block.flavor} {block.url.split('@')[-1]} index {block.index}"
        self.client = _client(block)
        self._secrets = [s.get_secret_value() for s in (block.password, block.api_key) if s is not None]

    def send_window(self, window: Window) -> list[Refused]:
        """Index a window; the documents refused for good come back, the rest are written or retried."""
        answer = self._bulk(window.wire)
        if not answer.get("errors"):
            return []
        refused, retry = [], []
        items = answer.get("items", [])
        documents = window.wire.split(b"\n")[1::2]  # JSON has no raw newline: one line per document
        for alert_uuid, document, result in zip(window.uuids, documents, items, strict=False):
            outcome = next(iter(result.values()), {})
            status = int(outcome.get("status", 0))
            if status < 300:
                continue
            if status in RETRY_ITEM_STATUSES:
                retry.append(status)
                continue
            error = outcome.get("error") or {}
            reason = (
                f"HTTP {status} {error.get('type', 'error')}: {error.get('reason', '')}"
                if isinstance(error, dict)
                else f"HTTP {status}: {error}"
            )
            refused.append(Refused(alert_uuid, document, self._scrub(reason)))
        if retry:
            raise ServiceUnavailableError(
                f"{self.origin}: {len(retry)} of {len(window.uuids)} documents answered {sorted(set(retry))}; resending"
            )
        return refused

    def _bulk(self, body: bytes) -> dict[str, Any]:
        try:
            if self.block.flavor == "elasticsearch":
                return dict(self.client.bulk(operations=body, index=self.block.index).body)
            return dict(self.client.bulk(body=body, index=self.block.index))
        except Exception as exc:  # the two clients' transport and API errors share no base
            status = getattr(exc, "status_code", None) or getattr(getattr(exc, "meta", None), "status", None)
            what = self._scrub(f"{type(exc).__name__}: {exc}")[:500]
            if isinstance(status, int) and 400 <= status < 500 and status not in RETRY_ITEM_STATUSES:
                raise ServiceCallError(self.origin, f"_bulk refused: {what}", status=status) from exc
            raise ServiceUnavailableError(f"{self.origin}: _bulk failed: {what}") from exc

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()
