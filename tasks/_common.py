"""Plumbing every integration task shares: bounded retries, timeouts, errors and logs without secrets."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from alertmodel.errors import (
    IntegrationError,
    ServiceAuthError,
    ServiceCallError,
    ServiceNotFoundError,
    ServiceRateLimitedError,
    ServiceServerError,
    ServiceTimeoutError,
)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# A 429 or 503 means the server did not act on the request, so even a POST may be sent again;
# a 500/502/504 after a POST may hide a created object, so only idempotent methods repeat then.
SAFE_TO_REPEAT = frozenset({429, 503})
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every non-empty secret replaced by '***' (servers sometimes echo a key back)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


# SDK loggers that write request lines or headers (pymisp logs the Authorization header at DEBUG,
# urllib3/httpx log URLs that carry ZAP's key); records are scrubbed at the logger they start at.
SDK_LOGGERS = (
    "pymisp",
    "urllib3.connectionpool",
    "twilio.http_client",
    "slack_sdk.web.async_base_client",
    "slack_sdk.web.base_client",
    "jira",
    "thehive4py",
    "httpx",
    "httpcore.http11",
    "httpcore.connection",
)
_SECRETS: set[str] = set()


class _RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            message = record.getMessage()
            clean = scrub(message, _SECRETS)
            if clean != message:
                record.msg, record.args = clean, None
        return True


_REDACT = _RedactSecrets()


def guard_secrets(*secrets: str | None) -> None:
    """Keep these secrets out of every line the SDKs log, whatever their log level."""
    _SECRETS.update(s for s in secrets if s and len(s) >= 4)
    for name in SDK_LOGGERS:
        logger = logging.getLogger(name)
        if _REDACT not in logger.filters:
            logger.addFilter(_REDACT)


class BoundedRetry(Retry):
    """urllib3 retries that repeat a non-idempotent call only when the server did not act on it."""

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if method.upper() not in IDEMPOTENT and status_code not in SAFE_TO_REPEAT:
            return False
        return super().is_retry(method, status_code, has_retry_after)


def bounded_retry(max_retries: int, max_retry_after_s: float, backoff_s: float = 0.5) -> BoundedRetry:
    """Retry 429/5xx and refused connections `max_retries` times, honouring Retry-After up to a cap."""
    return BoundedRetry(
        total=max_retries,
        connect=max_retries,
        read=False,  # a read timeout may hide a processed request: report it, never repeat it
        status=max_retries,
        other=0,
        allowed_methods=None,
        status_forcelist=RETRY_STATUSES,
        backoff_factor=backoff_s,
        backoff_max=max_retry_after_s,
        retry_after_max=max(1, int(max_retry_after_s)),
        raise_on_status=False,
        respect_retry_after_header=True,
    )


class RetryingAdapter(HTTPAdapter):
    """A requests adapter with bounded retries and a default timeout, for SDKs that set neither."""

    def __init__(self, retry: Retry, timeout_s: float) -> None:
        super().__init__(max_retries=retry)
        self.timeout_s = timeout_s

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout_s
        return super().send(request, **kwargs)


def mount_retries(
    session: requests.Session, *, max_retries: int, max_retry_after_s: float, timeout_s: float
) -> None:
    """Give an SDK's requests session our retry policy and timeout, for http and https alike."""
    adapter = RetryingAdapter(bounded_retry(max_retries, max_retry_after_s), timeout_s)
    session.mount("http://", adapter)
    session.mount("https://", adapter)


_WHAT = {
    401: "rejected the credentials",
    403: "refused access with these credentials",
    404: "has no such object or endpoint",
    429: "kept rate-limiting the request after the retries",
}


def status_error(
    integration: str, status: int, detail: str = "", *, secrets: Iterable[str | None] = ()
) -> ServiceCallError:
    """The project error for an HTTP status a product answered with."""
    if status in (401, 403):
        cls: type[ServiceCallError] = ServiceAuthError
    elif status == 404:
        cls = ServiceNotFoundError
    elif status == 429:
        cls = ServiceRateLimitedError
    elif status >= 500:
        cls = ServiceServerError
    else:
        cls = ServiceCallError
    what = _WHAT.get(status) or ("failed after the retries" if status >= 500 else "refused the request")
    detail = scrub(detail.strip(), secrets)[:300]
    return cls(integration, f"{what}: {detail}" if detail else what, status=status)


@contextmanager
def service_errors(integration: str, secrets: Iterable[str | None] = ()) -> Iterator[None]:
    """Turn transport failures of requests/httpx into project errors naming `integration`."""
    secrets = tuple(secrets)
    try:
        yield
    except IntegrationError:
        raise
    except (requests.Timeout, httpx.TimeoutException) as exc:
        raise ServiceTimeoutError(integration, "did not answer in time") from exc
    except (requests.ConnectionError, httpx.TransportError) as exc:
        reason = scrub(str(exc), secrets)[:300]
        raise ServiceServerError(integration, f"could not be reached: {reason}") from exc
