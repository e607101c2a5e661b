"""The form of a manual playbook run, built from the deployment's parameter schema, and its reading.

The alert's own parameters (`alert`, `alerts`, `alert_uuid`) are never fields: the server fills
them from the stored alert. Scalars get a typed input; objects, lists and unions a JSON box (which shows
a text value as plain text where the schema takes text).
A field left empty is not sent, so the deployment's default applies. What a field's type makes
of the text is checked here; the schema itself is checked by the run service.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from response.playbook_runs import ALERT_PARAMETERS

FIELD_PREFIX = "param-"
SCALARS = ("string", "integer", "number", "boolean")
Kind = Literal["string", "integer", "number", "boolean", "choice", "json"]


@dataclass(frozen=True)
class FormField:
    """One parameter as a form field: its input kind, label, help and pre-filled text."""

    name: str
    kind: Kind
    label: str
    help: str
    value: str
    choices: tuple[str, ...] = ()
    choice_values: tuple[Any, ...] = ()  # the schema's own values, in the order of `choices`
    takes_text: bool = False  # a JSON box whose schema also accepts plain text

    @property
    def input_name(self) -> str:
        return FIELD_PREFIX + self.name


def _resolved(prop: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """`prop` with a lone `$ref` (or `allOf` of one) replaced by what it points at."""
    if "allOf" in prop and len(prop["allOf"]) == 1:
        prop = {**prop["allOf"][0], **{k: v for k, v in prop.items() if k != "allOf"}}
    ref = prop.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/definitions/"):
        return {
            **definitions.get(ref.rsplit("/", 1)[1], {}),
            **{k: v for k, v in prop.items() if k != "$ref"},
        }
    return prop


def _types(prop: dict[str, Any]) -> list[str]:
    """The JSON types `prop` allows, 'null' left out; 'other' for anything not a plain type."""
    if "anyOf" in prop:
        found = [t for option in prop["anyOf"] for t in _types(option)]
        return found or ["other"]
    given = prop.get("type")
    if isinstance(given, list):
        return [t for t in given if t != "null"] or ["other"]
    if given == "null":
        return []
    return [given] if isinstance(given, str) else ["other"]


def _kind(prop: dict[str, Any]) -> Kind:
    if isinstance(prop.get("enum"), list) and all(isinstance(c, str | int | float) for c in prop["enum"]):
        return "choice"
    types = _types(prop)
    if len(types) == 1 and types[0] in SCALARS:
        return types[0]  # type: ignore[return-value]
    return "json"


def _text(kind: Kind, value: Any) -> str:
    if value is None:
        return ""
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "json":
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return str(value)


def form_fields(schema: dict[str, Any], defaults: dict[str, Any]) -> list[FormField]:
    """The fields of a manual run of a deployment: every parameter but the alert's, in schema order."""
    definitions = schema.get("definitions", {}) or {}
    properties: dict[str, Any] = schema.get("properties", {}) or {}
    ordered = sorted(properties.items(), key=lambda item: item[1].get("position", 0))
    fields = []
    for name, raw in ordered:
        if name in ALERT_PARAMETERS or not isinstance(raw, dict):
            continue
        prop = _resolved(raw, definitions)
        kind = _kind(prop)
        value = defaults.get(name, prop.get("default"))
        takes_text = kind == "json" and "string" in _types(prop)
        fields.append(
            FormField(
                name=name,
                kind=kind,
                label=str(prop.get("title") or name),
                help=str(prop.get("description") or ""),
                value=value if takes_text and isinstance(value, str) else _text(kind, value),
                choices=tuple(str(c) for c in prop.get("enum", ())) if kind == "choice" else (),
                choice_values=tuple(prop.get("enum", ())) if kind == "choice" else (),
                takes_text=takes_text,
            )
        )
    return fields


def read_form(fields: list[FormField], posted: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The parameters the form gives (empty fields left out), and the problems by parameter name."""
    parameters: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for field in fields:
        text = posted.get(field.input_name, "")
        if text.strip() == "":
            continue
        try:
            parameters[field.name] = _value(field, text)
        except ValueError as exc:
            problems[field.name] = str(exc)
    return parameters, problems


def _value(field: FormField, text: str) -> Any:
    if field.kind == "string":
        return text
    if field.kind == "integer":
        try:
            return int(text.strip())
        except ValueError:
            raise ValueError("a whole number is needed") from None
    if field.kind == "number":
        try:
            return float(text.strip())
        except ValueError:
            raise ValueError("a number is needed") from None
    if field.kind == "boolean":
        if text not in ("true", "false"):
            raise ValueError("true or false")
        return text == "true"
    if field.kind == "choice":
        if text not in field.choices:
            raise ValueError(f"one of {', '.join(field.choices)}")
        return field.choice_values[field.choices.index(text)]
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if field.takes_text:
            return text
        raise ValueError(f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
