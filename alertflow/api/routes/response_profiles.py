"""`/response-profiles`: what to do when an alert matches, CRUD.

Validation is exactly the profiles import's (`ResponseProfileSpec` and the references to category
profiles and user groups); an error is a 422 naming the field. Every write moves the profiles'
`updated_at`, which is how running ingest workers re-index them.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from alertflow.api import profile_store
from alertflow.api.auth import GlobalAdmin, Viewer
from alertflow.api.config_common import CONFLICT, GLOBAL_NOTE, INVALID, NOT_FOUND, ItemName, check_path_name
from alertflow.api.deps import EngineDep
from response.profiles import ResponseProfileSpec

router = APIRouter(prefix="/response-profiles", tags=["response-profiles"])
_SECTION = "response_profiles"


@router.get("", response_model=list[ResponseProfileSpec], description=GLOBAL_NOTE)
def list_response_profiles(engine: EngineDep, _viewer: Viewer) -> list[ResponseProfileSpec]:
    """Every response profile, by name."""
    return profile_store.list_items(engine, _SECTION)


@router.get("/{name}", response_model=ResponseProfileSpec, responses=NOT_FOUND, description=GLOBAL_NOTE)
def get_response_profile(name: ItemName, engine: EngineDep, _viewer: Viewer) -> ResponseProfileSpec:
    """One response profile."""
    return profile_store.get_item(engine, _SECTION, name)  # type: ignore[no-any-return]


@router.post(
    "",
    response_model=ResponseProfileSpec,
    status_code=201,
    responses={**CONFLICT, **INVALID},
    description=GLOBAL_NOTE,
)
def create_response_profile(
    body: ResponseProfileSpec, engine: EngineDep, admin: GlobalAdmin
) -> ResponseProfileSpec:
    """Create a response profile (its category profile and user groups must exist: 422 naming the field); 409 when the name is taken."""
    profile_store.create_item(engine, _SECTION, body, actor=admin.name)
    return body


@router.put(
    "/{name}",
    response_model=ResponseProfileSpec,
    responses={**NOT_FOUND, **INVALID},
    description=GLOBAL_NOTE,
)
def replace_response_profile(
    name: ItemName, body: ResponseProfileSpec, engine: EngineDep, admin: GlobalAdmin
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
    description=GLOBAL_NOTE,
)
def delete_response_profile(name: ItemName, engine: EngineDep, admin: GlobalAdmin) -> Response:
    """Delete a response profile."""
    profile_store.delete_named(engine, _SECTION, name, actor=admin.name)
    return Response(status_code=204)
