"""What goes from decoding to the batch transaction: a decode's output, dead letters, a batch and its rows.

The decode process and the worker build these; the batch writer (ingest.store) stores them. Its
docstring says why the driver rows (`prepare_rows`) are built before they reach the writer thread.
"""

from __future__ import annotations

import collections
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from alertmodel import ALERT_COLUMNS
from ingest.checkpoint import FilePosition


@dataclass(slots=True)
class DeadLetterItem:
    """A line that could not be decoded or mapped, with why."""

    source: str
    origin: str
    raw: bytes
    reason: str
    kind: str = "invalid_event"
    """Why, as one of DEAD_LETTER_KINDS (the metrics' `reason` label; `reason` is the full text)."""


DEAD_LETTER_KINDS = ("invalid_json", "unknown_shape", "invalid_event", "unexpected_error", "storage_refused")


@dataclass
class CoreOutput:
    """What one `IngestCore.process` call produced."""

    alerts: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[DeadLetterItem] = field(default_factory=list)
    new_categories: list[tuple[str, str]] = field(default_factory=list)
    observations: list[dict[str, Any]] = field(default_factory=list)
    counts: collections.Counter[str] = field(default_factory=collections.Counter)
    node_stats: list[dict[str, Any]] = field(default_factory=list)
    """Collector statistics reports (`ingest.altprobe`), stored as `node_stats` rows."""
    tally: collections.Counter[tuple[str, str, str]] = field(default_factory=collections.Counter)
    """(what, source label, severity label) → how many; what is received (severity ""), emitted,
    dropped_threshold, dropped_white_list, dropped_suppress, dropped_home_net, modified, aggregated."""


@dataclass(slots=True)
class Batch:
    """Everything one transaction stores."""

    alerts: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[DeadLetterItem] = field(default_factory=list)
    new_categories: list[tuple[str, str]] = field(default_factory=list)
    positions: list[FilePosition] = field(default_factory=list)
    rows: list[tuple[Any, ...]] | None = None
    node_stats: list[dict[str, Any]] = field(default_factory=list)
    """Driver parameters of `alerts`, in the same order (`prepare_rows`); built by the writer if None."""


_ROW = operator.itemgetter(*ALERT_COLUMNS)
_DATETIME_AT = tuple(i for i, c in enumerate(ALERT_COLUMNS) if c in ("time_collr", "time_cntrl"))


def prepare_rows(alerts: Sequence[Mapping[str, Any]], dialect: str) -> list[tuple[Any, ...]]:
    """Driver parameters for `alerts`: datetimes made naive UTC, for SQLite in SQLAlchemy's text form.

    That form always has six fractional digits, so stored values and SQLAlchemy's query
    parameters compare correctly as text. A batch shares a few datetimes: conversions are cached.
    """
    as_text = dialect == "sqlite"
    converted: dict[datetime, datetime | str] = {}
    params = []
    for alert in alerts:
        row = list(_ROW(alert))
        for i in _DATETIME_AT:
            value = row[i]
            if value is not None:
                stored = converted.get(value)
                if stored is None:
                    naive = _naive_utc(value)
                    stored = converted[value] = naive.isoformat(" ", "microseconds") if as_text else naive
                row[i] = stored
        params.append(tuple(row))
    return params


def as_alert(row: tuple[Any, ...]) -> dict[str, Any]:
    """A row that came without its dict, as a mapping (datetimes as the driver gets them)."""
    return dict(zip(ALERT_COLUMNS, row, strict=True))


def _naive_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(
            f"naive datetime {value.isoformat()} in an alert; alertflow stores UTC-aware datetimes"
        )
    return value.astimezone(UTC).replace(tzinfo=None)
