"""Fixtures for the ingest core tests: the recorded samples and a clock the test moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class FakeClock:
    """A clock that stands still until the test advances it."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def sample_lines(relpath: str) -> list[bytes]:
    """The lines of one sample file, with their line endings."""
    return (SAMPLES / relpath).read_bytes().splitlines(keepends=True)


def sample_line(relpath: str, number: int) -> bytes:
    """Line `number` (1-based) of a sample file, without its line ending."""
    return sample_lines(relpath)[number - 1].rstrip(b"\r\n")


FORGED_ADDRESSES = [
    "0.0.0.0/0",
    "10.0.0.0/8",
    "; rm -rf /",
    "../../etc",
    "1" * 100_000,
    "10.0.0.1 10.0.0.2",
    "10.0.0.1-10.0.0.255",
    "fe80::1%eth0",
    "localhost",
    167772161,
    ["10.0.0.1"],
]
"""What a forged event may put where an address belongs; each must become "indef"."""
FORGED_PORTS = [-1, 65536, "65536", "9" * 5000, "²", "٨٠", "80; id", " 80", 80.0, True, "0x50"]
"""What a forged event may put where a port belongs; each must become 0."""
