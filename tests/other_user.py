"""Checks run as another OS user (`nobody`): what under a directory that user can read.

The suite runs as root; `runuser` drops to nobody for one shell command.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

OTHER_USER = "nobody"

# Reads the first byte of each argument; prints the ones it could read.
_TRY_READ = 'for f in "$@"; do head -c1 -- "$f" >/dev/null 2>&1 && printf "%s\\n" "$f"; done; exit 0'


def as_other_user(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run `argv` as the other user."""
    assert os.geteuid() == 0, "the suite runs as root: it needs to become another user"
    runuser = shutil.which("runuser")
    assert runuser is not None, "runuser (util-linux) is missing"
    return subprocess.run(
        [runuser, "-u", OTHER_USER, "--", *argv], capture_output=True, text=True, timeout=60, check=False
    )


def readable_by_other_user(root: Path) -> list[str]:
    """The files under `root` (walked as root) the other user can read."""
    files = [str(p) for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()]
    assert files, f"nothing under {root} to check"
    return as_other_user("sh", "-c", _TRY_READ, "sh", *files).stdout.splitlines()


def open_parent() -> Path:
    """A new directory every user may enter (unlike pytest's tmp dirs), so only a data dir's
    own modes can keep the other user out."""
    parent = Path(tempfile.mkdtemp(prefix="alertflow-private-"))
    parent.chmod(0o755)
    assert as_other_user("ls", str(parent)).returncode == 0
    return parent


def not_private(root: Path) -> list[str]:
    """Paths under `root` (and `root`) with any permission bit for group or others."""
    return [
        f"{p} {p.stat().st_mode & 0o777:o}"
        for p in [root, *root.rglob("*")]
        if not p.is_symlink() and p.stat().st_mode & 0o077
    ]
