"""`alertflow policy validate`."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from alertflow.cli import app
from ingest.policy import DEFAULT_POLICY_PATH

runner = CliRunner()


def test_policy_validate_accepts_the_shipped_policy() -> None:
    result = runner.invoke(app, ["policy", "validate", str(DEFAULT_POLICY_PATH)])
    assert result.exit_code == 0
    assert (
        "valid policy 'alertflow-default' (gray-list entries: hids 1, nids 0, waf 0, crs 0)" in result.output
    )


def test_policy_validate_lists_every_problem_with_file_and_path(tmp_path: Path) -> None:
    bad = tmp_path / "filters.json"
    bad.write_text('{"home_net": [{"network": "10.0.0.0"}], "sources": {"crs": {"severity": {"level0": 1}}}}')
    result = runner.invoke(app, ["policy", "validate", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}: home_net[0].netmask: Field required" in result.stderr
    assert f"{bad}: sources.crs.severity.level1: Field required" in result.stderr
