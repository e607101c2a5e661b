"""The secrets `alertflow up` keeps in its data dir, and the privacy of that directory.

The data dir holds the Prefect API auth string, the ingest token, the REST API's admin password
and TLS key, and the Prefect database, in which Prefect keeps the key that decrypts every
block secret: no other user may read it.
"""

from __future__ import annotations

import os
import secrets
import shlex
import stat
from collections.abc import Callable
from pathlib import Path

from alertmodel.errors import ConfigurationError

AUTH_FILE = "prefect-auth"
INGEST_TOKEN_FILE = "ingest-token"  # noqa: S105 (a file name, not a secret)
API_ADMIN_FILE = "api-admin"


def ensure_private_dir(path: Path) -> None:
    """Create `path` (mode 0700), or refuse it when other users may read or write it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise ConfigurationError(
            f"{path} is open to other users (mode {mode:o}) and holds the Prefect database with the "
            f"key to every block secret; run `chmod -R go-rwx {shlex.quote(str(path))}`"
        )
    if info.st_uid != os.getuid():
        raise ConfigurationError(f"{path} belongs to uid {info.st_uid}, not to this user (uid {os.getuid()})")


def ensure_auth_string(data_dir: Path) -> str:
    """The `user:password` of the local Prefect API, created once, kept with mode 0600."""
    value = _secret_file(data_dir / AUTH_FILE, lambda: f"alertflow:{secrets.token_urlsafe(24)}")
    if ":" not in value:
        raise ConfigurationError(f"{data_dir / AUTH_FILE} must hold user:password on one line")
    return value


def read_auth_string(data_dir: Path) -> str | None:
    """The auth string `up` made, or None when it never made one (nothing is created)."""
    if not (data_dir / AUTH_FILE).exists():
        return None
    return ensure_auth_string(data_dir)


def ensure_ingest_token(data_dir: Path) -> str:
    """The bearer token of the HTTP ingest endpoint, created once, kept with mode 0600."""
    return _secret_file(data_dir / INGEST_TOKEN_FILE, lambda: secrets.token_urlsafe(32))


def ensure_api_admin_password(data_dir: Path) -> str:
    """The password of the API's first admin (`api-admin`), created once, kept with mode 0600."""
    return _secret_file(data_dir / API_ADMIN_FILE, lambda: secrets.token_urlsafe(24))


def ensure_password(path: Path) -> str:
    """A random password kept in `path` (mode 0600), created once."""
    return _secret_file(path, lambda: secrets.token_urlsafe(24))


def _secret_file(path: Path, make: Callable[[], str]) -> str:
    """The one-line secret in `path`, created (mode 0600) when missing; refused when others can read it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise ConfigurationError(
                f"{path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`"
            ) from None
        value = path.read_text(encoding="utf-8").strip()
        if not value:
            raise ConfigurationError(f"{path} is empty; delete it and a new secret is made") from None
        return value
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        value = make()
        handle.write(value + "\n")
    return value
