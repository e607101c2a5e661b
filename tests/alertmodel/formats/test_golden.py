"""Every sample file through its real normalizer, rendered as ECS and OCSF, compared with the
reviewed documents under golden/ and checked against ECS's field definitions and OCSF's schema.
MISP alerts come from the IOC check of ingest over the Suricata protocol and Wazuh FIM samples,
with a look-up that knows a few of their indicators (MISP itself cannot run here).

Regenerate after a deliberate mapping change with
`ALERTFLOW_REGEN_GOLDEN=1 bash scripts/pytest.sh tests/alertmodel/formats/test_golden.py`, then
review the diff. The sensor's raw event (ECS event.original, OCSF raw_data) is checked against
the stored json_event instead of being repeated in the golden files.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from alertmodel import Alert
from alertmodel.formats import FORMATS
from ingest.core import IngestCore
from ingest.ioc import IocEnricher
from tests.ingest.conftest import SAMPLES, FakeClock

from .schemas import ecs_problems, ocsf_problems

GOLDEN = Path(__file__).parent / "golden"
SOURCE_DIRS = ("wazuh", "suricata", "falco", "modsecurity")
NO_ALERTS = ("modsecurity/elastic-modsec-test-audit.log", "suricata/eve-7.0.10-protocols.json")
"""Samples that normalize to no alert (protocol records; audit entries no rule matched)."""
SAMPLE_FILES = sorted(
    rel
    for d in SOURCE_DIRS
    for p in (SAMPLES / d).iterdir()
    if (rel := str(p.relative_to(SAMPLES))) not in NO_ALERTS
)
MISP_CASE = "misp/ioc-hits-in-suricata-protocols-and-wazuh-fim"
MISP_INPUTS = ("suricata/eve-7.0.10-protocols.json", "wazuh/wazuh-indexer-sample-alerts-fim-rootcheck.json")
CASES = [*SAMPLE_FILES, MISP_CASE]
CHECKS = {"ecs": ecs_problems, "ocsf": ocsf_problems}


@dataclass(frozen=True)
class _Hit:
    type: str
    event_id: int
    event_info: str


_KNOWN = {
    "82.165.177.154": [_Hit("ip-dst", 12, "Emotet C2 infrastructure")],
    "www.testmyids.com": [_Hit("domain", 9, "Test site")],
    "c7d0a1ea4ab73fa3e7cd72fc1eb5b492": [_Hit("md5", 5, "Test page")],
    "896a6493ad8dd456f9a9d919d9c74a5e": [_Hit("filename|md5", 6, "Rootkit")],
}


def _misp_alerts() -> list[Alert]:
    enricher = IocEnricher(
        lambda values: {v: _KNOWN[v] for v in values if v in _KNOWN},
        node="golden",
        severity=3,
        now=lambda: datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    rows = []
    for relpath in MISP_INPUTS:
        lines = (SAMPLES / relpath).read_bytes().splitlines(keepends=True)
        rows += enricher(
            IngestCore(node="golden", clock=FakeClock()).process(lines, source=relpath.split("/")[0])
        )
    return [Alert(**row) for row in rows]


RAW = {"ecs": ("event", "original"), "ocsf": (None, "raw_data")}


def _alerts(relpath: str) -> list[Alert]:
    if relpath == MISP_CASE:
        return _misp_alerts()
    core = IngestCore(node="golden", clock=FakeClock())
    lines = (SAMPLES / relpath).read_bytes().splitlines(keepends=True)
    return [Alert(**record) for record in core.process(lines, source=relpath.split("/")[0]).alerts]


def _without_raw(fmt: str, doc: dict[str, Any], alert: Alert) -> dict[str, Any]:
    parent, key = RAW[fmt]
    holder = doc[parent] if parent else doc
    assert orjson.loads(holder.pop(key)) == orjson.loads(alert.json_event)
    return doc


def test_every_source_with_samples_has_golden_files_for_each_format() -> None:
    assert {p.split("/")[0] for p in SAMPLE_FILES} == set(SOURCE_DIRS)
    expected = {f"{p.replace('/', '__')}.{fmt}.json" for p in CASES for fmt in CHECKS}
    assert {p.name for p in GOLDEN.glob("*.json")} == expected


@pytest.mark.parametrize("relpath", NO_ALERTS)
def test_samples_set_aside_give_no_alert(relpath: str) -> None:
    assert _alerts(relpath) == []


@pytest.mark.parametrize("fmt", sorted(CHECKS))
@pytest.mark.parametrize("relpath", CASES)
def test_sample_alerts_render_to_their_reviewed_golden_documents(relpath: str, fmt: str) -> None:
    alerts = _alerts(relpath)
    assert alerts, f"{relpath} gives no alerts"
    got = []
    for alert in alerts:
        doc = FORMATS[fmt](alert)
        assert CHECKS[fmt](doc) == [], f"{alert.alert_uuid} of {relpath}"
        got.append(_without_raw(fmt, json.loads(json.dumps(doc)), alert))
    path = GOLDEN / f"{relpath.replace('/', '__')}.{fmt}.json"
    if os.environ.get("ALERTFLOW_REGEN_GOLDEN") == "1":
        path.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        assert g == e, f"{fmt} document {i} of {relpath} differs"
