"""update_ids_rules / block_ips / unblock_ips on a real SSH host with real `suricata -T`."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.runtime import flow_run

from alertmodel.errors import IdsUpdateError
from blocks.ids import IdsSensor
from tasks.ids_rules import (
    LOCK_SUFFIX,
    block_ips,
    blockable_entries,
    entry_line,
    parse_blocklist,
    parse_entry,
    unblock_ips,
    update_ids_rules,
)
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


def _listed(directory: Path) -> list[str]:
    return (directory / "blocklist.list").read_text().splitlines()


def test_entries_are_written_in_the_sensor_format_and_read_back(ssh_hosts: Any, tmp_path: Path) -> None:
    suricata = _sensor(ssh_hosts, tmp_path, blocklist_category=3)
    assert entry_line(suricata, parse_entry("10.0.0.7"), score=90) == "10.0.0.7,3,90"
    assert entry_line(suricata, parse_entry("192.0.2.0/24")) == "192.0.2.0/24,3,100"
    wazuh = _sensor(ssh_hosts, tmp_path, kind="wazuh")
    assert entry_line(wazuh, parse_entry("2001:db8::1")) == '"2001:db8::1":'
    listing = parse_blocklist(wazuh, '# kept\n"2001:db8::1":\n10.0.0.7:\n\n')
    assert listing.render() == b'# kept\n10.0.0.7:\n"2001:db8::1":\n'
    for bad in ["10.0.0.300", "10.0.0.1,1,127\n1.1.1.1", "-sT", "10.0.0.1/8"]:
        with pytest.raises(ValueError, match="not an IP address"):
            parse_entry(bad)
    with pytest.raises(TypeError):
        blockable_entries(suricata, "203.0.113.9")  # type: ignore[arg-type]


def test_a_forged_network_is_refused_unless_the_sensor_allows_networks_and_never_wider_than_its_limit(
    ssh_hosts: Any, tmp_path: Path
) -> None:
    sensor = _sensor(ssh_hosts, tmp_path)
    for forged in ["0.0.0.0/0", "203.0.113.0/24", "::/0"]:
        with pytest.raises(ValueError, match="blocks single addresses only"):
            blockable_entries(sensor, [forged])
    networks = _sensor(ssh_hosts, tmp_path, blocklist_networks=True)
    assert [str(n) for n in blockable_entries(networks, ["203.0.113.0/24", "2001:db8:1::/48"])] == [
        "203.0.113.0/24",
        "2001:db8:1::/48",
    ]
    for wide in ["0.0.0.0/0", "0.0.0.0/1", "203.0.0.0/16", "2000::/3"]:
        with pytest.raises(ValueError, match="wider than"):
            blockable_entries(networks, [wide])
    with pytest.raises(ValueError, match="blocklist_min_prefix_v4"):
        _sensor(ssh_hosts, tmp_path, blocklist_networks=True, blocklist_min_prefix_v4=0)
    with pytest.raises(ValueError, match="Wazuh CDB lists hold addresses"):
        _sensor(ssh_hosts, tmp_path, kind="wazuh", blocklist_networks=True)


def test_own_networks_and_the_never_block_list_are_refused_by_the_task_itself(
    ssh_hosts: Any, tmp_path: Path
) -> None:
    sensor = _sensor(
        ssh_hosts, tmp_path, never_block=["198.51.100.53", "2001:db8::/64"], blocklist_networks=True
    )
    for own in ["10.0.0.7", "127.0.0.1", "::1", "fe80::1", "192.168.0.0/24", "172.16.5.0/24"]:
        with pytest.raises(ValueError, match="own_networks"):
            blockable_entries(sensor, ["203.0.113.9", own])
    for kept in ["198.51.100.53", "198.51.100.0/24", "2001:db8::7"]:
        with pytest.raises(ValueError, match="never_block"):
            blockable_entries(sensor, [kept])
    lab = _sensor(ssh_hosts, tmp_path, own_networks=["192.0.2.0/24"])
    assert [str(n) for n in blockable_entries(lab, ["10.0.0.7"])] == ["10.0.0.7/32"]
    with pytest.raises(ValueError, match="own_networks"):
        blockable_entries(lab, ["192.0.2.1"])


async def test_a_refused_entry_never_reaches_the_sensor(ssh_hosts: Any, sensor_dir: Path) -> None:
    listing = sensor_dir / "blocklist.list"
    listing.write_text("198.51.100.1,1,100\n")
    sensor = _sensor(ssh_hosts, sensor_dir)
    for ips in (["0.0.0.0/0"], ["203.0.113.9", "10.0.0.1"]):
        with pytest.raises(ValueError):
            await block_ips.fn(sensor, ips)
    assert listing.read_text() == "198.51.100.1,1,100\n"
    assert sorted(p.name for p in sensor_dir.iterdir()) == ["blocklist.list"]  # not even locked


async def test_blocking_adds_to_the_list_on_the_sensor_and_keeps_every_entry_already_there(
    ssh_hosts: Any, sensor_dir: Path, prefect_server: Any
) -> None:
    listing = sensor_dir / "blocklist.list"
    listing.write_text("# managed by alertflow\n198.51.100.1,1,100\n192.0.2.9,5,60\n")
    sensor = _sensor(ssh_hosts, sensor_dir)

    @flow
    async def block() -> tuple[Any, Any]:
        return await block_ips(sensor, ["203.0.113.9", "198.51.100.1"]), flow_run.id

    result, run_id = await block()
    assert _listed(sensor_dir) == [
        "# managed by alertflow",
        "192.0.2.9,5,60",
        "198.51.100.1,1,100",
        "203.0.113.9,1,100",
    ]
    assert (result.added, result.removed, result.changed, result.entries) == (["203.0.113.9"], [], True, 3)
    assert result.sha256 == hashlib.sha256(listing.read_bytes()).hexdigest()
    (artifact,) = await artifacts_of(run_id)
    assert "203.0.113.9" in artifact.data
    assert _reloads(sensor_dir) == [f"reloaded {listing}"]

    again = await block_ips.fn(sensor, ["203.0.113.9"])
    assert (again.added, again.changed, again.reloaded) == ([], False, False)
    assert len(_reloads(sensor_dir)) == 1  # nothing new: neither rewritten nor reloaded

    second = await block_ips.fn(sensor, ["203.0.113.10"])
    assert second.added == ["203.0.113.10"]
    assert "203.0.113.9,1,100" in _listed(sensor_dir)  # an earlier run's entry stays blocked


async def test_unblocking_removes_only_the_named_entries(ssh_hosts: Any, sensor_dir: Path) -> None:
    (sensor_dir / "blocklist.list").write_text("198.51.100.1,1,100\n203.0.113.9,1,100\n10.9.9.9,1,100\n")
    sensor = _sensor(ssh_hosts, sensor_dir)
    result = await unblock_ips.fn(sensor, ["203.0.113.9", "192.0.2.77"])
    assert (result.removed, result.entries) == (["203.0.113.9"], 2)
    assert _listed(sensor_dir) == ["10.9.9.9,1,100", "198.51.100.1,1,100"]


async def test_a_first_block_creates_the_list_in_the_wazuh_format(ssh_hosts: Any, sensor_dir: Path) -> None:
    sensor = _sensor(ssh_hosts, sensor_dir, kind="wazuh")
    result = await block_ips.fn(sensor, ["203.0.113.9", "2001:db8:ffff::1"])
    assert (result.previous_sha256, result.entries) == (None, 2)
    assert _listed(sensor_dir) == ["203.0.113.9:", '"2001:db8:ffff::1":']


async def test_concurrent_blocks_on_one_sensor_all_land(ssh_hosts: Any, sensor_dir: Path) -> None:
    (sensor_dir / "blocklist.list").write_text("198.51.100.1,1,100\n")
    sensor = _sensor(ssh_hosts, sensor_dir)
    ips = [f"203.0.113.{n}" for n in range(20, 28)]
    await asyncio.gather(*(block_ips.fn(sensor, [ip]) for ip in ips))
    assert sorted(_listed(sensor_dir)) == sorted(["198.51.100.1,1,100", *(f"{ip},1,100" for ip in ips)])


async def test_a_held_lock_makes_the_update_wait_then_give_up(ssh_hosts: Any, sensor_dir: Path) -> None:
    (sensor_dir / "blocklist.list").write_text("198.51.100.1,1,100\n")
    lock = sensor_dir / f"blocklist.list{LOCK_SUFFIX}"
    holder = subprocess.Popen(["flock", "-x", str(lock), "sleep", "30"])
    try:
        for _ in range(50):
            if lock.exists():
                break
            await asyncio.sleep(0.1)
        with pytest.raises(IdsUpdateError, match="could not lock"):
            await block_ips.fn(_sensor(ssh_hosts, sensor_dir), ["203.0.113.9"], timeout_s=2)
    finally:
        holder.kill()
        holder.wait()
    assert _listed(sensor_dir) == ["198.51.100.1,1,100"]


async def test_a_list_with_a_line_that_is_no_entry_is_left_alone(ssh_hosts: Any, sensor_dir: Path) -> None:
    (sensor_dir / "blocklist.list").write_text("198.51.100.1,1,100\nnot-an-ip,1,100\n")
    with pytest.raises(IdsUpdateError, match=r"line 2 of .* is not a suricata list entry"):
        await block_ips.fn(_sensor(ssh_hosts, sensor_dir), ["203.0.113.9"])
    assert _listed(sensor_dir) == ["198.51.100.1,1,100", "not-an-ip,1,100"]


async def test_a_block_that_fails_the_sensor_check_is_rolled_back(ssh_hosts: Any, sensor_dir: Path) -> None:
    listing = sensor_dir / "blocklist.list"
    listing.write_text("198.51.100.1,1,100\n")
    # A sensor-side check: every line must be "address,category,score".
    check = ["sh", "-c", "! grep -Ev '^[0-9a-f.:/]+,[0-9]+,[0-9]+$' \"$1\"", "sh", "{path}"]
    sensor = _sensor(ssh_hosts, sensor_dir, blocklist_check_command=check)
    result = await block_ips.fn(sensor, ["203.0.113.9"])
    assert listing.read_text() == "198.51.100.1,1,100\n203.0.113.9,1,100\n"
    assert (result.entries, result.checked, result.reloaded) == (2, True, True)

    sensor.blocklist_check_command = ["sh", "-c", "grep -q '^10\\.' \"$1\"", "sh", "{path}"]
    with pytest.raises(IdsUpdateError, match="check of"):
        await block_ips.fn(sensor, ["203.0.113.10"])
    assert listing.read_text() == "198.51.100.1,1,100\n203.0.113.9,1,100\n"
    assert len(_reloads(sensor_dir)) == 1
