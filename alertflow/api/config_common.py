"""What the configuration routes share: name paths, field errors, conflicts, and the words on tenants."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

from fastapi import Body, HTTPException, Path, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError

from alertflow.api.schemas import Problem

GLOBAL_NOTE = (
    "These objects are global: they have no tenant (`ref_id`), every viewer reads them, and only "
    "an admin bound to no tenant changes them (a tenant-bound admin gets 403)."
)
ItemName = Annotated[str, Path(min_length=1, max_length=255, description="The object's name.")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem, "description": "No such object."}}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "The name is taken, or other objects still refer to this one."}
}
INVALID: dict[int | str, dict[str, Any]] = {
    422: {
        "description": "A field is invalid: `detail[].loc` names it, `detail[].msg` says what was expected."
    }
}


M = TypeVar("M", bound=BaseModel)


def strict_body(model: type[M]) -> Callable[..., Awaitable[M]]:
    """A dependency: the JSON body as `model`, validated as the import validates files but with strict types.

    The file models coerce ("3" and false are numbers to them, as YAML authors expect); a JSON API
    does not, so its OpenAPI document says exactly what is accepted. FastAPI validates the
    declared body first (and documents it); the strict pass then refuses what was coerced.
    """

    async def dependency(request: Request, body: Any) -> M:
        try:
            return model.model_validate(await request.json(), strict=True)
        except ValidationError as exc:
            errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
            raise RequestValidationError(errors) from None

    # a real signature (this module's annotations are strings): FastAPI documents `body` as the model
    dependency.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request),
            inspect.Parameter(
                "body", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Annotated[model, Body()]
            ),
        ],
        return_annotation=model,
    )
    dependency.__name__ = f"strict_{model.__name__}"
    return dependency


def field_error(loc: tuple[int | str, ...], message: str) -> RequestValidationError:
    """A 422 naming the field at `loc` (as FastAPI's own validation errors do)."""
    return RequestValidationError([{"loc": loc, "msg": message, "type": "value_error"}])


def check_unicode(data: Any, loc: tuple[int | str, ...] = ("body",)) -> None:
    """Refuse lone surrogates anywhere in a body: JSON can carry them, no database can store them."""
    if isinstance(data, str):
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:
            raise field_error(loc, "text must be valid Unicode (no lone surrogates)") from None
    elif isinstance(data, dict):
        for key, value in data.items():
            check_unicode(key, loc)
            check_unicode(value, (*loc, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            check_unicode(value, (*loc, i))


def check_path_name(name: str, body_name: str) -> None:
    """A PUT replaces the object of its path: a different name in the body is a 422 on `name`."""
    if name != body_name:
        raise field_error(
            ("body", "name"),
            f"must equal the name in the path ({name!r}); to rename, create the new one and delete the old",
        )


@contextmanager
def conflict_as_409(message: str) -> Iterator[None]:
    """A unique index refusing the write (a concurrent create of the same name) becomes a 409 saying `message`."""
    try:
        yield
    except IntegrityError:
        raise HTTPException(409, message) from None
