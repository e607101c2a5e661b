"""Two filter policy bodies compared: a list of changed JSON paths, and a unified diff to read."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator
from typing import Any

from alertmodel.errors import document_path


def changes(before: Any, after: Any, loc: tuple[int | str, ...] = ()) -> Iterator[dict[str, Any]]:
    """Each difference as {path, change, before, after}: objects key by key, lists index by index."""
    if isinstance(before, dict) and isinstance(after, dict):
        for key in [*before, *(k for k in after if k not in before)]:
            if key not in after:
                yield _change((*loc, key), "removed", before[key], None)
            elif key not in before:
                yield _change((*loc, key), "added", None, after[key])
            else:
                yield from changes(before[key], after[key], (*loc, key))
    elif isinstance(before, list) and isinstance(after, list):
        for i in range(max(len(before), len(after))):
            if i >= len(after):
                yield _change((*loc, i), "removed", before[i], None)
            elif i >= len(before):
                yield _change((*loc, i), "added", None, after[i])
            else:
                yield from changes(before[i], after[i], (*loc, i))
    elif before != after or type(before) is not type(after):
        yield _change(loc, "changed", before, after)


def _change(loc: tuple[int | str, ...], change: str, before: Any, after: Any) -> dict[str, Any]:
    return {"path": document_path(loc) or "(top level)", "change": change, "before": before, "after": after}


def unified(before: Any, after: Any, from_name: str, to_name: str) -> str:
    """A unified diff of both bodies as indented JSON (keys in their stored order)."""
    lines = difflib.unified_diff(
        json.dumps(before, indent=2, ensure_ascii=False).splitlines(keepends=True),
        json.dumps(after, indent=2, ensure_ascii=False).splitlines(keepends=True),
        fromfile=from_name,
        tofile=to_name,
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
