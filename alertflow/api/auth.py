"""Who is calling: HTTP Basic (name and password) or a personal token as `Authorization: Bearer`.

Every route depends on `require(role)`; a missing or wrong credential is 401, a role too
small for the route is 403. Tenants are enforced by the queries (see `tenant_filter`).
Wrong passwords are counted per user name and client address (`sign_in_limit`, shared with
the console's sign-in form): past the limit, Basic sign-in is 429 with Retry-After.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPBasic, HTTPBearer
from sqlalchemy import ColumnElement, Engine, true
from starlette.concurrency import run_in_threadpool

from alertflow.api.accounts import (
    MAX_PASSWORD,
    SIGNED_IN,
    Principal,
    sign_in_with_password,
    sign_in_with_token,
)
from alertflow.api.deps import EngineDep
from alertflow.api.sign_in_limit import SignInLimiter, refusal

UNAUTHORIZED_HEADERS = {"WWW-Authenticate": 'Basic realm="alertflow", Bearer'}


class _BasicScheme(HTTPBasic):
    """Declares HTTP Basic in the OpenAPI document; the header is parsed by `authenticate` (UTF-8)."""

    async def __call__(self, request: Request) -> str | None:  # type: ignore[override]
        return request.headers.get("authorization")


class _BearerScheme(HTTPBearer):
    """Declares bearer tokens in the OpenAPI document; the header is parsed by `authenticate`."""

    async def __call__(self, request: Request) -> str | None:  # type: ignore[override]
        return request.headers.get("authorization")


_basic = _BasicScheme(scheme_name="basic", realm="alertflow", auto_error=False)
_bearer = _BearerScheme(
    scheme_name="token",
    auto_error=False,
    description="A personal API token (`alertflow users token create`).",
)


async def authenticate(
    request: Request,
    engine: EngineDep,
    authorization: Annotated[str | None, Depends(_basic)],
    _declared: Annotated[str | None, Depends(_bearer)],
) -> Principal:
    """The signed-in principal, or 401; a credential accepted moments ago is not looked up again (SIGNED_IN)."""
    principal = SIGNED_IN.get(authorization) if authorization else None
    if principal is None:
        principal = await run_in_threadpool(_sign_in, request, engine, authorization or "")
    if principal is None:
        raise HTTPException(401, "valid credentials required", headers=UNAUTHORIZED_HEADERS)
    return principal


def limiter(request: Request) -> SignInLimiter:
    """The app's failed sign-in counts (one per process, shared by the API and the console)."""
    sign_ins: SignInLimiter = request.app.state.sign_ins
    return sign_ins


def _sign_in(request: Request, engine: Engine, authorization: str) -> Principal | None:
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return sign_in_with_token(engine, credentials.strip(), cache_as=authorization)
    if scheme.lower() == "basic":
        pair = _basic_pair(credentials.strip())
        if pair is not None:
            generation = SIGNED_IN.generation
            principal = _limited_sign_in(request, engine, *pair)
            if principal is not None:
                SIGNED_IN.put(authorization, principal, generation)
            return principal
    return None


def _limited_sign_in(request: Request, engine: Engine, name: str, password: str) -> Principal | None:
    counts = limiter(request)
    address = request.client.host if request.client else None
    wait = counts.wait_s(name, address)
    if wait:
        raise HTTPException(429, refusal(wait), headers={"Retry-After": str(wait)})
    principal = sign_in_with_password(engine, name, password)
    if principal is None:
        counts.failed(name, address)
    else:
        counts.succeeded(name)
    return principal


def _basic_pair(encoded: str) -> tuple[str, str] | None:
    if len(encoded) > 2 * MAX_PASSWORD:
        return None
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    name, colon, password = decoded.partition(":")
    return (name, password) if colon else None


def require(role: str) -> Callable[[Principal], Principal]:
    """A dependency: the principal when it has `role` (or a bigger one), else 403."""

    async def dependency(
        principal: Annotated[Principal, Depends(authenticate)],
    ) -> Principal:  # no thread hop
        if not principal.has_role(role):
            raise HTTPException(403, f"this needs the {role} role")
        return principal

    dependency.__name__ = f"require_{role}"
    return dependency


Viewer = Annotated[Principal, Depends(require("viewer"))]
Analyst = Annotated[Principal, Depends(require("analyst"))]
Admin = Annotated[Principal, Depends(require("admin"))]


def tenant_filter(principal: Principal, ref_id: ColumnElement[str]) -> ColumnElement[bool]:
    """The WHERE clause that keeps a tenant-bound principal to its `ref_id`s (TRUE for everyone else)."""
    if not principal.tenants:
        return true()
    return ref_id.in_(principal.tenants)


def _require_global_admin(principal: Annotated[Principal, Depends(require("admin"))]) -> Principal:
    if principal.tenants:
        raise HTTPException(
            403, "global configuration is changed only by an admin bound to no tenant; this admin is bound"
        )
    return principal


GlobalAdmin = Annotated[Principal, Depends(_require_global_admin)]
"""An admin bound to no tenant: the only one who may change configuration shared by every tenant."""
