from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from alertmodel.errors import ConfigurationError, JobTypeUnavailable
from flows.job_types import JOB_TYPES, resolve
from flows.playbook_spec import BlockFromAlert, load_bundled_playbook, load_playbook, parse_playbook

BUNDLED = Path(__file__).resolve().parents[2] / "flows" / "playbooks"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pb.yaml"
    path.write_text(text)
    return path


def test_the_bundled_playbooks_are_valid() -> None:
    specs = [load_playbook(p) for p in sorted(BUNDLED.glob("*.yaml"))]
    assert "demo-contain" in {s.name for s in specs}


def test_a_valid_playbook_keeps_its_jobs_in_order(tmp_path: Path) -> None:
    spec = load_playbook(
        write(
            tmp_path,
            """
name: scan-then-report
parameters: {target: 127.0.0.1}
jobs:
  - {name: scan, type: nmap_scan, params: {targets: ["{{ params.target }}"]}, retries: 2}
  - {name: look, type: run_script, blocks: {hosts: [a, b]}, params: {command: [uptime]}, on_error: continue}
""",
        )
    )
    assert [j.name for j in spec.jobs] == ["scan", "look"]
    assert spec.jobs[0].on_error == "stop"
    assert spec.jobs[1].blocks == {"hosts": ["a", "b"]}


def test_errors_name_the_file_the_job_index_and_the_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
name: broken
jobs:
  - {name: ok, type: nmap_scan, params: {targets: [127.0.0.1]}}
  - {name: bad-field, type: nmap_scan, params: {targets: [127.0.0.1]}, on_error: explode}
  - {name: bad-param, type: nmap_scan, params: {targets: [x], flags: "-sS"}}
  - {name: bad-block, type: run_script, blocks: {host: h}, params: {command: [id]}}
  - {name: missing, type: block_ips, blocks: {sensor: s}}
""",
    )
    with pytest.raises(ConfigurationError) as caught:
        load_playbook(path)
    lines = str(caught.value).splitlines()
    assert all(line.startswith(f"{path}: job ") for line in lines), lines
    text = str(caught.value)
    assert "job 1 (bad-field): field on_error: Input should be 'stop' or 'continue'" in text
    assert "job 2 (bad-param): params.flags: task nmap_scan has no parameter 'flags'" in text
    assert "job 3 (bad-block): blocks.host: task run_script has no block parameter 'host'" in text
    assert "job 4 (missing): task block_ips needs ips" in text
    assert "job 0" not in text


def test_every_job_type_resolves_to_an_installed_task() -> None:
    for name in JOB_TYPES:
        assert resolve(name).task.name


def test_a_job_type_whose_task_is_not_installed_is_refused_not_faked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(JOB_TYPES, "teleport_host", "tasks.teleport:teleport_host")
    with pytest.raises(JobTypeUnavailable, match="not installed yet"):
        resolve("teleport_host")
    with pytest.raises(
        ConfigurationError, match=r"job 0 \(z\): field type: job type 'teleport_host' needs task"
    ):
        parse_playbook({"name": "p", "jobs": [{"name": "z", "type": "teleport_host"}]}, origin="p.yaml")


def test_an_unknown_job_type_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown job type 'teleport' \(known: .*run_script"):
        parse_playbook({"name": "p", "jobs": [{"name": "t", "type": "teleport"}]}, origin="p.yaml")


def test_duplicate_job_names_and_empty_playbooks_are_refused() -> None:
    job = {"name": "same", "type": "nmap_scan", "params": {"targets": ["127.0.0.1"]}}
    with pytest.raises(ConfigurationError, match="'same' is used by an earlier job"):
        parse_playbook({"name": "p", "jobs": [job, job]}, origin="p.yaml")
    with pytest.raises(ConfigurationError, match=r"p\.yaml: field jobs: List should have at least 1 item"):
        parse_playbook({"name": "p", "jobs": []}, origin="p.yaml")


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigurationError, match=r"pb\.yaml: line 3 column 4 invalid YAML: expected .,. or .\]."
    ):
        load_playbook(write(tmp_path, "name: p\njobs: [a, b\n  c: d\n"))


def test_a_playbook_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="a playbook is a mapping with name and jobs, not list"):
        load_playbook(write(tmp_path, "- a\n- b\n"))


def test_run_parameters_refuse_undeclared_names() -> None:
    spec = parse_playbook(
        {
            "name": "p",
            "parameters": {"a": 1},
            "jobs": [{"name": "s", "type": "nmap_scan", "params": {"targets": ["x"]}}],
        },
        origin="p",
    )
    assert spec.run_parameters({"a": 2}) == {"a": 2}
    with pytest.raises(ConfigurationError, match=r"unknown parameter\(s\) b \(declared: a\)"):
        spec.run_parameters({"b": 1})


def test_bundled_playbooks_load_by_name_and_names_are_checked() -> None:
    assert load_bundled_playbook("demo-contain").name == "demo-contain"
    with pytest.raises(ConfigurationError, match=r"no bundled playbook 'nope' \(bundled: .*demo-contain"):
        load_bundled_playbook("nope")
    with pytest.raises(ConfigurationError, match="is not a playbook name"):
        load_bundled_playbook("../etc/passwd")


def _job(blocks: dict[str, Any]) -> dict[str, Any]:
    return {"name": "who", "type": "run_script", "blocks": blocks, "params": {"command": ["who"]}}


def test_block_names_may_use_params_but_never_alert_data_or_results() -> None:
    ok = parse_playbook(
        {"name": "p", "parameters": {"host": "h"}, "jobs": [_job({"hosts": "{{ params.host }}"})]}, origin="p"
    )
    assert ok.jobs[0].blocks == {"hosts": "{{ params.host }}"}
    for blocks, used in [
        ({"hosts": "{{ alert.agent }}"}, "alert"),
        ({"hosts": ["web-01", "host-{{ alert.agent }}"]}, "alert"),
        ({"hosts": "{{ alerts[0].agent }}"}, "alerts"),
        ({"hosts": "{{ results.find.host }}"}, "results"),
        ({"hosts": "{% if alert.agent %}a{% endif %}"}, "alert"),
    ]:
        with pytest.raises(
            ConfigurationError, match=f"blocks.hosts: a block name may use only params, not {used}"
        ):
            parse_playbook({"name": "p", "jobs": [_job(blocks)]}, origin="p")


def test_a_block_picked_by_an_alert_field_needs_an_alert_field_and_a_map_from_params() -> None:
    spec = parse_playbook(
        {
            "name": "p",
            "parameters": {"agent_hosts": {"web-01": "host-web-01"}},
            "jobs": [_job({"hosts": {"from_alert": "agent", "map": "{{ params.agent_hosts }}"}})],
        },
        origin="p",
    )
    assert spec.jobs[0].blocks["hosts"] == BlockFromAlert(from_alert="agent", map="{{ params.agent_hosts }}")
    for choice, reason in [
        ({"from_alert": "nope", "map": {}}, "'nope' is not an alert field"),
        ({"from_alert": "agent", "map": "{{ alert.agent }}"}, "may use only params"),
        ({"from_alert": "agent", "map": "hosts-{{ params.x }}"}, "one '{{ params.x }}' expression"),
        ({"from_alert": "agent", "map": {}, "fallback": "h"}, "fallback"),
    ]:
        with pytest.raises(ConfigurationError, match=re.escape(reason)):
            parse_playbook({"name": "p", "jobs": [_job({"hosts": choice})]}, origin="p")
