"""The rule for the bearer token of `POST /ingest`, shared by the settings and the HTTP source."""

from __future__ import annotations

from pydantic import SecretStr

MIN_INGEST_TOKEN_BYTES = 32
MAKE_INGEST_TOKEN = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'  # noqa: S105 (how to make one)


def check_ingest_token(token: SecretStr) -> None:
    """Refuse a token short enough to guess; the message names the setting and how to make a good one."""
    size = len(token.get_secret_value().encode())
    if size < MIN_INGEST_TOKEN_BYTES:
        raise ValueError(
            f"ALERTFLOW_INGEST_TOKEN is {size} bytes long; it must be at least {MIN_INGEST_TOKEN_BYTES} "
            f"random bytes. Make one with: {MAKE_INGEST_TOKEN}"
        )
