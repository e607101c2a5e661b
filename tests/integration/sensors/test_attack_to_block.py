"""From attack to block on the embedded default, for real: `bench/attack_to_block.py` with two
attacks (Suricata on a capture → `alertflow up` → `block-attacker/always` on a loopback sshd
sensor, `suricata -T` there), then the traffic replayed against the list it wrote."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.sensors.kit import required_tool

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


def test_each_attacker_lands_on_the_block_list_and_raises_the_reputation_alert_on_replay() -> None:
    required_tool("suricata")
    done = subprocess.run(
        [sys.executable, str(REPO / "bench/attack_to_block.py"), "--attacks", "2"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["bench"] == "attack_to_block"
    assert result["attacks"] == 2
    assert result["blocked"] == 2  # both addresses are on the sensor's list, checked by suricata -T
    assert result["reputation_alerts_before"] == 0  # nothing matched the empty list
    assert result["reputation_alerts_after"] == 2  # each replayed attack matches its own entry
    assert 0 < result["p50_s"] <= result["p99_s"]
