"""API users and personal tokens: argon2 password hashes, SHA-256-stored tokens, sign-in checks.

Used by `alertflow users` and by the API's authentication; every change is written to the
audit log in the same transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, Engine, select

from alertflow.api import audit
from alertmodel.account import ROLES, ApiToken, ApiUser
from alertmodel.types import utcnow

_USERS = ApiUser.__table__
_TOKENS = ApiToken.__table__

# OWASP's argon2id choice (19 MiB, 2 passes): a sign-in costs tens of milliseconds, and the
# semaphore keeps a burst of them from taking more than a few of those 19 MiB at once.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_VERIFYING = threading.BoundedSemaphore(4)
_DUMMY_HASH = _HASHER.hash(secrets.token_hex(16))

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
TOKEN_PREFIX = "aft_"  # noqa: S105 (a marker that tells tokens from passwords, not a secret)


class AccountError(ValueError):
    """A user or token request was refused; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as: a user's name, role and tenants (empty = every tenant)."""

    name: str
    role: str
    tenants: tuple[str, ...]

    def has_role(self, role: str) -> bool:
        """Whether this principal's role includes `role` (viewer < analyst < admin)."""
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token just created: `secret` is shown once and never stored."""

    id: int
    name: str
    secret: str
    expires_at: datetime | None


def check_name(name: str) -> str:
    """The user name, or AccountError: letters, digits and `_.@-`, at most 64 characters."""
    if not NAME_PATTERN.match(name):
        raise AccountError(
            f"user name {name!r} must be 1-64 letters, digits or _.@- (starting with one of the first two)"
        )
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    return role


def check_tenants(tenants: list[str]) -> list[str]:
    for tenant in tenants:
        if not tenant or len(tenant) > 255:
            raise AccountError("a tenant is a ref_id of 1-255 characters")
    return sorted(set(tenants))


def hash_password(password: str) -> str:
    """An argon2id hash of the password; AccountError when it is too short or too long."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AccountError(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return _HASHER.hash(password)


def user_view(row: Any) -> dict[str, Any]:
    """A user as the audit log and the API show it: never the password hash."""
    return {
        "name": row.name,
        "role": row.role,
        "tenants": list(row.tenants),
        "disabled": bool(row.disabled),
    }


def add_user(
    engine: Engine, name: str, *, role: str, password: str, tenants: list[str], actor: str
) -> dict[str, Any]:
    """Create a user; AccountError when the name is taken or a value is invalid."""
    values = {
        "name": check_name(name),
        "role": check_role(role),
        "tenants": check_tenants(tenants),
        "password_hash": hash_password(password),
        "disabled": False,
    }
    now = utcnow()
    with engine.begin() as conn:
        if _user_row(conn, name) is not None:
            raise AccountError(f"user {name!r} exists")
        conn.execute(_USERS.insert().values(**values, created_at=now, updated_at=now))
        created = _user_row(conn, name)
        audit.record(conn, actor=actor, action="user.create", target=f"user/{name}", after=user_view(created))
    return user_view(created)


def update_user(
    engine: Engine,
    name: str,
    *,
    actor: str,
    role: str | None = None,
    tenants: list[str] | None = None,
    disabled: bool | None = None,
    password: str | None = None,
) -> dict[str, Any]:
    """Change a user's role, tenants, disabled flag or password; AccountError when there is no such user."""
    values: dict[str, Any] = {}
    if role is not None:
        values["role"] = check_role(role)
    if tenants is not None:
        values["tenants"] = check_tenants(tenants)
    if disabled is not None:
        values["disabled"] = disabled
    if password is not None:
        values["password_hash"] = hash_password(password)
    with engine.begin() as conn:
        before = _user_row(conn, name, for_update=True)
        if before is None:
            raise AccountError(f"no user {name!r}")
        if not values:
            return user_view(before)
        conn.execute(_USERS.update().where(_USERS.c.id == before.id).values(**values, updated_at=utcnow()))
        after = _user_row(conn, name)
        shown_after = user_view(after)
        if password is not None:
            shown_after["password_changed"] = True
        audit.record(
            conn,
            actor=actor,
            action="user.update",
            target=f"user/{name}",
            before=user_view(before),
            after=shown_after,
        )
    SIGNED_IN.clear()  # a disabled user, a new role or password counts from the next request
    return user_view(after)


