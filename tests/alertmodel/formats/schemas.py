"""Checks of rendered documents against the published schemas: ECS field definitions, OCSF models.

ECS: every field must be defined in ECS's flat field list (tests/fixtures/ecs), with a value of
its type, an array only where ECS allows one and an allowed value where ECS lists them, and each
event.type one that ECS expects with each event.category; fields under the custom `alertflex`
namespace are ours. OCSF: `pydantic-ocsf` validates a Detection
Finding (types, enums, required attributes, type_uid), and since its models accept unknown
attributes, any attribute the schema does not define is reported here too.
"""

from __future__ import annotations

import copy
import ipaddress
import json
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pydantic

ECS_FLAT = Path(__file__).resolve().parents[2] / "fixtures" / "ecs" / "ecs_flat-9.4.0.json"
CUSTOM_NAMESPACE = "alertflex"
_STRINGS = frozenset({"keyword", "constant_keyword", "wildcard", "match_only_text", "text"})
_INTEGERS = frozenset({"long", "integer", "short", "byte", "unsigned_long"})
_FLOATS = frozenset({"float", "half_float", "scaled_float", "double"})


@cache
def ecs_fields() -> dict[str, dict[str, Any]]:
    """ECS's flat field definitions: name → type, normalize, allowed_values."""
    return json.loads(ECS_FLAT.read_text(encoding="utf-8"))


def _flatten(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and name not in ecs_fields():
            flat |= _flatten(value, name + ".")
        else:
            flat[name] = value
    return flat


def _of_type(kind: str, value: Any) -> bool:
    if kind in _STRINGS:
        return isinstance(value, str)
    if kind in _INTEGERS:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind in _FLOATS:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "date":
        try:
            datetime.fromisoformat(value)
        except (TypeError, ValueError):
            return False
        return True
    if kind == "ip":
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return False
        return True
    if kind in ("object", "flattened", "nested"):
        return isinstance(value, dict | list)
    raise AssertionError(f"the checker does not know ECS type {kind!r}")


def ecs_problems(doc: dict[str, Any]) -> list[str]:
    """Everything in `doc` that ECS does not allow; empty when it conforms."""
    fields = ecs_fields()
    problems = []
    for name, value in _flatten(doc).items():
        if name.split(".")[0] == CUSTOM_NAMESPACE:
            continue
        field = fields.get(name)
        if field is None:
            problems.append(f"{name}: not an ECS field")
            continue
        values = value if isinstance(value, list) else [value]
        if isinstance(value, list) and "array" not in field["normalize"] and field["type"] != "nested":
            problems.append(f"{name}: ECS does not make it an array")
        for item in values:
            if not _of_type(field["type"], item):
                problems.append(f"{name}: {item!r} is not of ECS type {field['type']}")
            elif "allowed_values" in field and item not in field["allowed_values"]:
                problems.append(f"{name}: {item!r} is not one of ECS's allowed values")
    expected = fields["event.category"]["expected_event_types"]
    event = doc.get("event", {})
    for category in event.get("category", []):
        for kind in event.get("type", []):
            if kind not in expected.get(category, [kind]):
                problems.append(f"event.type: {kind!r} is not expected with event.category {category!r}")
    return problems


def ocsf_problems(finding: dict[str, Any]) -> list[str]:
    """Everything in `finding` that the OCSF 1.7.0 Detection Finding does not allow."""
    from ocsf.v1_7_0.events import DetectionFinding

    try:
        model = DetectionFinding.model_validate(copy.deepcopy(finding))  # it fills in what it can
    except pydantic.ValidationError as exc:
        return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    return [f"{path}: not an attribute of the OCSF schema" for path in _unknown(model, "$")]


def _unknown(value: Any, path: str) -> list[str]:
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in _unknown(item, f"{path}[{i}]")]
    if not isinstance(value, pydantic.BaseModel):
        return []
    found = [f"{path}.{name}" for name in value.model_extra or {}]
    for name in type(value).model_fields:
        if name != "unmapped":  # OCSF's free-form object: anything goes there
            found += _unknown(getattr(value, name), f"{path}.{name}")
    return found
