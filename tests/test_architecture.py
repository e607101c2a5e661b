"""The arrows between packages are checked by import-linter (pyproject.toml): prove the check bites."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("alertflow", "deployments", "flows", "response", "tasks", "blocks", "ingest", "alertmodel")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--config", str(ROOT / "pyproject.toml")],
        cwd=tree,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def copy_tree(tmp_path: Path) -> Path:
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_the_tree_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_flow_importing_the_app_breaks_the_layers_and_is_named(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    (tree / "flows" / "wrong_way.py").write_text("from alertflow.cli import main\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert "flows.wrong_way -> alertflow.cli" in result.stdout


def test_ingest_importing_the_response_half_is_refused(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    (tree / "ingest" / "wrong_way.py").write_text("import response.dispatcher\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "ingest.wrong_way -> response.dispatcher" in result.stdout