def list_users(engine: Engine) -> list[dict[str, Any]]:
    """Every user, by name, with how many live tokens each has."""
    now = utcnow()
    with engine.connect() as conn:
        users = conn.execute(select(_USERS).order_by(_USERS.c.name)).all()
        tokens = conn.execute(select(_TOKENS.c.user_id, _TOKENS.c.expires_at, _TOKENS.c.revoked_at)).all()
    live: dict[int, int] = {}
    for t in tokens:
        if t.revoked_at is None and (t.expires_at is None or t.expires_at > now):
            live[t.user_id] = live.get(t.user_id, 0) + 1
    return [{**user_view(u), "tokens": live.get(u.id, 0)} for u in users]


def create_token(
    engine: Engine, user: str, *, name: str = "", expires_in: timedelta | None, actor: str
) -> IssuedToken:
    """A new personal token for `user`; its secret is in the result and nowhere else."""
    if len(name) > 255:
        raise AccountError("a token name has at most 255 characters")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    expires_at = now + expires_in if expires_in is not None else None
    with engine.begin() as conn:
        owner = _user_row(conn, user)
        if owner is None:
            raise AccountError(f"no user {user!r}")
        token_id = int(
            conn.execute(
                _TOKENS.insert().values(
                    user_id=owner.id,
                    name=name,
                    token_sha256=_sha256(secret),
                    created_at=now,
                    expires_at=expires_at,
                )
            ).inserted_primary_key[0]
        )
        audit.record(
            conn,
            actor=actor,
            action="token.create",
            target=f"user/{user}/token/{token_id}",
            after={"name": name, "expires_at": expires_at.isoformat() if expires_at else None},
        )
    return IssuedToken(id=token_id, name=name, secret=secret, expires_at=expires_at)


def list_tokens(engine: Engine, user: str) -> list[dict[str, Any]]:
    """A user's tokens (never their secrets), newest first."""
    with engine.connect() as conn:
        owner = _user_row(conn, user)
        if owner is None:
            raise AccountError(f"no user {user!r}")
        rows = conn.execute(
            select(
                _TOKENS.c.id, _TOKENS.c.name, _TOKENS.c.created_at, _TOKENS.c.expires_at, _TOKENS.c.revoked_at
            )
            .where(_TOKENS.c.user_id == owner.id)
            .order_by(_TOKENS.c.id.desc())
        ).all()
    return [dict(r._mapping) for r in rows]


def revoke_token(engine: Engine, token_id: int, *, actor: str, user: str | None = None) -> None:
    """Revoke a token (of `user` only, when given); AccountError when there is no such token."""
    with engine.begin() as conn:
        query = (
            select(_TOKENS.c.id, _TOKENS.c.revoked_at, _USERS.c.name)
            .join(_USERS, _USERS.c.id == _TOKENS.c.user_id)
            .where(_TOKENS.c.id == token_id)
        )
        if user is not None:
            query = query.where(_USERS.c.name == user)
        row = conn.execute(query).first()
        if row is None:
            raise AccountError(f"no token {token_id}")
        if row.revoked_at is not None:
            return
        now = utcnow()
        conn.execute(_TOKENS.update().where(_TOKENS.c.id == token_id).values(revoked_at=now))
        audit.record(
            conn,
            actor=actor,
            action="token.revoke",
            target=f"user/{row.name}/token/{token_id}",
            before={"revoked_at": None},
            after={"revoked_at": now.isoformat()},
        )
    SIGNED_IN.clear()


def sign_in_with_password(engine: Engine, name: str, password: str) -> Principal | None:
    """The principal for a name and password, or None (unknown, disabled or wrong: indistinguishable)."""
    with engine.connect() as conn:
        row = _user_row(conn, name) if NAME_PATTERN.match(name) else None
    stored = row.password_hash if row is not None else _DUMMY_HASH
    if not _CACHE.verified(name, password, stored) and not _verify(stored, password):
        return None
    if row is None or row.disabled:
        return None
    _CACHE.remember(name, password, stored)
    return Principal(row.name, row.role, tuple(row.tenants))


