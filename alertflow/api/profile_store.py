"""Category profiles, user groups and response profiles through the API, on response.profiles' storage.

Reads, writes and validation are the YAML import's (`read_profiles`, `store_profiles`,
`ProfileFile`); this module adds 404, 409 (a taken name, a profile still referring to an
object being deleted), 422 naming the field of a dangling reference, and the audit log.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import HTTPException
from pydantic import BaseModel
from sqlalchemy import Connection, Engine

from alertflow.api import audit
from alertflow.api.config_common import check_unicode, conflict_as_409, field_error
from alertmodel.errors import ConfigurationError
from response.profiles import (
    CategoryProfileSpec,
    ProfileFile,
    ResponseProfileSpec,
    UserGroupSpec,
    delete_item,
    read_profiles,
    store_profiles,
)

Section = Literal["category_profiles", "user_groups", "response_profiles"]
Spec = CategoryProfileSpec | UserGroupSpec | ResponseProfileSpec
_WORDS: dict[str, tuple[str, str]] = {
    # section: (what it is called in messages, audit target and action prefix)
    "category_profiles": ("category profile", "category-profile"),
    "user_groups": ("user group", "user-group"),
    "response_profiles": ("response profile", "response-profile"),
}


def list_items(engine: Engine, section: Section) -> list[Any]:
    """Every item of a section, by name."""
    with engine.connect() as conn:
        return list(getattr(read_profiles(conn), section))


def get_item(engine: Engine, section: Section, name: str) -> Any:
    """One item by name, or 404."""
    with engine.connect() as conn:
        return _find(conn, section, name)


def create_item(engine: Engine, section: Section, spec: Spec, *, actor: str) -> None:
    """Store a new item; 409 when the name is taken, 422 naming a dangling reference."""
    what, tag = _WORDS[section]
    check_unicode(spec.model_dump(mode="json"))
    with conflict_as_409(f"{what} {spec.name!r} exists already"), engine.begin() as conn:
        stored = read_profiles(conn)
        if _named(stored, section, spec.name) is not None:
            raise HTTPException(409, f"{what} {spec.name!r} exists already")
        _store(conn, stored, section, spec)
        _audit(conn, actor, f"{tag}.create", tag, spec.name, None, spec)


def replace_item(engine: Engine, section: Section, name: str, spec: Spec, *, actor: str) -> None:
    """Replace an item by name; 404 when there is none, 422 naming a dangling reference."""
    _, tag = _WORDS[section]
    check_unicode(spec.model_dump(mode="json"))
    with engine.begin() as conn:
        stored = read_profiles(conn)
        before = _find(conn, section, name, stored)
        _store(conn, stored, section, spec)
        _audit(conn, actor, f"{tag}.update", tag, name, before, spec)


def delete_named(engine: Engine, section: Section, name: str, *, actor: str) -> None:
    """Delete an item by name; 404 when there is none, 409 while a response profile refers to it."""
    what, tag = _WORDS[section]
    with engine.begin() as conn:
        stored = read_profiles(conn)
        before = _find(conn, section, name, stored)
        users = _referrers(stored, section, name)
        if users:
            raise HTTPException(
                409,
                f"{what} {name!r} is used by response profiles {', '.join(users)}; change or delete them first",
            )
        delete_item(conn, section, name)
        _audit(conn, actor, f"{tag}.delete", tag, name, before, None)


def _find(conn: Connection, section: Section, name: str, stored: ProfileFile | None = None) -> Any:
    item = _named(stored or read_profiles(conn), section, name)
    if item is None:
        raise HTTPException(404, f"no {_WORDS[section][0]} {name!r}")
    return item


def _named(stored: ProfileFile, section: Section, name: str) -> Any:
    return next((item for item in getattr(stored, section) if item.name == name), None)


def _store(conn: Connection, stored: ProfileFile, section: Section, spec: Spec) -> None:
    """Check references as the import does, naming the body's field, then store through the import."""
    one = ProfileFile.model_validate({section: [spec]})
    for loc, problem in one.reference_problems(
        known_categories={c.name for c in stored.category_profiles},
        known_groups={g.name for g in stored.user_groups},
    ):
        raise field_error(("body", *loc[2:]), problem)
    try:
        store_profiles(conn, one, origin="request body")
    except ConfigurationError as exc:
        raise field_error(("body",), str(exc)) from None


def _referrers(stored: ProfileFile, section: Section, name: str) -> list[str]:
    """Names of the response profiles that refer to a category profile or user group."""
    if section == "category_profiles":
        return [p.name for p in stored.response_profiles if p.match.category_profile == name]
    if section == "user_groups":
        return [
            p.name
            for p in stored.response_profiles
            if any(getattr(a, "group", None) == name for a in p.actions)
        ]
    return []


def _audit(
    conn: Connection,
    actor: str,
    action: str,
    tag: str,
    name: str,
    before: BaseModel | None,
    after: BaseModel | None,
) -> None:
    audit.record(
        conn,
        actor=actor,
        action=action,
        target=f"{tag}/{name}",
        before=None if before is None else before.model_dump(mode="json"),
        after=None if after is None else after.model_dump(mode="json"),
    )
