"""Request and response bodies of the API (pydantic): what the OpenAPI document shows."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from alertflow.api.accounts import MAX_PASSWORD, MIN_PASSWORD

Role = Literal["viewer", "analyst", "admin"]
RowId = Annotated[int, Path(ge=1, le=2**63 - 1, description="A row id.")]


def _valid_unicode(value: str) -> str:
    """Refuse lone surrogates: JSON can carry them, no database can store them."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return value


def text(max_length: int, min_length: int = 0) -> Any:
    """A string type for request bodies: valid Unicode, between the given lengths."""
    return Annotated[
        str, StringConstraints(min_length=min_length, max_length=max_length), AfterValidator(_valid_unicode)
    ]


Tenant = text(255, 1)
UserName = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"), AfterValidator(_valid_unicode)
]
Password = text(MAX_PASSWORD, MIN_PASSWORD)


class Body(BaseModel):
    """A request body: unknown fields are an error, and no value is coerced (0 is not false)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Problem(BaseModel):
    """An error the client can act on."""

    detail: str


class Health(BaseModel):
    """The API and its alert store answer."""

    status: Literal["ok"]


class Me(BaseModel):
    """The signed-in user."""

    name: str
    role: Role
    tenants: list[str] = Field(description="ref_ids this user sees; empty means every tenant.")


class TokenCreate(Body):
    name: text(255) = ""  # type: ignore[valid-type]
    expires_in_days: int | None = Field(default=90, ge=1, le=3650, description="null: never expires.")


class TokenIssued(BaseModel):
    """A new token: `token` is shown in this response only."""

    id: int
    name: str
    token: str
    expires_at: datetime | None


class TokenInfo(BaseModel):
    id: int
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class User(BaseModel):
    name: str
    role: Role
    tenants: list[str]
    disabled: bool
    tokens: int = Field(description="Live (not revoked, not expired) tokens.")


class UserCreate(Body):
    name: UserName
    role: Role
    tenants: list[Tenant] = Field(default_factory=list, max_length=100)  # type: ignore[valid-type]
    password: Password  # type: ignore[valid-type]


class UserUpdate(Body):
    role: Role | None = None
    tenants: list[Tenant] | None = Field(default=None, max_length=100)  # type: ignore[valid-type]
    disabled: bool | None = None
    password: Password | None = None  # type: ignore[valid-type]


class AuditEntry(BaseModel):
    """One write: who, when, what, and the object before and after."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")
