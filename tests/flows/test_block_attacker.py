"""block-attacker against a MISP-shaped MariaDB (reputation by direct look-up) and a Suricata
sensor's block list on a real loopback sshd."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pytest_httpserver import HTTPServer

from alertflow.up.prefect_server import LocalPrefectServer
from blocks.ids import IdsSensor
from blocks.misp import MispServer
from flows.alert import PlaybookAlert
from flows.block_attacker import attacker_ip, block_attacker
from tests.tasks.test_misp import KEY, MISP_SCHEMA
from tests.tasks.test_slack import POSTED, workspace
from tests.tasks.test_slack import TOKEN as SLACK_TOKEN
from tests.tasks.test_thehive import hive

pytestmark = pytest.mark.integration
BAD_IPS = ("203.0.113.66", "198.51.100.77")


def alert(srcip: str) -> PlaybookAlert:
    return PlaybookAlert(alert_uuid=str(uuid.uuid4()), srcip=srcip, source="Suricata", description="scan")


@pytest.fixture
async def blocks(prefect_server: LocalPrefectServer, ssh_hosts: Any, mariadb_database: str) -> dict[str, Any]:
    engine = sa.create_engine(mariadb_database)
    with engine.begin() as conn:
        for ddl in MISP_SCHEMA:
            conn.execute(sa.text(ddl))
        conn.execute(
            sa.text(
                "INSERT INTO events (id, org_id, date, info, uuid) VALUES (7, 1, '2026-11-01', 'Scanner farm', 'e7')"
            )
        )
        for n, ip in enumerate(BAD_IPS):
            conn.execute(
                sa.text(
                    "INSERT INTO attributes (event_id, category, type, value1, value2, to_ids, uuid) "
                    "VALUES (7, 'Network activity', 'ip-src', :ip, '', 1, :u)"
                ),
                {"ip": ip, "u": f"a{n}"},
            )
    engine.dispose()
    tag = uuid.uuid4().hex[:8]
    await MispServer(url="http://127.0.0.1:9/", api_key=KEY, database_url=mariadb_database).save(
        f"misp-{tag}"
    )
    directory = Path(ssh_hosts.hosts[0]["root"]) / f"sensor-{tag}"
    directory.mkdir()
    shutil.chown(directory, ssh_hosts.hosts[0]["user"])
    await IdsSensor(
        host=ssh_hosts.profile(0),
        kind="suricata",
        blocklist_path=str(directory / "blocklist.list"),
        reload_command=[
            "sh",
            "-c",
            'echo "reloaded $1" >> "$2"',
            "sh",
            "{path}",
            str(directory / "reloads.log"),
        ],
    ).save(f"sensor-{tag}")
    return {"misp": f"misp-{tag}", "sensor": f"sensor-{tag}", "dir": directory}


async def test_malicious_ips_accumulate_on_the_sensor_block_list_and_unknown_ones_do_not(
    blocks: dict[str, Any],
) -> None:
    listed = blocks["dir"] / "blocklist.list"
    first = await block_attacker(alert(BAD_IPS[0]), sensors=[blocks["sensor"]], misp=blocks["misp"])
    assert (first.verdict, first.misp_events, first.blocked_on) == (
        "malicious",
        ["Scanner farm"],
        [blocks["sensor"]],
    )
    assert listed.read_text().splitlines() == [f"{BAD_IPS[0]},1,100"]

    second = await block_attacker(alert(BAD_IPS[1]), sensors=[blocks["sensor"]], misp=blocks["misp"])
    assert second.blocked_on == [blocks["sensor"]]
    assert sorted(listed.read_text().splitlines()) == sorted(f"{ip},1,100" for ip in BAD_IPS)

    clean = await block_attacker(alert("192.0.2.200"), sensors=[blocks["sensor"]], misp=blocks["misp"])
    assert (clean.verdict, clean.blocked_on) == ("unknown", [])
    assert len(listed.read_text().splitlines()) == 2
    assert len((blocks["dir"] / "reloads.log").read_text().splitlines()) == 2


async def test_the_list_on_the_sensor_is_the_record_entries_added_there_stay(blocks: dict[str, Any]) -> None:
    listed = blocks["dir"] / "blocklist.list"
    await block_attacker(alert(BAD_IPS[0]), sensors=[blocks["sensor"]], misp=blocks["misp"])
    with listed.open("a") as f:
        f.write("192.0.2.44,1,100\n")  # blocked by hand on the sensor, between two runs
    await block_attacker(alert(BAD_IPS[1]), sensors=[blocks["sensor"]], misp=blocks["misp"])
    assert sorted(listed.read_text().splitlines()) == sorted(
        ["192.0.2.44,1,100", *(f"{ip},1,100" for ip in BAD_IPS)]
    )


async def test_a_forged_srcip_in_the_own_networks_stops_the_run_before_misp_or_the_sensor(
    blocks: dict[str, Any],
) -> None:
    for forged, reason in [
        ("10.1.2.3", "own_networks"),
        ("::1", "own_networks"),
        ("0.0.0.0/0", "no usable srcip"),
        ("indef", "no usable srcip"),
    ]:
        state = await block_attacker(
            alert(forged), sensors=[blocks["sensor"]], misp=blocks["misp"], block="always", return_state=True
        )
        assert state.is_failed()
        assert reason in (state.message or "")
    assert not (blocks["dir"] / "blocklist.list").exists()


def test_the_attacker_address_is_one_address() -> None:
    assert attacker_ip(alert(" 203.0.113.9 ")) == "203.0.113.9"
    with pytest.raises(ValueError, match=r"has no usable srcip \('203.0.113.0/24'\)"):
        attacker_ip(alert("203.0.113.0/24"))


async def test_slack_and_thehive_hear_about_a_block(blocks: dict[str, Any], httpserver: HTTPServer) -> None:
    tag = uuid.uuid4().hex[:8]
    await workspace(httpserver).save(f"slack-{tag}")
    await hive(httpserver).save(f"hive-{tag}")
    httpserver.expect_request("/api/chat.postMessage", method="POST").respond_with_json(POSTED)
    httpserver.expect_request("/api/v1/case", method="POST").respond_with_json(
        {"_id": "~4242", "_type": "Case", "number": 9, "title": "t", "status": "New", "severity": 3},
        status=201,
    )
    httpserver.expect_request("/api/v1/case/~4242/observable", method="POST").respond_with_json(
        [], status=201
    )

    result = await block_attacker(
        alert(BAD_IPS[0]),
        sensors=[blocks["sensor"]],
        misp=blocks["misp"],
        slack=f"slack-{tag}",
        thehive=f"hive-{tag}",
    )

    assert (result.slack_ts, result.thehive_case) == (POSTED["ts"], "~4242")
    posted = next(r for r, _ in httpserver.log if r.path == "/api/chat.postMessage")
    assert posted.headers["Authorization"] == f"Bearer {SLACK_TOKEN}"
    assert BAD_IPS[0] in posted.get_data(as_text=True)
    case = json.loads(next(r for r, _ in httpserver.log if r.path == "/api/v1/case").data)
    assert case["title"] == f"Blocked {BAD_IPS[0]}: scan"
    assert "Scanner farm" in case["description"]


async def test_without_misp_every_routed_alert_is_blocked_and_only_when_asked_to(
    blocks: dict[str, Any],
) -> None:
    listed = blocks["dir"] / "blocklist.list"
    done = await block_attacker(alert("192.0.2.201"), sensors=[blocks["sensor"]], misp=None, block="always")
    assert (done.verdict, done.misp_events, done.blocked_on) == ("unknown", [], [blocks["sensor"]])
    assert listed.read_text().splitlines() == ["192.0.2.201,1,100"]

    state = await block_attacker(
        alert("192.0.2.202"), sensors=[blocks["sensor"]], misp=None, return_state=True
    )
    assert state.is_failed()
    assert "without a MISP block nothing is ever malicious" in (state.message or "")
    assert listed.read_text().splitlines() == ["192.0.2.201,1,100"]


def test_every_flow_a_response_profile_can_start_takes_a_groups_alerts() -> None:
    """A grouped profile's run passes `alerts` too; a flow without it would crash on every group."""
    import importlib
    import inspect

    from deployments.catalog import all_deployments

    checked = []
    for deployment in all_deployments():
        if not {"response", "yaml-playbook"} & set(deployment.tags or []):
            continue
        module, _, name = (deployment.entrypoint or "").rpartition(".")
        params = inspect.signature(getattr(importlib.import_module(module), name).fn).parameters
        assert {"alert", "alerts"} <= set(params), deployment.entrypoint
        checked.append(deployment.entrypoint)
    assert (
        "flows.block_attacker.block_attacker" in checked and "flows.malware_triage.malware_triage" in checked
    )
