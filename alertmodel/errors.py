"""Every error alertflow raises on purpose.

    AlertflowError
    ├── ConfigurationError      a file or setting a user wrote is invalid (policy, profile, playbook)
    ├── NormalizationError      an event could not be decoded or mapped to the alert record
    ├── StorageError            the alert store refused or lost a write
    └── IntegrationError        an outside system (SSH host, SMTP, MISP, Prefect, ...) failed
        ├── RemoteCommandError  a command on a remote host exited non-zero
        └── ServiceUnavailableError  it is down or overloaded (connection refused, 503): retry later

Wrap library errors with ``raise ... from exc`` and put the evidence (host, status, a
trimmed message) in the text; never a secret.
"""


class AlertflowError(Exception):
    """Base for every error alertflow raises on purpose."""


class ConfigurationError(AlertflowError):
    """A file or setting is invalid; the message names the file, the path and what was expected."""


class NormalizationError(AlertflowError):
    """An event could not be decoded or mapped to the alert record."""


class StorageError(AlertflowError):
    """The alert store refused or lost a write."""


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
