"""update_ids_rules / update_ip_blocklist on a real SSH host with real `suricata -T`."""

from __future__ import annotations

import hashlib
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.runtime import flow_run

from alertmodel.errors import IdsUpdateError
from blocks.ids import IdsSensor
from tasks.ids_rules import render_blocklist, update_ids_rules, update_ip_blocklist
from tests.tasks.conftest import artifacts_of

pytestmark = pytest.mark.integration

OLD_RULES = 'alert tcp any any -> any 22 (msg:"alertflow old rule"; sid:9000001; rev:1;)\n'
NEW_RULES = 'alert tcp any any -> any 2222 (msg:"alertflow new rule"; sid:9000002; rev:1;)\n'
BROKEN_RULES = NEW_RULES + 'alert tcp any any -> any 22 (msg:"broken"; sid:9000003; no_such_keyword;)\n'


@pytest.fixture
def sensor_dir(ssh_hosts: Any) -> Path:
    """A directory on host1 holding the sensor's files, owned by the SSH user."""
    if shutil.which("suricata") is None:
        pytest.fail("suricata is missing: run `bash scripts/services.sh up`", pytrace=False)
    directory = Path(ssh_hosts.hosts[0]["root"]) / f"sensor-{uuid.uuid4().hex[:8]}"
    directory.mkdir()
    shutil.chown(directory, ssh_hosts.hosts[0]["user"])
    return directory


def _sensor(ssh_hosts: Any, directory: Path, **fields: Any) -> IdsSensor:
    return IdsSensor(
        host=ssh_hosts.profile(0),
        kind=fields.pop("kind", "suricata"),
        rules_path=str(directory / "alertflow.rules"),
        blocklist_path=str(directory / "blocklist.list"),
        reload_command=[
            "sh",
            "-c",
            'echo "reloaded $1" >> "$2"',
            "sh",
            "{path}",
            str(directory / "reloads.log"),
        ],
        **fields,
    )


def _reloads(directory: Path) -> list[str]:
    log = directory / "reloads.log"
    return log.read_text().splitlines() if log.exists() else []


def test_blocklists_render_in_the_sensor_format_and_refuse_bad_entries(
    ssh_hosts: Any, tmp_path: Path
) -> None:
    suricata = _sensor(ssh_hosts, tmp_path, blocklist_category=3)
    ips = ["10.0.0.7", "192.0.2.0/24", "10.0.0.7", "2001:db8::1"]
    assert (
        render_blocklist(suricata, ips, score=90) == b"10.0.0.7,3,90\n192.0.2.0/24,3,90\n2001:db8::1,3,90\n"
    )
    wazuh = _sensor(ssh_hosts, tmp_path, kind="wazuh")
    assert render_blocklist(wazuh, ["10.0.0.7", "2001:db8::1"]) == b'10.0.0.7:\n"2001:db8::1":\n'
    with pytest.raises(ValueError, match="not networks"):
        render_blocklist(wazuh, ["192.0.2.0/24"])
    for bad in ["10.0.0.300", "10.0.0.1,1,127\n1.1.1.1", "-sT"]:
        with pytest.raises(ValueError, match="not an IP address"):
            render_blocklist(suricata, [bad])


async def test_new_rules_are_checked_by_suricata_installed_and_reloaded(
    ssh_hosts: Any, sensor_dir: Path, prefect_server: Any
) -> None:
    rules = sensor_dir / "alertflow.rules"
    rules.write_text(OLD_RULES)

    @flow
    async def update() -> tuple[Any, Any]:
        return await update_ids_rules(_sensor(ssh_hosts, sensor_dir), NEW_RULES), flow_run.id

    result, run_id = await update()
    (artifact,) = await artifacts_of(run_id)
    assert artifact.type == "table" and result.sha256 in artifact.data
    assert rules.read_text() == NEW_RULES
    assert (sensor_dir / "alertflow.rules.alertflow-bak").read_text() == OLD_RULES
    assert result.sha256 == hashlib.sha256(NEW_RULES.encode()).hexdigest()
    assert result.previous_sha256 == hashlib.sha256(OLD_RULES.encode()).hexdigest()
    assert (result.checked, result.reloaded, result.entries) == (True, True, 1)
    assert _reloads(sensor_dir) == [f"reloaded {rules}"]


async def test_a_broken_rule_is_rolled_back_and_the_old_file_is_intact(
    ssh_hosts: Any, sensor_dir: Path
) -> None:
    rules = sensor_dir / "alertflow.rules"
    rules.write_text(OLD_RULES)
    with pytest.raises(IdsUpdateError, match=r"(?s)check of .* failed \(exit 1\).*error parsing signature"):
        await update_ids_rules.fn(_sensor(ssh_hosts, sensor_dir), BROKEN_RULES)
    assert rules.read_text() == OLD_RULES
    assert _reloads(sensor_dir) == []
    assert sorted(p.name for p in sensor_dir.iterdir()) == ["alertflow.rules"]


async def test_a_failed_reload_restores_the_previous_rules(ssh_hosts: Any, sensor_dir: Path) -> None:
    rules = sensor_dir / "alertflow.rules"
    rules.write_text(OLD_RULES)
    sensor = _sensor(ssh_hosts, sensor_dir)
    sensor.reload_command = [
        "sh",
        "-c",
        'echo "reload saw $(cat "$1")" >> "$2"; exit 4',
        "sh",
        str(rules),
        str(sensor_dir / "r.log"),
    ]
    with pytest.raises(IdsUpdateError, match=r"reload on host1 failed \(exit 4\)"):
        await update_ids_rules.fn(sensor, NEW_RULES)
    assert rules.read_text() == OLD_RULES
    # First the failed reload of the new rules, then a reload of the restored ones.
    assert (sensor_dir / "r.log").read_text().splitlines() == [
        f"reload saw {NEW_RULES.strip()}",
        f"reload saw {OLD_RULES.strip()}",
    ]


async def test_a_first_rules_file_that_fails_the_check_is_removed_again(
    ssh_hosts: Any, sensor_dir: Path
) -> None:
    with pytest.raises(IdsUpdateError):
        await update_ids_rules.fn(_sensor(ssh_hosts, sensor_dir), BROKEN_RULES)
    assert list(sensor_dir.iterdir()) == []


async def test_an_ip_blocklist_is_pushed_checked_and_rolled_back_when_the_check_fails(
    ssh_hosts: Any, sensor_dir: Path
) -> None:
    listing = sensor_dir / "blocklist.list"
    listing.write_text("198.51.100.1,1,100\n")
    # A sensor-side check: every line must be "address,category,score".
    check = ["sh", "-c", "! grep -Ev '^[0-9a-f.:/]+,[0-9]+,[0-9]+$' \"$1\"", "sh", "{path}"]
    sensor = _sensor(ssh_hosts, sensor_dir, blocklist_check_command=check)
    result = await update_ip_blocklist.fn(sensor, ["203.0.113.9", "198.51.100.1"])
    assert listing.read_text() == "198.51.100.1,1,100\n203.0.113.9,1,100\n"
    assert (result.entries, result.checked, result.reloaded) == (2, True, True)

    sensor.blocklist_check_command = ["sh", "-c", "grep -q '^10\\.' \"$1\"", "sh", "{path}"]
    with pytest.raises(IdsUpdateError, match="check of"):
        await update_ip_blocklist.fn(sensor, ["203.0.113.10"])
    assert listing.read_text() == "198.51.100.1,1,100\n203.0.113.9,1,100\n"
