"""Every error alertflow raises on purpose.

    AlertflowError
    ├── ConfigurationError      a file or setting a user wrote is invalid (policy, profile, playbook)
    │   └── JobTypeUnavailable  a playbook names a job type that is unknown or not installed
    │                           (also a LookupError)
    ├── NormalizationError      an event could not be decoded or mapped to the alert record
    ├── StorageError            the alert store refused or lost a write
    ├── IncidentError           an incident operation was refused (unknown alert or incident,
    │                           forbidden transition)
    ├── PlaybookFailed          a YAML playbook stopped at a job whose on_error is stop
    └── IntegrationError        an outside system (SSH host, SMTP, MISP, Prefect, ...) failed
        ├── RemoteCommandError  a command on a remote host exited non-zero
        ├── FanOutError         a command failed on some of many hosts (per-host results attached)
        ├── ChecksumMismatchError  a copied file does not hash to its source's digest
        ├── IdsUpdateError      an IDS rule/list update failed its check or reload and was rolled back
        ├── ServiceUnavailableError  it is down or overloaded (connection refused, 503): retry later
        └── ServiceCallError    an API call to a product (MISP, TheHive, JIRA, Slack, ...) failed
            ├── ServiceAuthError         401/403: the credentials were refused
            ├── ServiceNotFoundError     404: the object or endpoint does not exist
            ├── ServiceRateLimitedError  429 after the bounded retries    (also a ServiceUnavailableError)
            ├── ServiceServerError       5xx after retries, or unreachable (also a ServiceUnavailableError)
            └── ServiceTimeoutError      no answer in the configured time (also a ServiceUnavailableError)

Wrap library errors with ``raise ... from exc`` and put the evidence (host, status, a
trimmed message) in the text; never a secret. `describe_validation_error` words pydantic's
errors for a ConfigurationError.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from pydantic import ValidationError

Location = tuple[int | str, ...]
"""Where in a document pydantic found an error: keys and list indices."""


class AlertflowError(Exception):
    """Base for every error alertflow raises on purpose."""


class ConfigurationError(AlertflowError):
    """A file or setting is invalid; the message names the file, the path and what was expected."""


class JobTypeUnavailable(ConfigurationError, LookupError):
    """The job type is unknown, or its task is not installed."""


class NormalizationError(AlertflowError):
    """An event could not be decoded or mapped to the alert record."""


class StorageError(AlertflowError):
    """The alert store refused or lost a write."""


class IncidentError(AlertflowError):
    """An incident operation was refused (unknown alert or incident, forbidden transition)."""


class PlaybookFailed(AlertflowError):
    """A job with on_error: stop failed; the message names the playbook, the job and its error."""


class IntegrationError(AlertflowError):
    """An outside system failed; the message names the integration."""


class RemoteCommandError(IntegrationError):
    """A command on a remote host exited non-zero."""

    def __init__(self, host: str, exit_status: int, stderr: str) -> None:
        super().__init__(f"command on {host} exited {exit_status}: {stderr.strip()[:500]}")
        self.host = host
        self.exit_status = exit_status


class ServiceUnavailableError(IntegrationError):
    """An outside system is down or overloaded (connection refused, timeout, 429/502/503/504).

    Retrying later is expected to succeed, so the outbox dispatcher waits without counting an attempt.
    """


class ServiceCallError(IntegrationError):
    """An API call to a product failed; the message names the product and what happened."""

    def __init__(self, integration: str, what: str, *, status: int | None = None) -> None:
        suffix = f" (HTTP {status})" if status is not None else ""
        super().__init__(f"{integration}: {what}{suffix}")
        self.integration = integration
        self.status = status


class ServiceAuthError(ServiceCallError):
    """The product refused the configured credentials (401) or the permission (403)."""


class ServiceNotFoundError(ServiceCallError):
    """The product has no such object or endpoint (404)."""


class ServiceRateLimitedError(ServiceCallError, ServiceUnavailableError):
    """The product kept answering 429 after the bounded retries."""


class ServiceServerError(ServiceCallError, ServiceUnavailableError):
    """The product answered 5xx after the retries, or could not be reached at all."""


class ServiceTimeoutError(ServiceCallError, ServiceUnavailableError):
    """The product did not answer within the configured timeout."""


class FanOutError(IntegrationError):
    """A command failed on some of many hosts; `results` holds every host's outcome."""

    def __init__(self, message: str, results: object) -> None:
        super().__init__(message)
        self.results = results


class ChecksumMismatchError(IntegrationError):
    """A copied file does not hash, at its destination, to what was read from the source."""


class IdsUpdateError(IntegrationError):
    """A rules or IP-list update failed validation or reload on a sensor; the old file was restored."""


def document_path(loc: Location, skip: Collection[str] = ()) -> str:
    """A pydantic error location as a path in the document: `sources.hids.gray_list[0].event`.

    `skip` names the tags of discriminated unions, which pydantic adds to the location but the
    document does not have.
    """
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part not in skip:
            path += f".{part}" if path else part
    return path


def describe_validation_error(
    exc: ValidationError, origin: str, where: Callable[[Location], str] = document_path
) -> str:
    """One line per error, `origin: where: what was expected (got value)`, for a ConfigurationError.

    `where` puts a location into words (by default its path; an empty one is "(top level)").
    A scalar input is shown, cut to 80 characters; objects and lists are not repeated.
    """
    lines = []
    for error in exc.errors(include_url=False):
        got = error.get("input")
        shown = ""
        if error["type"] != "missing" and (got is None or isinstance(got, str | int | float | bool)):
            shown = f" (got {got!r:.80})"
        lines.append(f"{origin}: {where(error['loc']) or '(top level)'}: {error['msg']}{shown}")
    return "\n".join(lines)
