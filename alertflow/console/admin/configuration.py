"""Configuration pages (admin): categories, category profiles, response profiles, user groups, users.

Each page calls the API's route functions with the signed-in principal, so validation, the
409s and 404s, and the audit log are the API's; the console adds the admin check for reading
(the API's role table: configuration is the admin's) and the global-admin check for writing.
Errors are shown next to the form field they name. A category profile or user group is edited
in a form of its fields and replaced as `PUT /api/v1/<section>/{name}` replaces it; its name is
its identity (response profiles refer to it by name), so it stays. A response profile is edited
as the YAML of one `response_profiles` item of a profiles file and validated as `alertflow
profiles import` validates it (`ResponseProfileSpec`, then the references to category profiles
and user groups).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import yaml
from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from alertflow.api import accounts, profile_store
from alertflow.api.config_schemas import CategoryCreate
from alertflow.api.routes import categories as category_routes
from alertflow.api.routes import users as user_routes
from alertflow.api.schemas import UserCreate, UserUpdate
from alertflow.console.admin.forms import (
    FieldErrors,
    admin_only,
    field_errors,
    form_page,
    global_admin,
    items,
    lines,
)
from alertflow.console.pages import ConsoleError, FormDep, Visit, VisitDep, _checked, _engine, render
from alertmodel.account import ROLES
from response.profiles import CategoryProfileSpec, ResponseProfileSpec, UserGroupSpec

router = APIRouter(include_in_schema=False)
NEW_PROFILE = """name: new-profile
enabled: true
match:
  source: Suricata
  event: "2100498"
  severity: 4
actions:
  - kind: incident
