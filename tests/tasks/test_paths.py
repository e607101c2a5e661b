"""Path checks for paths that may come from alerts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.paths import resolved_local_path, validate_path


def test_validate_path_refuses_relative_dotdot_outside_paths_and_everything_without_roots() -> None:
    roots = ["/srv/evidence"]
    assert validate_path("/srv/evidence/a//b.txt", roots, where="t") == "/srv/evidence/a/b.txt"
    with pytest.raises(ValueError, match="absolute"):
        validate_path("evidence/a", roots, where="t")
    with pytest.raises(ValueError, match="traversal"):
        validate_path("/srv/evidence/../../etc/shadow", roots, where="t")
    with pytest.raises(ValueError, match="outside the allowed roots"):
        validate_path("/srv/evidence-other/a", roots, where="t")
    with pytest.raises(ValueError, match="NUL"):
        validate_path("/srv/evidence/a\x00b", roots, where="t")
    with pytest.raises(ValueError, match="no file roots are set"):
        validate_path("/srv/evidence/a", [], where="t")


def test_a_local_symlink_out_of_the_roots_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "evidence"
    root.mkdir()
    (root / "sample.bin").write_bytes(b"x")
    (root / "passwd").symlink_to("/etc/passwd")
    assert resolved_local_path(str(root / "sample.bin"), [str(root)], where="t") == str(root / "sample.bin")
    with pytest.raises(ValueError, match=r"\(resolved\).*outside the allowed roots"):
        resolved_local_path(str(root / "passwd"), [str(root)], where="t")