def sign_in_with_token(engine: Engine, secret: str, *, cache_as: str | None = None) -> Principal | None:
    """The principal owning a live token (not revoked, not expired, user enabled), or None.

    `cache_as`: the request's `Authorization` header, to remember the principal under (SIGNED_IN).
    """
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 128:
        return None
    generation = SIGNED_IN.generation
    with engine.connect() as conn:
        row = conn.execute(
            select(_USERS.c.name, _USERS.c.role, _USERS.c.tenants, _USERS.c.disabled, _TOKENS.c.expires_at)
            .join(_USERS, _USERS.c.id == _TOKENS.c.user_id)
            .where(_TOKENS.c.token_sha256 == _sha256(secret), _TOKENS.c.revoked_at.is_(None))
        ).first()
    if row is None or row.disabled or (row.expires_at is not None and row.expires_at <= utcnow()):
        return None
    principal = Principal(row.name, row.role, tuple(row.tenants))
    if cache_as is not None:
        SIGNED_IN.put(cache_as, principal, generation, row.expires_at)
    return principal


def principal_of(engine: Engine, name: str) -> Principal | None:
    """The principal of an enabled user, read now (a console session re-reads it on every request)."""
    if not NAME_PATTERN.match(name):
        return None
    with engine.connect() as conn:
        row = _user_row(conn, name)
    if row is None or row.disabled:
        return None
    return Principal(row.name, row.role, tuple(row.tenants))


def _verify(stored: str, password: str) -> bool:
    with _VERIFYING:
        try:
            return _HASHER.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def _user_row(conn: Connection, name: str, *, for_update: bool = False) -> Any:
    query = select(_USERS).where(_USERS.c.name == name)
    return conn.execute(query.with_for_update() if for_update else query).first()


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class _VerifiedCache:
    """Recent successful password checks, so HTTP Basic does not pay argon2 on every request.

    An entry holds a keyed HMAC of name and password (the key lives only in this process)
    and the stored hash it matched: a changed password or a new hash misses the cache.
    """

    def __init__(self, size: int = 256, ttl_s: float = 300) -> None:
        self._key = secrets.token_bytes(32)
        self._size = size
        self._ttl = timedelta(seconds=ttl_s)
        self._entries: OrderedDict[bytes, tuple[str, datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def _digest(self, name: str, password: str) -> bytes:
        return hmac.new(self._key, f"{name}\0{password}".encode(errors="surrogatepass"), "sha256").digest()

    def verified(self, name: str, password: str, stored: str) -> bool:
        key = self._digest(name, password)
        with self._lock:
            entry = self._entries.get(key)
        return entry is not None and hmac.compare_digest(entry[0], stored) and entry[1] > utcnow()

    def remember(self, name: str, password: str, stored: str) -> None:
        key = self._digest(name, password)
        with self._lock:
            self._entries[key] = (stored, utcnow() + self._ttl)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


_CACHE = _VerifiedCache()


class SignedInCache:
    """Principals of credentials (an `Authorization` header) accepted in the last `ttl_s` seconds.

    Saves each request of a script or the console's API calls a user lookup and a thread hop.
    It honours changes: `update_user` and `revoke_token` clear it in this process, so a
    disabled user, a new password or role or a revoked token counts from the next request;
    a change made by another process (`alertflow users disable`) counts within `ttl_s`. A
    token's entry never outlives the token. Keys are keyed HMACs (the key lives only in this
    process), never the credentials.
    """

    def __init__(self, size: int = 1024, ttl_s: float = 2.0) -> None:
        self._key = secrets.token_bytes(32)
        self._size = size
        self.ttl_s = ttl_s
        self._entries: OrderedDict[bytes, tuple[Principal, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._generation = 0

    def _digest(self, authorization: str) -> bytes:
        return hmac.new(self._key, authorization.encode(errors="surrogatepass"), "sha256").digest()

    def get(self, authorization: str) -> Principal | None:
        key = self._digest(authorization)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[1] <= time.monotonic():
                del self._entries[key]
                return None
            return entry[0]

    @property
    def generation(self) -> int:
        """Take it before reading a user: `put` with it is ignored if `clear` ran in between."""
        return self._generation

    def put(
        self, authorization: str, principal: Principal, generation: int, expires_at: datetime | None = None
    ) -> None:
        until = time.monotonic() + self.ttl_s
        if expires_at is not None:
            until = min(until, time.monotonic() + (expires_at - utcnow()).total_seconds())
        key = self._digest(authorization)
        with self._lock:
            if generation != self._generation:  # the user or a token changed while it was read
                return
            self._entries[key] = (principal, until)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._generation += 1


SIGNED_IN = SignedInCache()
