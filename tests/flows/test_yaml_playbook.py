"""The generic YAML playbook flow against real OpenSSH hosts and a real Prefect server."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from jinja2 import UndefinedError
from jinja2.exceptions import SecurityError

from alertflow.up.prefect_server import LocalPrefectServer
from flows.alert import PlaybookAlert
from flows.playbook_spec import parse_playbook
from flows.yaml_playbook import render, yaml_playbook

pytestmark = pytest.mark.integration


def test_render_keeps_types_of_whole_expressions_and_formats_the_rest() -> None:
    context = {"params": {"ports": [22, 80]}, "alert": {"srcip": "10.0.0.9"}, "results": {}}
    assert render("{{ params.ports }}", context) == [22, 80]
    assert render(["block {{ alert.srcip }}", "{{ alert.srcip }}"], context) == ["block 10.0.0.9", "10.0.0.9"]
    with pytest.raises(UndefinedError, match=r"has no attribute .nope."):
        render("{{ alert.nope }}", context)


def test_render_is_sandboxed() -> None:
    with pytest.raises(Exception, match=r"unsafe|not safely callable|access to attribute"):
        render(
            "{{ params.__class__.__mro__[1].__subclasses__() }}", {"params": {}, "alert": {}, "results": {}}
        )


def test_render_refuses_templates_that_reach_inside_objects_or_change_them() -> None:
    context = {"params": {"a": 1}, "alert": {"srcip": "x"}, "alerts": [], "results": {"r": [1]}}
    for template in [
        "{{ alert.__class__ }}",
        "{{ alert.__class__.__mro__ }}",
        "{% set x = params.update({'a': 2}) %}done",
        "{{ [].append(1) }}",
        "{{ results.r.append(2) }}",
        "{{ alert.pop('srcip') }}",
        "before {{ params.clear() }} after",
    ]:
        with pytest.raises(SecurityError):
            render(template, context)
    assert context == {"params": {"a": 1}, "alert": {"srcip": "x"}, "alerts": [], "results": {"r": [1]}}
    assert render("{{ params.items() | list }}", context) == [("a", 1)]  # reading stays allowed


@pytest.fixture
def host_block(prefect_server: LocalPrefectServer, ssh_hosts: Any) -> str:
    name = f"pb-host-{uuid.uuid4().hex[:8]}"
    ssh_hosts.profile(0).save(name)
    return name


def _spec(host: str, first_on_error: str) -> Any:
    return parse_playbook(
        {
            "name": "contain",
            "parameters": {"host": host, "word": "hello"},
            "jobs": [
                {
                    "name": "fails",
                    "type": "run_script",
                    "blocks": {"hosts": "{{ params.host }}"},
                    "params": {"command": ["false"]},
                    "on_error": first_on_error,
                },
                {
                    "name": "echo",
                    "type": "run_script",
                    "blocks": {"hosts": "{{ params.host }}"},
                    "params": {
                        "command": [
                            "echo",
                            "{{ params.word }} {{ alert.srcip }}; touch /tmp/pwned-{{ params.word }}",
                        ]
                    },
                },
                {
                    "name": "echo-again",
                    "type": "run_script",
                    "blocks": {"hosts": ["{{ params.host }}"]},
                    "params": {"command": ["echo", "{{ results.echo.results[0].stdout | trim }}"]},
                },
            ],
        },
        origin="test",
    )


async def test_jobs_run_in_order_with_the_alert_and_earlier_results(host_block: str) -> None:
    alert = PlaybookAlert(alert_uuid=str(uuid.uuid4()), srcip="203.0.113.7", source="Suricata")
    result = await yaml_playbook(playbook=_spec(host_block, "continue"), params={"word": "hi"}, alert=alert)
    assert result.status == "completed_with_errors"
    assert [(j.name, j.status) for j in result.jobs] == [
        ("fails", "failed"),
        ("echo", "completed"),
        ("echo-again", "completed"),
    ]
    assert "exited 1" in (result.jobs[0].error or "") or "exit" in (result.jobs[0].error or "")
    # the templated argument stays one argument: echoed, not run
    assert result.jobs[1].result["results"][0]["stdout"] == "hi 203.0.113.7; touch /tmp/pwned-hi\n"
    assert result.jobs[2].result["results"][0]["stdout"] == "hi 203.0.113.7; touch /tmp/pwned-hi\n"


async def test_a_failed_stop_job_fails_the_run_and_skips_the_rest(host_block: str) -> None:
    state = await yaml_playbook(playbook=_spec(host_block, "stop"), return_state=True)
    assert state.is_failed()
    assert "playbook contain stopped at job fails" in (state.message or "")


async def test_a_missing_block_fails_the_job_with_its_name() -> None:
    spec = _spec(f"no-such-block-{uuid.uuid4().hex[:6]}", "stop")
    state = await yaml_playbook(playbook=spec, return_state=True)
    assert state.is_failed()
    assert "no-such-block" in (state.message or "")


def _picked_by_agent(host: str) -> Any:
    return parse_playbook(
        {
            "name": "by-agent",
            "parameters": {"agent_hosts": {"web-01": host}},
            "jobs": [
                {
                    "name": "who",
                    "type": "run_script",
                    "blocks": {"hosts": {"from_alert": "agent", "map": "{{ params.agent_hosts }}"}},
                    "params": {"command": ["echo", "on {{ alert.agent }}"]},
                }
            ],
        },
        origin="test",
    )


async def test_a_block_picked_by_the_alert_agent_comes_only_from_the_map(host_block: str) -> None:
    spec = _picked_by_agent(host_block)

    def agent(name: str) -> PlaybookAlert:
        return PlaybookAlert(alert_uuid=str(uuid.uuid4()), agent=name, source="Wazuh")

    result = await yaml_playbook(playbook=spec, alert=agent("web-01"))
    assert result.jobs[0].result["results"][0]["stdout"] == "on web-01\n"
    for forged in ["web-02", host_block, "indef"]:
        state = await yaml_playbook(playbook=spec, alert=agent(forged), return_state=True)
        assert state.is_failed()
        assert f"the alert's agent {forged!r} is not in the map (known: web-01)" in (state.message or "")
    state = await yaml_playbook(playbook=spec, return_state=True)  # no alert at all
    assert state.is_failed() and "is not in the map" in (state.message or "")
