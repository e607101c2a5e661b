"""`/response-profiles`: what to do when an alert matches, CRUD.

Validation is the profiles import's (`ResponseProfileSpec`, the references to category profiles
and user groups), with JSON types taken strictly; an error is a 422 naming the field. Every write moves the profiles'
`updated_at`, which is how running ingest workers re-index them.
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
from response.profiles import ResponseProfileSpec

router = APIRouter(prefix="/response-profiles", tags=["response-profiles"])
_SECTION = "response_profiles"


@router.get("", response_model=list[ResponseProfileSpec])
def list_response_profiles(engine: EngineDep, _viewer: Viewer) -> list[ResponseProfileSpec]:
    """Every response profile, by name."""
    return profile_store.list_items(engine, _SECTION)


@router.get("/{name}", response_model=ResponseProfileSpec, responses=NOT_FOUND)
def get_response_profile(name: ItemName, engine: EngineDep, _viewer: Viewer) -> ResponseProfileSpec:
    """One response profile."""
    return profile_store.get_item(engine, _SECTION, name)  # type: ignore[no-any-return]


@router.post(
    "",
    response_model=ResponseProfileSpec,
    status_code=201,
    responses={**CONFLICT, **INVALID},
)
def create_response_profile(
    body: Annotated[ResponseProfileSpec, Depends(strict_body(ResponseProfileSpec))],
    engine: EngineDep,
    admin: GlobalAdmin,
) -> ResponseProfileSpec:
    """Create a response profile; 409 when the name is taken, 422 naming a missing category profile or group."""
    profile_store.create_item(engine, _SECTION, body, actor=admin.name)
    return body


@router.put(
    "/{name}",
    response_model=ResponseProfileSpec,
    responses={**NOT_FOUND, **INVALID},
)
def replace_response_profile(
    name: ItemName,
    body: Annotated[ResponseProfileSpec, Depends(strict_body(ResponseProfileSpec))],
    engine: EngineDep,
    admin: GlobalAdmin,
) -> ResponseProfileSpec:
    """Replace a response profile; the body's name must be the path's."""
    check_path_name(name, body.name)
    profile_store.replace_item(engine, _SECTION, name, body, actor=admin.name)
    return body


@router.delete(
    "/{name}",
    status_code=204,
    response_class=Response,
    responses={**NOT_FOUND, **CONFLICT},
)
def delete_response_profile(name: ItemName, engine: EngineDep, admin: GlobalAdmin) -> Response:
    """Delete a response profile."""
    profile_store.delete_named(engine, _SECTION, name, actor=admin.name)
    return Response(status_code=204)
