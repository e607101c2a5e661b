"""`/me`: the signed-in user and their personal API tokens."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, HTTPException, Response

from alertflow.api import accounts
from alertflow.api.auth import Viewer
from alertflow.api.deps import EngineDep
from alertflow.api.schemas import Me, Problem, RowId, TokenCreate, TokenInfo, TokenIssued

router = APIRouter(prefix="/me", tags=["me"])


@router.get("", response_model=Me)
def me(principal: Viewer) -> Me:
    """Who the credentials belong to: name, role and tenants."""
    return Me(name=principal.name, role=principal.role, tenants=list(principal.tenants))  # type: ignore[arg-type]


@router.get("/tokens", response_model=list[TokenInfo])
def my_tokens(engine: EngineDep, principal: Viewer) -> list[TokenInfo]:
    """The caller's tokens, newest first (never their secrets)."""
    return [TokenInfo.model_validate(t) for t in accounts.list_tokens(engine, principal.name)]


@router.post("/tokens", response_model=TokenIssued, status_code=201)
def create_my_token(body: TokenCreate, engine: EngineDep, principal: Viewer) -> TokenIssued:
    """A new personal token; the secret is in this response only."""
    expires = timedelta(days=body.expires_in_days) if body.expires_in_days else None
    issued = accounts.create_token(
        engine, principal.name, name=body.name, expires_in=expires, actor=principal.name
    )
    return TokenIssued(id=issued.id, name=issued.name, token=issued.secret, expires_at=issued.expires_at)


@router.delete("/tokens/{token_id}", status_code=204, responses={404: {"model": Problem}})
def revoke_my_token(token_id: RowId, engine: EngineDep, principal: Viewer) -> Response:
    """Revoke one of the caller's tokens at once."""
    try:
        accounts.revoke_token(engine, token_id, actor=principal.name, user=principal.name)
    except accounts.AccountError:
        raise HTTPException(404, f"you have no token {token_id}") from None
    return Response(status_code=204)
