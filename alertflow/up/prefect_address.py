"""Where a command reaches Prefect: PREFECT_API_URL, or the server `alertflow up` runs; nothing else.

With no server configured, Prefect's default profile lets a client start a throw-away
("ephemeral") server inside the command: none of the deployments or blocks are there, the
work is lost on exit, and its telemetry reaches for the internet. Every command that talks to
Prefect finds it with `find_prefect_server` first: it finds the server or refuses with the fix.

This module imports no Prefect at import time (the `up` supervisor and the CLI stay small);
its functions do, because its callers are about to talk to Prefect anyway.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pydantic import SecretStr

from alertflow.up.prefect_api import PrefectApi
from alertflow.up.secret_files import read_auth_string
from alertflow.up.settings import UpSettings
from alertmodel.errors import ConfigurationError
from alertmodel.settings import Settings


@dataclass(frozen=True)
class PrefectAddress:
    """A Prefect API that answered `/health`, and how to log in to it."""

    api_url: str
    auth_string: SecretStr | None
    found_by: str


def find_prefect_server(settings: Settings, up: UpSettings | None = None) -> PrefectAddress:
    """PREFECT_API_URL (+ PREFECT_API_AUTH_STRING) when set, else `up`'s server of this data dir.

    Raises ConfigurationError, with what to do, when that server does not answer.
    """
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL

    configured = PREFECT_API_URL.value()
    if configured:
        auth = PREFECT_API_AUTH_STRING.value()
        secret = auth.get_secret_value() if isinstance(auth, SecretStr) else auth
        address = PrefectAddress(
            configured.rstrip("/"), SecretStr(secret) if secret else None, "PREFECT_API_URL"
        )
        fix = "check PREFECT_API_URL (and PREFECT_API_AUTH_STRING)"
    else:
        up = up or UpSettings()
        data_dir = settings.data_dir.expanduser()
        auth_string = read_auth_string(data_dir)
        address = PrefectAddress(
            up.prefect_api_url,
            SecretStr(auth_string) if auth_string else None,
            f"`alertflow up` (data dir {data_dir})",
        )
        fix = (
            "start `alertflow up` (same ALERTFLOW_DATA_DIR and ALERTFLOW_UP_PREFECT_PORT), or set "
            "PREFECT_API_URL (and PREFECT_API_AUTH_STRING) to use another Prefect server"
        )
    secret = address.auth_string.get_secret_value() if address.auth_string else None
    with PrefectApi(address.api_url, secret) as api:
        if not api.healthy():
            raise ConfigurationError(f"no Prefect server answers at {address.api_url}: {fix}")
    return address


@contextmanager
def use_prefect_server(address: PrefectAddress) -> Iterator[PrefectAddress]:
    """Within the block, this process's Prefect client talks to `address` (threads started inside too)."""
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    updates: dict[object, object] = {PREFECT_API_URL: address.api_url}
    if address.auth_string is not None:
        updates[PREFECT_API_AUTH_STRING] = address.auth_string.get_secret_value()
    with temporary_settings(updates=updates):  # type: ignore[arg-type]
        yield address
