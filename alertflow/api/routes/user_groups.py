"""`/user-groups`: people that response profiles notify, CRUD.

A user group holds e-mail addresses, phone numbers (SMS) and a Slack channel; it has no secrets
(the SMTP, Slack and Twilio credentials are blocks). Validation is the profiles import's.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from alertflow.api import profile_store
from alertflow.api.auth import GlobalAdmin, Viewer
from alertflow.api.config_common import (
    CONFLICT,
    INVALID,
    NOT_FOUND,
    ItemName,
    check_path_name,
    strict_body,
)
from alertflow.api.deps import EngineDep
from response.profiles import UserGroupSpec

router = APIRouter(prefix="/user-groups", tags=["user-groups"])
_SECTION = "user_groups"


@router.get("", response_model=list[UserGroupSpec])
def list_user_groups(engine: EngineDep, _viewer: Viewer) -> list[UserGroupSpec]:
    """Every user group, by name."""
    return profile_store.list_items(engine, _SECTION)


@router.get("/{name}", response_model=UserGroupSpec, responses=NOT_FOUND)
def get_user_group(name: ItemName, engine: EngineDep, _viewer: Viewer) -> UserGroupSpec:
    """One user group."""
    return profile_store.get_item(engine, _SECTION, name)  # type: ignore[no-any-return]


@router.post(
    "",
    response_model=UserGroupSpec,
    status_code=201,
    responses={**CONFLICT, **INVALID},
)
def create_user_group(
    body: Annotated[UserGroupSpec, Depends(strict_body(UserGroupSpec))], engine: EngineDep, admin: GlobalAdmin
) -> UserGroupSpec:
    """Create a user group; 409 when the name is taken."""
    profile_store.create_item(engine, _SECTION, body, actor=admin.name)
    return body


@router.put(
    "/{name}",
    response_model=UserGroupSpec,
    responses={**NOT_FOUND, **INVALID},
)
def replace_user_group(
    name: ItemName,
    body: Annotated[UserGroupSpec, Depends(strict_body(UserGroupSpec))],
    engine: EngineDep,
    admin: GlobalAdmin,
) -> UserGroupSpec:
    """Replace a user group; the body's name must be the path's."""
    check_path_name(name, body.name)
    profile_store.replace_item(engine, _SECTION, name, body, actor=admin.name)
    return body


@router.delete(
    "/{name}",
    status_code=204,
    response_class=Response,
    responses={**NOT_FOUND, **CONFLICT},
)
def delete_user_group(name: ItemName, engine: EngineDep, admin: GlobalAdmin) -> Response:
    """Delete a user group; 409 while a response profile notifies it."""
    profile_store.delete_named(engine, _SECTION, name, actor=admin.name)
    return Response(status_code=204)
