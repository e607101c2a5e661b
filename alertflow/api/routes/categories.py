"""`/categories`: the categories alerts carry, per source type; list them and create one by hand.

Ingest registers a category the first time an alert shows it; an admin creates one ahead of
time (Alertflex's CREATE CATEGORY) to use it in a filter policy's `new_category` or a
category profile.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import select

from alertflow.api import audit
from alertflow.api.auth import GlobalAdmin, Viewer
from alertflow.api.config_common import CONFLICT, conflict_as_409
from alertflow.api.config_schemas import Category, CategoryCreate
from alertflow.api.deps import EngineDep
from alertmodel.catalog import Category as CategoryRow
from alertmodel.types import utcnow

router = APIRouter(prefix="/categories", tags=["categories"])
_TABLE = CategoryRow.__table__


@router.get("", response_model=list[Category])
def list_categories(
    engine: EngineDep,
    _viewer: Viewer,
    source_type: Annotated[str | None, Query(max_length=32, description="Only this source type.")] = None,
) -> list[Category]:
    """Every category, by source type and name."""
    query = select(_TABLE).order_by(_TABLE.c.source_type, _TABLE.c.name)
    if source_type is not None:
        query = query.where(_TABLE.c.source_type == source_type)
    with engine.connect() as conn:
        return [Category.model_validate(dict(r._mapping)) for r in conn.execute(query)]


@router.post("", response_model=Category, status_code=201, responses=CONFLICT)
def create_category(body: CategoryCreate, engine: EngineDep, admin: GlobalAdmin) -> Category:
    """Create a category of a source type; 409 when that source type has it already."""
    where = (_TABLE.c.source_type == body.source_type, _TABLE.c.name == body.name)
    taken = f"category {body.name!r} of {body.source_type} exists already"
    with conflict_as_409(taken), engine.begin() as conn:
        if conn.execute(select(_TABLE.c.id).where(*where)).first() is not None:
            raise HTTPException(409, taken)
        conn.execute(_TABLE.insert().values(**body.model_dump(), first_seen=utcnow()))
        row = conn.execute(select(_TABLE).where(*where)).one()
        created = Category.model_validate(dict(row._mapping))
        audit.record(
            conn,
            actor=admin.name,
            action="category.create",
            target=f"category/{created.id}",
            after=created.model_dump(mode="json"),
        )
    return created
