"""Source auto-detection on every recorded event."""

from __future__ import annotations

import orjson
import pytest

from ingest.detect import detect_source
from tests.ingest.conftest import SAMPLES


@pytest.mark.parametrize("source", ["wazuh", "suricata", "falco", "modsecurity"])
def test_every_recorded_event_is_detected_as_its_source(source: str) -> None:
    events = [
        orjson.loads(line)
        for p in (SAMPLES / source).iterdir()
        for line in p.read_bytes().splitlines()
        if line.strip()
    ]
    assert events
    assert {detect_source(e) for e in events} == {source}


def test_generic_and_unknown_shapes() -> None:
    assert detect_source({"source": "Snort", "event": "1"}) == "generic"
    assert detect_source({"hello": "world"}) is None
