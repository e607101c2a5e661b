"""Operations pages: dead letters (inspect the bytes and the reason, re-ingest) and the outbox (retry a failed action).

Roles and tenants are the API's (`/dead-letters`, `/outbox`): every signed-in user reads them,
a dead letter has no tenant so only users bound to none see any, an outbox row belongs to its
alert's tenant; re-ingesting needs an admin, retrying an analyst.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from alertflow.api.routes import dead_letters as dead_letter_routes
from alertflow.api.routes import outbox as outbox_routes
from alertflow.console.admin.forms import FieldErrors, field_errors, form_page
from alertflow.console.pages import (
    ConsoleError,
    FormDep,
    Visit,
    VisitDep,
    _checked,
    _engine,
    _problems,
    _query_dict,
    redirect_after_post,
    render,
)

router = APIRouter(include_in_schema=False)
OUTBOX_STATES = ("pending", "done", "failed")
MAX_ROW_ID = 2**63 - 1


def _row_id(text: str, what: str) -> int:
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_ROW_ID:
        raise ConsoleError(404, f"no such {what}")
    return int(text)


def _bool(value: str | None, field: str) -> bool | None:
    if value in (None, ""):
        return None
    if value in ("true", "false"):
        return value == "true"
    raise ConsoleError(422, f"{field}: true or false")


def _when(value: str | None, field: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ConsoleError(422, f"{field}: a time in ISO 8601 (2026-12-01T08:00:00Z)") from None


# --- dead letters -------------------------------------------------------------------------------


@router.get("/operations/dead-letters")
def dead_letters_page(request: Request, visit: VisitDep) -> Response:
    """Dead letters, newest first, filtered by source, reason and whether re-ingested; keyset pages."""
    given = _query_dict(request)
    problems: list[str] = []
    page = None
    try:
        page = dead_letter_routes.list_dead_letters(
            _engine(request),
            visit.principal,
            source=_text(given.get("source"), 64, "source"),
            reason=_text(given.get("reason"), 255, "reason"),
            since=_when(given.get("since"), "since"),
            reingested=_bool(given.get("reingested"), "reingested"),
            cursor=_text(given.get("cursor"), 200, "cursor"),
        )
    except (ValidationError, HTTPException) as exc:
        problems = _problems(exc)
    except RequestValidationError as exc:
        problems = [m for messages in field_errors(exc).values() for m in messages]
    except ConsoleError as exc:
        problems = [exc.message]
    next_url = None
    if page is not None and page.next_cursor:
        next_url = "/operations/dead-letters?" + urlencode({**given, "cursor": page.next_cursor})
    return render(
        request,
        "admin/dead_letters.html",
        visit,
        status=422 if problems else 200,
        page=page,
        problems=problems,
        filters={k: v for k, v in given.items() if k != "cursor"},
        next_url=next_url,
    )


def _text(value: str | None, limit: int, field: str) -> str | None:
    if value is not None and len(value) > limit:
        raise ConsoleError(422, f"{field}: at most {limit} characters")
    return value


def _dead_letter(request: Request, visit: Visit, dead_letter_id: int) -> Any:
    try:
        return dead_letter_routes.get_dead_letter(dead_letter_id, _engine(request), visit.principal)
    except HTTPException as exc:
        raise ConsoleError(exc.status_code, str(exc.detail)) from None


def _dead_letter_page(
    request: Request,
    visit: Visit,
    dead_letter_id: int,
    *,
    errors: FieldErrors | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    letter = _dead_letter(request, visit, dead_letter_id)
    return form_page(
        request,
        visit,
        "admin/dead_letter.html",
        errors=errors,
        values=values,
        letter=letter,
        done=None,  # a flash of the re-ingest that redirected here replaces it
    )


@router.get("/operations/dead-letters/{dead_letter_id}")
def dead_letter_page(request: Request, dead_letter_id: str, visit: VisitDep) -> Response:
    """One dead letter: why it was set aside, its bytes as text and as base64, the re-ingest form."""
    return _dead_letter_page(request, visit, _row_id(dead_letter_id, "dead letter"))


@router.post("/operations/dead-letters/{dead_letter_id}/reingest")
def reingest(request: Request, dead_letter_id: str, visit: VisitDep, fields: FormDep) -> Response:
    """Store the dead letter (or corrected content) through the ingest path (admin)."""
    _checked(visit, fields, "admin")
    number = _row_id(dead_letter_id, "dead letter")
    values = {"node": fields.get("node", "").strip(), "content": fields.get("content", "")}
    given = {k: v for k, v in values.items() if v}
    try:
        body = dead_letter_routes.DeadLetterReingest.model_validate(given)
        done = dead_letter_routes.reingest(number, body, _engine(request), visit.principal)
    except (ValidationError, RequestValidationError) as exc:
        return _dead_letter_page(request, visit, number, errors=field_errors(exc), values=values)
    except HTTPException as exc:
        if exc.status_code == 404:
            raise ConsoleError(404, str(exc.detail)) from None
        return _dead_letter_page(request, visit, number, errors={"form": [str(exc.detail)]}, values=values)
    return redirect_after_post(request, visit, f"/operations/dead-letters/{number}", done=done)


# --- outbox -------------------------------------------------------------------------------------


@router.get("/operations/outbox")
def outbox_page(request: Request, visit: VisitDep) -> Response:
    """Response actions, newest first, by state; a failed one can be retried (analyst)."""
    given = {k: v[-1] if isinstance(v, list) else v for k, v in _query_dict(request).items()}
    state = given.get("state")
    if state is not None and state not in OUTBOX_STATES:
        raise ConsoleError(422, f"state must be one of {', '.join(OUTBOX_STATES)}")
    problems: list[str] = []
    page = None
    try:
        page = outbox_routes.list_outbox(
            _engine(request),
            visit.principal,
            state=state,
            kind=_text(given.get("kind"), 64, "kind"),
            cursor=_text(given.get("cursor"), 200, "cursor"),
        )
    except HTTPException as exc:
        problems = _problems(exc)
    except RequestValidationError as exc:
        problems = [m for messages in field_errors(exc).values() for m in messages]
    next_url = None
    if page is not None and page.next_cursor:
        next_url = "/operations/outbox?" + urlencode({**given, "cursor": page.next_cursor})
    return render(
        request,
        "admin/outbox.html",
        visit,
        status=422 if problems else 200,
        page=page,
        problems=problems,
        filters={k: v for k, v in given.items() if k != "cursor"},
        states=OUTBOX_STATES,
        next_url=next_url,
        retried=request.query_params.get("retried", ""),
    )


@router.post("/operations/outbox/{outbox_id}/retry")
def retry(request: Request, outbox_id: str, visit: VisitDep, fields: FormDep) -> Response:
    """Make a failed action due again with a fresh attempt count (analyst of its alert's tenant)."""
    _checked(visit, fields, "analyst")
    number = _row_id(outbox_id, "outbox row")
    try:
        outbox_routes.retry_outbox_row(number, _engine(request), visit.principal)
    except HTTPException as exc:
        raise ConsoleError(exc.status_code, str(exc.detail)) from None
    return RedirectResponse(f"/operations/outbox?retried={number}", status_code=303)
