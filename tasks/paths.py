"""Checks for file paths that may come from alerts: absolute, no '..', inside an explicit allow-list."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Sequence


def validate_path(path: str, roots: Sequence[str], *, where: str) -> str:
    """An absolute, normalised path inside one of `roots`; else ValueError. No roots: no path at all.

    Paths often come from alerts (a FIM alert's file), so an empty allow-list means "nothing",
    never "anything".
    """
    if not isinstance(path, str) or not path or "\x00" in path or "\n" in path:
        raise ValueError(f"{where}: path {path!r} is empty or has a NUL/newline")
    if not posixpath.isabs(path):
        raise ValueError(f"{where}: path {path!r} must be absolute")
    if ".." in path.split("/"):
        raise ValueError(f"{where}: path {path!r} contains '..'; traversal is refused")
    if not roots:
        raise ValueError(
            f"{where}: no file roots are set, so file jobs may touch no path there; list the "
            "directories they may use in the host's file_roots (local_roots for this machine)"
        )
    normal = posixpath.normpath(path)
    if not any(_inside(normal, root) for root in roots):
        raise ValueError(f"{where}: path {path!r} is outside the allowed roots {list(roots)}")
    return normal


def _inside(path: str, root: str) -> bool:
    root = posixpath.normpath(root)
    return path == root or path.startswith(root.rstrip("/") + "/")


def resolved_local_path(path: str, roots: Sequence[str], *, where: str) -> str:
    """A path on this machine that passes validate_path both as given and with its symlinks followed."""
    normal = validate_path(path, roots, where=where)
    resolved_roots = [*roots, *(os.path.realpath(root) for root in roots)]
    validate_path(os.path.realpath(normal), resolved_roots, where=f"{where} (resolved)")
    return normal
