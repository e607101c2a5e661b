"""The manual-run form built from real flows' parameter schemas, and what it reads back."""

from __future__ import annotations

from typing import Any

from alertflow.console.playbook_form import form_fields, read_form
from flows.yaml_playbook import yaml_playbook

from .manual_playbook import console_manual


def _schema(flow: Any) -> dict[str, Any]:
    return flow.parameters.model_dump(mode="json", by_alias=True)


def test_every_parameter_but_the_alerts_becomes_a_field_of_its_kind_with_the_deployment_default() -> None:
    fields = form_fields(_schema(console_manual), {"hours": 6})

    assert [(f.name, f.kind, f.value) for f in fields] == [
        ("note", "string", "from the console"),
        ("hours", "integer", "6"),
        ("mode", "choice", "watch"),
        ("extra", "json", ""),
    ]
    assert fields[2].choices == ("watch", "block")


def test_the_yaml_playbook_asks_for_its_playbook_and_params_never_for_the_alert() -> None:
    fields = form_fields(_schema(yaml_playbook), {"playbook": "demo-contain", "params": {"window_hours": 24}})

    assert [(f.name, f.kind) for f in fields] == [("playbook", "json"), ("params", "json")]
    assert fields[0].value == "demo-contain" and fields[0].takes_text  # a name, shown as typed
    assert fields[1].value == '{\n  "window_hours": 24\n}'


def test_the_form_reads_typed_values_leaves_empty_fields_out_and_names_each_problem() -> None:
    fields = form_fields(_schema(console_manual), {})
    playbook = form_fields(_schema(yaml_playbook), {})

    good = read_form(
        fields, {"param-note": "", "param-hours": " 12 ", "param-mode": "block", "param-extra": "{}"}
    )
    bad = read_form(fields, {"param-hours": "1.5", "param-mode": "nuke", "param-extra": "{oops"})
    text = read_form(playbook, {"param-playbook": "demo-contain"})

    assert good == ({"hours": 12, "mode": "block", "extra": {}}, {})
    assert bad[0] == {}
    assert bad[1]["hours"] == "a whole number is needed"
    assert bad[1]["mode"] == "one of watch, block"
    assert bad[1]["extra"].startswith("not valid JSON (")
    assert text == ({"playbook": "demo-contain"}, {})  # its schema takes a name as plain text too
