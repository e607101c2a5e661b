"""Every sample file through its normalizer, compared with the reviewed records under golden/.

Regenerate after a deliberate mapping change with
`ALERTFLOW_REGEN_GOLDEN=1 bash scripts/pytest.sh tests/ingest/test_golden.py`, then review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from alertmodel import ALERT_COLUMNS
from ingest.core import IngestCore
from tests.ingest.conftest import SAMPLES, FakeClock

GOLDEN = Path(__file__).parent / "golden"
SOURCE_DIRS = ("wazuh", "suricata", "falco", "modsecurity")
SAMPLE_FILES = sorted(str(p.relative_to(SAMPLES)) for d in SOURCE_DIRS for p in (SAMPLES / d).iterdir())


def _run(relpath: str) -> dict[str, Any]:
    core = IngestCore(node="golden", clock=FakeClock())
    source = relpath.split("/")[0]
    lines = (SAMPLES / relpath).read_bytes().splitlines(keepends=True)
    out = core.process(lines, source=source, origin=relpath)
    alerts = []
    for a in out.alerts:
        assert set(a) == set(ALERT_COLUMNS)
        a = dict(a)
        a["time_collr"] = a["time_collr"].isoformat()
        # the raw line is checked apart, so the golden files stay readable
        json_event = a.pop("json_event")
        assert json.loads(json_event)
        alerts.append(a)
    return {
        "counts": dict(sorted(out.counts.items())),
        "alerts": alerts,
        "observations": [o["event_type"] for o in out.observations],
        "dead_letters": [d.reason for d in out.dead_letters],
        "new_categories": [list(p) for p in out.new_categories],
    }


def test_every_sample_file_has_a_golden_file() -> None:
    assert len(SAMPLE_FILES) == 12
    expected = {f"{p.replace('/', '__')}.json" for p in SAMPLE_FILES}
    assert {p.name for p in GOLDEN.glob("*.json")} == expected


@pytest.mark.parametrize("relpath", SAMPLE_FILES)
def test_sample_file_normalizes_to_its_reviewed_golden_records(relpath: str) -> None:
    got = _run(relpath)
    path = GOLDEN / f"{relpath.replace('/', '__')}.json"
    if os.environ.get("ALERTFLOW_REGEN_GOLDEN") == "1":
        path.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert got["counts"] == expected["counts"]
    assert got["dead_letters"] == expected["dead_letters"]
    assert got["observations"] == expected["observations"]
    assert got["new_categories"] == expected["new_categories"]
    assert len(got["alerts"]) == len(expected["alerts"])
    for i, (g, e) in enumerate(zip(got["alerts"], expected["alerts"], strict=True)):
        assert g == e, f"alert {i} of {relpath} differs"
