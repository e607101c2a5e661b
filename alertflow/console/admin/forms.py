"""What the configuration and operations pages share: role checks, and errors keyed by the form field they name."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError

from alertflow.api.auth import _require_global_admin
from alertflow.console.pages import ConsoleError, Visit, render
from alertmodel.errors import document_path
from response.profiles import ACTION_KINDS

FieldErrors = dict[str, list[str]]


def admin_only(visit: Visit) -> None:
    """Configuration pages are for admins (the API's role table: configuration and users)."""
    if not visit.principal.has_role("admin"):
        raise ConsoleError(403, "configuration needs the admin role")


def global_admin(visit: Visit) -> None:
    """Refuse a change of global configuration by an admin bound to a tenant, as the API does."""
    try:
        _require_global_admin(visit.principal)
    except HTTPException as exc:
        raise ConsoleError(exc.status_code, str(exc.detail)) from None


def field_errors(exc: ValidationError | RequestValidationError, *, into: str | None = None) -> FieldErrors:
    """Each error under the form field it names (the first part of its path), worded `path: what`.

    `into` puts every error under one field (a document edited as a whole, e.g. YAML), the path
    inside the document still named in the message.
    """
    errors: FieldErrors = defaultdict(list)
    raw: list[Any] = list(exc.errors(include_url=False) if isinstance(exc, ValidationError) else exc.errors())
    for error in raw:
        loc = tuple(error.get("loc", ()))
        if loc[:1] == ("body",):
            loc = loc[1:]
        path = document_path(loc, skip=ACTION_KINDS) or "(top level)"
        errors[into or (str(loc[0]) if loc else "form")].append(f"{path}: {error.get('msg', '')}")
    return dict(errors)


def lines(text: str) -> list[str]:
    """The non-empty lines of a text field, stripped."""
    return [item.strip() for item in text.splitlines() if item.strip()]


def items(text: str) -> list[str]:
    """The comma-separated items of a text field, stripped."""
    return [item.strip() for item in text.split(",") if item.strip()]


def form_page(
    request: Request,
    visit: Visit,
    template: str,
    *,
    errors: FieldErrors | None = None,
    values: dict[str, str] | None = None,
    **context: Any,
) -> Response:
    """A page with a form: 422 with the errors by field and what was typed, else 200 with `?saved=` shown."""
    return render(
        request,
        template,
        visit,
        status=422 if errors else 200,
        errors=errors or {},
        values=values or {},
        saved=request.query_params.get("saved", ""),
        **context,
    )