"""


def _name(name: str) -> str:
    if not 1 <= len(name) <= 255:
        raise ConsoleError(404, "no such object")
    return name


def _writer(visit: Visit, fields: dict[str, str]) -> None:
    _checked(visit, fields, "admin")
    global_admin(visit)


def _done(path: str, saved: str) -> Response:
    return RedirectResponse(f"{path}?saved={quote(saved, safe='')}", status_code=303)


@router.get("/admin")
def admin_index(request: Request, visit: VisitDep) -> Response:
    """What an admin configures, and where."""
    admin_only(visit)
    return render(request, "admin/index.html", visit)


# --- categories ---------------------------------------------------------------------------------


def _categories_page(
    request: Request, visit: Visit, *, errors: FieldErrors | None = None, values: dict[str, str] | None = None
) -> Response:
    admin_only(visit)
    listed = category_routes.list_categories(_engine(request), visit.principal, source_type=None)
    return form_page(request, visit, "admin/categories.html", errors=errors, values=values, categories=listed)


@router.get("/admin/categories")
def categories_page(request: Request, visit: VisitDep) -> Response:
    """Every category by source type, and the form to create one."""
    return _categories_page(request, visit)


@router.post("/admin/categories")
def create_category(request: Request, visit: VisitDep, fields: FormDep) -> Response:
    """Create a category (global admin); errors next to their field."""
    _writer(visit, fields)
    values = {k: fields.get(k, "") for k in ("name", "source_type", "description")}
    try:
        body = CategoryCreate.model_validate(values)
        created = category_routes.create_category(body, _engine(request), visit.principal)
    except ValidationError as exc:
        return _categories_page(request, visit, errors=field_errors(exc), values=values)
    except HTTPException as exc:
        return _categories_page(request, visit, errors={"name": [str(exc.detail)]}, values=values)
    return _done("/admin/categories", created.name)


# --- category profiles --------------------------------------------------------------------------


def _category_profiles_page(
    request: Request, visit: Visit, *, errors: FieldErrors | None = None, values: dict[str, str] | None = None
) -> Response:
    admin_only(visit)
    profiles = profile_store.list_items(_engine(request), "category_profiles")
    values = values or {"categories": "*"}
    return form_page(
        request, visit, "admin/category_profiles.html", errors=errors, values=values, profiles=profiles
    )


@router.get("/admin/category-profiles")
def category_profiles_page(request: Request, visit: VisitDep) -> Response:
    """Category profiles, and the form to create one."""
    return _category_profiles_page(request, visit)


@router.post("/admin/category-profiles")
def create_category_profile(request: Request, visit: VisitDep, fields: FormDep) -> Response:
    """Create a category profile (global admin), validated as the profiles import validates it."""
    _writer(visit, fields)
    values = {k: fields.get(k, "") for k in ("name", "source_type", "categories")}
    return _create_item(
        request, visit, "category_profiles", lambda: _category_profile(values["name"], values), values
    )


def _category_profile(name: str, values: dict[str, str]) -> CategoryProfileSpec:
    """The category profile a form describes (categories one per line), validated as the import validates it."""
    return CategoryProfileSpec.model_validate(
        {"name": name, "source_type": values["source_type"], "categories": lines(values["categories"])}
    )


def _category_profile_values(spec: CategoryProfileSpec) -> dict[str, str]:
    return {"source_type": spec.source_type, "categories": "\n".join(spec.categories)}


@router.get("/admin/category-profiles/{name}")
def edit_category_profile(request: Request, name: str, visit: VisitDep) -> Response:
    """One category profile in a form, to change its source type and categories."""
    return _edit_page(request, visit, "category_profiles", _name(name))


@router.post("/admin/category-profiles/{name}")
def replace_category_profile(request: Request, name: str, visit: VisitDep, fields: FormDep) -> Response:
    """Replace a category profile (global admin), as `PUT /api/v1/category-profiles/{name}`; the name stays."""
    _writer(visit, fields)
    name = _name(name)
    values = {k: fields.get(k, "") for k in ("source_type", "categories")}
    return _replace_item(
        request, visit, "category_profiles", name, lambda: _category_profile(name, values), values
    )


def _create_item(
    request: Request,
    visit: Visit,
    section: profile_store.Section,
    spec: Callable[[], profile_store.Spec],
    values: dict[str, str],
) -> Response:
    """Store the item `spec` validates (errors by field on its page), as `POST /api/v1/<section>` does."""
    page, path = _SECTION_PAGES[section]
    try:
        item = spec()
        profile_store.create_item(_engine(request), section, item, actor=visit.principal.name)
    except (ValidationError, RequestValidationError) as exc:
        return page(request, visit, errors=field_errors(exc), values=values)
    except HTTPException as exc:
        return page(request, visit, errors={"name": [str(exc.detail)]}, values=values)
    return _done(path, item.name)


def _edit_page(
    request: Request,
    visit: Visit,
    section: profile_store.Section,
    name: str,
    *,
    errors: FieldErrors | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    """The edit form of a stored item (404 when there is none), with what was typed or what is stored."""
    admin_only(visit)
    try:
        stored = profile_store.get_item(_engine(request), section, name)
    except HTTPException as exc:
        raise ConsoleError(exc.status_code, str(exc.detail)) from None
    template, as_values = _SECTION_FORMS[section]
    return form_page(
        request, visit, template, errors=errors, values=values or as_values(stored), name=stored.name
    )


def _replace_item(
    request: Request,
    visit: Visit,
    section: profile_store.Section,
    name: str,
    spec: Callable[[], profile_store.Spec],
    values: dict[str, str],
) -> Response:
    """Replace the item `name` by what `spec` validates (errors by field on its edit page), as `PUT` does.

    The store writes the audit entry (before and after), as for the API's `PUT`.
    """
    _, path = _SECTION_PAGES[section]
    try:
        item = spec()
        profile_store.replace_item(_engine(request), section, name, item, actor=visit.principal.name)
    except (ValidationError, RequestValidationError) as exc:
        return _edit_page(request, visit, section, name, errors=field_errors(exc), values=values)
    except HTTPException as exc:
        raise ConsoleError(exc.status_code, str(exc.detail)) from None
    return _done(path, name)


@router.post("/admin/category-profiles/{name}/delete")
def delete_category_profile(request: Request, name: str, visit: VisitDep, fields: FormDep) -> Response:
    """Delete a category profile (global admin); refused while a response profile uses it."""
    _writer(visit, fields)
    _delete(request, "category_profiles", _name(name), visit)
    return _done("/admin/category-profiles", f"deleted {name}")


def _delete(request: Request, section: profile_store.Section, name: str, visit: Visit) -> None:
    try:
        profile_store.delete_named(_engine(request), section, name, actor=visit.principal.name)
    except HTTPException as exc:
        raise ConsoleError(exc.status_code, str(exc.detail)) from None


# --- user groups --------------------------------------------------------------------------------


def _user_groups_page(
    request: Request, visit: Visit, *, errors: FieldErrors | None = None, values: dict[str, str] | None = None
) -> Response:
    admin_only(visit)
    groups = profile_store.list_items(_engine(request), "user_groups")
    return form_page(request, visit, "admin/user_groups.html", errors=errors, values=values, groups=groups)


@router.get("/admin/user-groups")
def user_groups_page(request: Request, visit: VisitDep) -> Response:
    """User groups (who response profiles notify), and the form to create one."""
    return _user_groups_page(request, visit)


@router.post("/admin/user-groups")
def create_user_group(request: Request, visit: VisitDep, fields: FormDep) -> Response:
    """Create a user group (global admin)."""
    _writer(visit, fields)
    values = {k: fields.get(k, "") for k in ("name", "emails", "phones", "slack_channel")}
    return _create_item(request, visit, "user_groups", lambda: _user_group(values["name"], values), values)


def _user_group(name: str, values: dict[str, str]) -> UserGroupSpec:
    """The user group a form describes (addresses and numbers one per line; no channel when empty)."""
    return UserGroupSpec.model_validate(
        {
            "name": name,
            "emails": lines(values["emails"]),
            "phones": lines(values["phones"]),
            "slack_channel": values["slack_channel"].strip() or None,
        }
    )


def _user_group_values(spec: UserGroupSpec) -> dict[str, str]:
    return {
        "emails": "\n".join(spec.emails),
        "phones": "\n".join(spec.phones),
        "slack_channel": spec.slack_channel or "",
    }


@router.get("/admin/user-groups/{name}")
def edit_user_group(request: Request, name: str, visit: VisitDep) -> Response:
    """One user group in a form, to change who it tells."""
    return _edit_page(request, visit, "user_groups", _name(name))


@router.post("/admin/user-groups/{name}")
def replace_user_group(request: Request, name: str, visit: VisitDep, fields: FormDep) -> Response:
    """Replace a user group (global admin), as `PUT /api/v1/user-groups/{name}`; the name stays."""
    _writer(visit, fields)
    name = _name(name)
    values = {k: fields.get(k, "") for k in ("emails", "phones", "slack_channel")}
    return _replace_item(request, visit, "user_groups", name, lambda: _user_group(name, values), values)


@router.post("/admin/user-groups/{name}/delete")
def delete_user_group(request: Request, name: str, visit: VisitDep, fields: FormDep) -> Response:
    """Delete a user group (global admin); refused while a response profile notifies it."""
    _writer(visit, fields)
    _delete(request, "user_groups", _name(name), visit)
    return _done("/admin/user-groups", f"deleted {name}")


_SECTION_PAGES: dict[str, tuple[Callable[..., Response], str]] = {
    "category_profiles": (_category_profiles_page, "/admin/category-profiles"),
    "user_groups": (_user_groups_page, "/admin/user-groups"),
}
_SECTION_FORMS: dict[str, tuple[str, Callable[[Any], dict[str, str]]]] = {
    # section: (its edit form's template, the form's values for a stored item)
    "category_profiles": ("admin/category_profile.html", _category_profile_values),
    "user_groups": ("admin/user_group.html", _user_group_values),
}


# --- response profiles --------------------------------------------------------------------------


def _response_profile_form(
    request: Request,
    visit: Visit,
    *,
    name: str | None,
    text: str,
    errors: FieldErrors | None = None,
) -> Response:
    admin_only(visit)
    return form_page(request, visit, "admin/response_profile.html", errors=errors, name=name, text=text)


@router.get("/admin/response-profiles")
def response_profiles_page(request: Request, visit: VisitDep) -> Response:
    """Response profiles: what each matches and does."""
    admin_only(visit)
    return render(
        request,
        "admin/response_profiles.html",
        visit,
        profiles=profile_store.list_items(_engine(request), "response_profiles"),
        saved=request.query_params.get("saved", ""),
    )


@router.get("/admin/response-profiles/new")
def new_response_profile(request: Request, visit: VisitDep) -> Response:
    """The form for a new response profile, with an example to edit."""
    return _response_profile_form(request, visit, name=None, text=NEW_PROFILE)


@router.get("/admin/response-profiles/{name}")
def edit_response_profile(request: Request, name: str, visit: VisitDep) -> Response:
    """One response profile as the YAML of a profiles file, to edit."""
    admin_only(visit)
    try:
        spec = profile_store.get_item(_engine(request), "response_profiles", _name(name))
    except HTTPException as exc:
        raise ConsoleError(exc.status_code, str(exc.detail)) from None
    return _response_profile_form(request, visit, name=spec.name, text=_as_yaml(spec))


def _as_yaml(spec: ResponseProfileSpec) -> str:
    return yaml.safe_dump(
        spec.model_dump(mode="json", exclude_defaults=True), sort_keys=False, allow_unicode=True
    )


def _parsed(text: str) -> ResponseProfileSpec:
    """The profile in `text`, validated as the profiles import validates an item; ValueError or ValidationError."""
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("(top level): expected a mapping (name, match, actions, ...)")
    return ResponseProfileSpec.model_validate(data)


@router.post("/admin/response-profiles")
def create_response_profile(request: Request, visit: VisitDep, fields: FormDep) -> Response:
    """Create a response profile from its YAML (global admin)."""
    _writer(visit, fields)
    return _save_response_profile(request, visit, None, fields.get("profile", ""))


@router.post("/admin/response-profiles/{name}")
def replace_response_profile(request: Request, name: str, visit: VisitDep, fields: FormDep) -> Response:
    """Replace a response profile from its YAML (global admin); the name must stay."""
    _writer(visit, fields)
    return _save_response_profile(request, visit, _name(name), fields.get("profile", ""))


def _save_response_profile(request: Request, visit: Visit, name: str | None, text: str) -> Response:
    engine, actor = _engine(request), visit.principal.name
    try:
        spec = _parsed(text)
        if name is None:
            profile_store.create_item(engine, "response_profiles", spec, actor=actor)
        elif spec.name != name:
            raise ValueError(f"name: must stay {name!r}; to rename, create the new one and delete the old")
        else:
            profile_store.replace_item(engine, "response_profiles", name, spec, actor=actor)
    except (ValidationError, RequestValidationError) as exc:
        errors = field_errors(exc, into="profile")
    except ValueError as exc:
        errors = {"profile": [str(exc)]}
    except HTTPException as exc:
        errors = {"profile": [str(exc.detail)]}
    else:
        return _done("/admin/response-profiles", spec.name)
    return _response_profile_form(request, visit, name=name, text=text, errors=errors)


@router.post("/admin/response-profiles/{name}/delete")
def delete_response_profile(request: Request, name: str, visit: VisitDep, fields: FormDep) -> Response:
    """Delete a response profile (global admin)."""
    _writer(visit, fields)
    _delete(request, "response_profiles", _name(name), visit)
    return _done("/admin/response-profiles", f"deleted {name}")


# --- users --------------------------------------------------------------------------------------


def _users_page(
    request: Request, visit: Visit, *, errors: FieldErrors | None = None, values: dict[str, str] | None = None
) -> Response:
    admin_only(visit)
    users = user_routes.list_users(_engine(request), visit.principal)
    values = values or {"role": "viewer"}
    return form_page(
        request, visit, "admin/users.html", errors=errors, values=values, users=users, roles=ROLES
    )


@router.get("/admin/users")
def users_page(request: Request, visit: VisitDep) -> Response:
    """Users with their role, tenants and live tokens; forms to add one and to change one."""
    return _users_page(request, visit)


@router.post("/admin/users")
def create_user(request: Request, visit: VisitDep, fields: FormDep) -> Response:
    """Create a user (admin, as `POST /api/v1/users`)."""
    _checked(visit, fields, "admin")
    values = {k: fields.get(k, "") for k in ("name", "role", "tenants", "password")}
    try:
        body = UserCreate.model_validate({**values, "tenants": items(values["tenants"])})
        user_routes.create_user(body, _engine(request), visit.principal)
    except ValidationError as exc:
        return _users_page(request, visit, errors=field_errors(exc), values={**values, "password": ""})
    except HTTPException as exc:
        return _users_page(
            request, visit, errors={"name": [str(exc.detail)]}, values={**values, "password": ""}
        )
    return _done("/admin/users", body.name)


@router.post("/admin/users/{name}")
def update_user(request: Request, name: str, visit: VisitDep, fields: FormDep) -> Response:
    """Change a user's role, tenants, disabled flag or password (admin, as `PATCH /api/v1/users/{name}`)."""
    _checked(visit, fields, "admin")
    if not accounts.NAME_PATTERN.match(name):
        raise ConsoleError(404, "no such user")
    given: dict[str, Any] = {
        "role": fields.get("role", ""),
        "tenants": items(fields.get("tenants", "")),
        "disabled": fields.get("disabled") == "on",
    }
    if fields.get("password"):
        given["password"] = fields["password"]
    try:
        body = UserUpdate.model_validate(given)
        user_routes.update_user(name, body, _engine(request), visit.principal)
    except ValidationError as exc:
        problems = [f"{name}: {m}" for messages in field_errors(exc).values() for m in messages]
        raise ConsoleError(422, "; ".join(problems)) from None
    except HTTPException as exc:
        raise ConsoleError(exc.status_code, str(exc.detail)) from None
    return _done("/admin/users", name)
