"""`/category-profiles`: named sets of categories of one source type, CRUD.

A response profile anchored on a category profile matches alerts of its source type that carry
one of its categories (`*` = every one). Validation is the profiles import's (`alertflow profiles
import`).
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
from response.profiles import CategoryProfileSpec

router = APIRouter(prefix="/category-profiles", tags=["category-profiles"])
_SECTION = "category_profiles"


@router.get("", response_model=list[CategoryProfileSpec])
def list_category_profiles(engine: EngineDep, _viewer: Viewer) -> list[CategoryProfileSpec]:
    """Every category profile, by name."""
    return profile_store.list_items(engine, _SECTION)


@router.get("/{name}", response_model=CategoryProfileSpec, responses=NOT_FOUND)
def get_category_profile(name: ItemName, engine: EngineDep, _viewer: Viewer) -> CategoryProfileSpec:
    """One category profile."""
    return profile_store.get_item(engine, _SECTION, name)  # type: ignore[no-any-return]


@router.post(
    "",
    response_model=CategoryProfileSpec,
    status_code=201,
    responses={**CONFLICT, **INVALID},
)
def create_category_profile(
    body: Annotated[CategoryProfileSpec, Depends(strict_body(CategoryProfileSpec))],
    engine: EngineDep,
    admin: GlobalAdmin,
) -> CategoryProfileSpec:
    """Create a category profile; 409 when the name is taken."""
    profile_store.create_item(engine, _SECTION, body, actor=admin.name)
    return body


@router.put(
    "/{name}",
    response_model=CategoryProfileSpec,
    responses={**NOT_FOUND, **INVALID},
)
def replace_category_profile(
    name: ItemName,
    body: Annotated[CategoryProfileSpec, Depends(strict_body(CategoryProfileSpec))],
    engine: EngineDep,
    admin: GlobalAdmin,
) -> CategoryProfileSpec:
    """Replace a category profile; the body's name must be the path's."""
    check_path_name(name, body.name)
    profile_store.replace_item(engine, _SECTION, name, body, actor=admin.name)
    return body


@router.delete(
    "/{name}",
    status_code=204,
    response_class=Response,
    responses={**NOT_FOUND, **CONFLICT},
)
def delete_category_profile(name: ItemName, engine: EngineDep, admin: GlobalAdmin) -> Response:
    """Delete a category profile; 409 while a response profile refers to it."""
    profile_store.delete_named(engine, _SECTION, name, actor=admin.name)
    return Response(status_code=204)
