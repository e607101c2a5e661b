"""The error tree, and the one formatter of pydantic errors the policy, profile and playbook loaders share."""

from __future__ import annotations

import inspect
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, Field, ValidationError

from alertmodel import errors
from alertmodel.errors import AlertflowError, JobTypeUnavailable, describe_validation_error, document_path


class Ping(BaseModel):
    kind: Literal["ping"]
    count: int = Field(ge=1)


class Mail(BaseModel):
    kind: Literal["mail"]
    to: str


class Doc(BaseModel):
    name: str
    actions: list[Annotated[Ping | Mail, Field(discriminator="kind")]]
    tags: list[str] = []


def _error(data: dict) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        Doc.model_validate(data)
    return caught.value


def test_each_error_is_a_line_with_origin_path_expectation_and_the_scalar_given() -> None:
    exc = _error({"actions": [{"kind": "ping", "count": 0}], "tags": "a"})
    assert describe_validation_error(exc, "doc.yaml").splitlines() == [
        "doc.yaml: name: Field required",
        "doc.yaml: actions[0].ping.count: Input should be greater than or equal to 1 (got 0)",
        "doc.yaml: tags: Input should be a valid list (got 'a')",
    ]


def test_union_tags_can_be_left_out_of_the_path_and_objects_are_not_repeated() -> None:
    exc = _error({"name": "n", "actions": [{"kind": "ping", "count": 0}, {"kind": "fax"}]})
    lines = describe_validation_error(exc, "d", lambda loc: document_path(loc, skip={"ping"})).splitlines()
    assert lines[0] == "d: actions[0].count: Input should be greater than or equal to 1 (got 0)"
    assert lines[1].startswith("d: actions[1]: Input tag 'fax' found using 'kind'") and "got" not in lines[1]


def test_an_error_of_the_whole_document_is_at_the_top_level() -> None:
    with pytest.raises(ValidationError) as caught:
        Doc.model_validate("not a mapping")
    assert describe_validation_error(caught.value, "d").startswith("d: (top level): Input should be")


def test_every_project_error_is_in_the_tree_the_module_docstring_draws() -> None:
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if c.__module__ == errors.__name__]
    assert len(classes) > 15
    for cls in classes:
        assert issubclass(cls, AlertflowError)
        assert f" {cls.__name__} " in errors.__doc__ or f"{cls.__name__}\n" in errors.__doc__, cls


def test_an_unavailable_job_type_is_a_configuration_error_still_caught_as_a_lookup_error() -> None:
    with pytest.raises(LookupError):
        raise JobTypeUnavailable("unknown job type 'teleport'")
    assert issubclass(JobTypeUnavailable, errors.ConfigurationError)
