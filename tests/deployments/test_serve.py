"""`python -m deployments.serve`: telemetry off before Prefect loads; `--names` lists the catalog."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from deployments.catalog import all_deployments

REPO = Path(__file__).resolve().parents[2]


def test_names_lists_every_deployment_of_the_catalog_with_telemetry_off() -> None:
    env = {
        k: v for k, v in os.environ.items() if k not in ("PREFECT_SERVER_ANALYTICS_ENABLED", "DO_NOT_TRACK")
    }
    script = (
        "import os, sys\n"
        "import deployments.serve as serve\n"
        "assert 'prefect' not in sys.modules, 'imported before telemetry was turned off'\n"
        "serve.main(['--names'])\n"
        "print(os.environ['PREFECT_SERVER_ANALYTICS_ENABLED'], os.environ['DO_NOT_TRACK'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    names, telemetry = result.stdout.strip().splitlines()
    assert json.loads(names) == sorted(f"{d.flow_name}/{d.name}" for d in all_deployments())
    assert telemetry == "false 1"
