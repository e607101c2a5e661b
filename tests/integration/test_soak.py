"""A short soak of `alertflow up`: `bench/soak.py --minutes 3` at 2,000 alerts/s of all four
sources, 2% of them answered by a playbook that really runs; nothing lost, nothing doubled, every
attacker address gets exactly one completed run, and no error in any log."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(900)  # up's start and the settling of the last runs come on top of the 3 minutes
def test_three_minutes_of_steady_mixed_load_lose_and_double_nothing(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench/soak.py"), "--minutes", "3", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["alerts_sent"] > 0
    assert result["alerts_stored"] == result["alerts_sent"]
    assert result["duplicates"] == 0
    assert result["runs_expected"] > 0
    assert result["runs"] == result["runs_expected"]
    assert result["runs_not_completed"] == 0
    assert result["dead_letters"] == 0
    assert result["errors_in_logs"] == 0, done.stderr[-5000:]
    assert (tmp_path / "samples.csv").read_text().count("\n") >= 18  # a sample every 10 s
    assert (tmp_path / "soak.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
