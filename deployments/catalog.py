"""Every deployment alertflow serves, covering the five Alertflex run modes.

| run mode | how |
|---|---|
| recurring schedule | `alert-digest/daily` (cron); `posture/weekly` (cron); `exposure-scan/weekly` (cron, inactive until its targets are set) |
| one-time schedule | `alert-digest/new-year` (RRule COUNT=1) |
| REST | any deployment: `POST /api/deployments/{id}/create_flow_run` (README) |
| response-profile action | a profile's `playbook` action names e.g. `yaml-playbook/demo-contain`, `block-attacker/response` |
| manual | Prefect UI "Run", `prefect deployment run NAME`, `alertflow playbook run FILE` |

`prefect.yaml` declares the same deployments for work pools (docker-compose); a test
keeps the two in step.

Each deployment says whether it is safe to repeat (`safe_to_repeat`, default False; a YAML
playbook says it in its file): every step can run twice with the effect of once, so after a
crash (its worker died mid-run) the dispatcher runs it again, once
(response.playbook_runs.CrashedRuns); it becomes the Prefect tag `alertflow:safe-to-repeat`,
which prefect.yaml carries too. `block-attacker` is: its MISP look-up reads, and adding a
blocklist entry that is there already changes nothing (with the catalog's parameters it posts
to no Slack channel and opens no TheHive case; a run given those would post or open again).
`demo-contain` is: a read, a report artifact, a read-only command and an echo.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import Flow
from prefect.deployments.runner import EntrypointType, RunnerDeployment

from alertmodel.errors import ConfigurationError
from deployments.schedules import one_time, recurring_cron
from flows.alert_digest import alert_digest
from flows.block_attacker import block_attacker
from flows.collect_forensics import collect_forensics
from flows.exposure_scan import exposure_scan
from flows.malware_triage import malware_triage
from flows.playbook_spec import BUNDLED_DIR, PlaybookSpec, load_playbook
from flows.posture import posture
from flows.yaml_playbook import yaml_playbook
from response.playbook_runs import SAFE_TO_REPEAT_TAG

log = logging.getLogger(__name__)

NEW_YEAR = datetime(2027, 1, 1, 6, 0, tzinfo=UTC)


def bundled_playbooks(directory: Path = BUNDLED_DIR) -> list[PlaybookSpec]:
    """The YAML playbooks shipped with alertflow whose job types are all installed."""
    specs = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            specs.append(load_playbook(path))
        except ConfigurationError as exc:
            log.warning("not deploying %s: %s", path.name, exc)
    return specs


def deployment(
    flow: Flow[..., Any], *, name: str, tags: list[str], safe_to_repeat: bool = False, **options: Any
) -> RunnerDeployment:
    """`flow.to_deployment(...)` by module path; `safe_to_repeat` declares every step idempotent."""
    return flow.to_deployment(
        name=name,
        tags=[*tags, SAFE_TO_REPEAT_TAG] if safe_to_repeat else tags,
        entrypoint_type=EntrypointType.MODULE_PATH,
        **options,
    )


def yaml_playbook_deployment(spec: PlaybookSpec) -> RunnerDeployment:
    """A deployment `yaml-playbook/<name>` running that bundled playbook (by name; the flow loads
    the file at run time); the alert and params come per run."""
    return deployment(
        yaml_playbook,
        name=spec.name,
        parameters={"playbook": spec.name},
        description=spec.description or f"YAML playbook {spec.name}",
        tags=["yaml-playbook"],
        safe_to_repeat=spec.safe_to_repeat,
    )


def all_deployments() -> list[RunnerDeployment]:
    """The deployments `alertflow up` serves."""
    deployments = [
        deployment(
            alert_digest,
            name="daily",
            schedules=[recurring_cron("0 7 * * *")],
            description="Recurring: yesterday's alerts by source and severity, every day at 07:00 UTC.",
            tags=["recurring"],
        ),
        deployment(
            alert_digest,
            name="new-year",
            schedules=[one_time(NEW_YEAR, parameters={"hours": 24 * 365})],
            description="One-time: the year's alert digest, once, on 2027-01-01 06:00 UTC.",
            tags=["one-time"],
        ),
    ]
    deployments += [yaml_playbook_deployment(spec) for spec in bundled_playbooks()]
    deployments += [
        deployment(
            block_attacker,
            name="response",
            parameters={"sensors": ["default"], "misp": "default"},
            description="Response action: block the alert's srcip on the IdsSensor blocks if MISP lists it.",
            tags=["response"],
            safe_to_repeat=True,
        ),
        deployment(
            block_attacker,
            name="always",
            parameters={"sensors": ["default"], "misp": None, "block": "always"},
            description="Response action without MISP: block the srcip of every alert routed here on the "
            "IdsSensor blocks (for rules that do not misfire, e.g. a WAF's SQL injection rule).",
            tags=["response"],
            safe_to_repeat=True,
        ),
        deployment(
            malware_triage,
            name="response",
            description="Response action for Wazuh FIM alerts; set recipients, evidence_dir and agent_hosts "
            "(agent name -> HostProfile block) per profile or run.",
            tags=["response"],
        ),
        deployment(
            exposure_scan,
            name="weekly",
            schedules=[recurring_cron("0 2 * * 1", active=False)],
            description="Recurring (activate once targets and recipients are set): Mondays 02:00 UTC.",
            tags=["recurring"],
        ),
        deployment(
            posture,
            name="weekly",
            schedules=[recurring_cron("0 3 * * 0")],
            description="Recurring: posture findings (OpenSCAP over SSH, Wazuh SCA, Nmap) every Sunday at 03:00 "
            "UTC; set openscap_hosts, wazuh/wazuh_agents or nmap_targets, and modes. Nothing set: nothing scanned.",
            tags=["recurring", "posture"],
        ),
        deployment(
            collect_forensics,
            name="manual",
            description="Manual or REST: collect evidence from hosts to an evidence host.",
            tags=["manual"],
        ),
    ]
    return deployments
