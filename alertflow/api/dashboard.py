"""Dashboard statistics over a window, read from the rollups (`alertmodel.rollup`), never the alert table.

A window is whole hours: from the start of the hour `since` falls in to the end of the hour
before `until` (an `until` on an hour boundary is exclusive; inside an hour, that hour is in).
Whole UTC days inside it are read from day rows, the hours at either end from hour rows, so a
30-day window reads about as many rows as a day. `scan` computes the same figures with plain
GROUP BYs over the alert table: the tests and the benchmark compare the two.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Connection, Select, and_, func, or_, select, true, union_all

from alertmodel.alert import SEVERITY_NAMES, Alert
from alertmodel.rollup import ROLLUP

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
HOURLY_HISTOGRAM_UP_TO = timedelta(days=7)
"""Windows up to 7 days get one histogram bin per hour; longer ones one per day."""
_ALERT = Alert.__table__


class ValueCount(BaseModel):
    """How many alerts in the window have this value."""

    value: str
    count: int


class SeverityCount(BaseModel):
    """How many alerts in the window have this severity."""

    severity: int
    name: str
    count: int


class HistogramBin(BaseModel):
    """Alerts collected in [start, start + one step)."""

    start: datetime
    count: int


class Dashboard(BaseModel):
    """Alert figures over a window of whole hours (UTC), for the caller's tenants."""

    since: datetime = Field(description="Start of the window (inclusive, on an hour boundary).")
    until: datetime = Field(description="End of the window (exclusive, on an hour boundary).")
    step: Literal["hour", "day"] = Field(description="The histogram's bin width.")
    total: int
    by_status: list[ValueCount] = Field(description="Every status in the window, largest first.")
    by_severity: list[SeverityCount] = Field(description="Every severity in the window, largest first.")
    by_source: list[ValueCount] = Field(description="The `top` largest sources.")
    by_category: list[ValueCount] = Field(description="The `top` largest categories.")
    top_srcip: list[ValueCount] = Field(description="The `top` source addresses with most alerts.")
    histogram: list[HistogramBin] = Field(description="Alerts per step; steps without alerts are left out.")


def align(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    """The window in whole hours: `since` down to its hour, `until` up to the next hour boundary."""
    start = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    end = until.astimezone(UTC)
    floor = end.replace(minute=0, second=0, microsecond=0)
    return start, floor if floor == end else floor + HOUR


def _ranges(since: datetime, until: datetime) -> list[tuple[str, datetime, datetime]]:
    """(grain, start, end) pieces covering [since, until): day rows for whole days, hour rows at the edges."""
    first_day = since.replace(hour=0)
    if first_day < since:
        first_day += DAY
    last_day = until.replace(hour=0)
    if first_day >= last_day:
        return [("h", since, until)]
    pieces = [("h", since, first_day), ("d", first_day, last_day), ("h", last_day, until)]
    return [p for p in pieces if p[1] < p[2]]


def _window(
    dim: str, ranges: Sequence[tuple[str, datetime, datetime]], tenants: Sequence[str] | None
) -> ColumnElement[bool]:
    # each piece names a whole primary-key prefix (grain, dim, bucket range), so each is one index range
    pieces = [
        and_(ROLLUP.c.grain == grain, ROLLUP.c.dim == dim, ROLLUP.c.bucket >= start, ROLLUP.c.bucket < end)
        for grain, start, end in ranges
    ]
    tenant = ROLLUP.c.ref_id.in_(tenants) if tenants is not None else true()
    return and_(or_(*pieces), tenant)


def read(
    conn: Connection, since: datetime, until: datetime, tenants: Sequence[str] | None, top: int
) -> Dashboard:
    """The dashboard for [since, until) (already aligned) from the rollups; `tenants` None means all."""
    ranges = _ranges(since, until)
    total = func.sum(ROLLUP.c.n)

    def counts(dim: str, limit: int | None) -> list[tuple[str, int]]:
        query = (
            select(ROLLUP.c.value, total)
            .where(_window(dim, ranges, tenants))
            .group_by(ROLLUP.c.value_key, ROLLUP.c.value)
            .having(total > 0)
            .order_by(total.desc(), ROLLUP.c.value)
        )
        return [(v, int(n)) for v, n in conn.execute(query if limit is None else query.limit(limit))]

    step: Literal["hour", "day"] = "hour" if until - since <= HOURLY_HISTOGRAM_UP_TO else "day"
    hist_ranges = [("h", since, until)] if step == "hour" else ranges
    bins: dict[datetime, int] = defaultdict(int)
    for bucket, n in conn.execute(
        select(ROLLUP.c.bucket, total)
        .where(_window("status", hist_ranges, tenants))
        .group_by(ROLLUP.c.grain, ROLLUP.c.bucket)
    ):
        bins[bucket if step == "hour" else bucket.replace(hour=0)] += int(n)
    return _dashboard(
        since,
        until,
        step,
        status=counts("status", None),
        severity=counts("severity", None),
        source=counts("source", top),
        category=counts("category", top),
        srcip=_top(conn, "srcip", since, until, ranges, tenants, top) or counts("srcip", top),
        bins=bins,
    )


MAX_PIECES = 1000
"""Windows over more (day, tenant) pieces than this rank by a plain GROUP BY."""
SEED_PIECES = 4
"""The largest pieces whose top values seed the bound."""
MAX_CANDIDATES = 2000
"""When the bound leaves more candidate values than this, a plain GROUP BY ranks them instead."""


def _top(
    conn: Connection,
    dim: str,
    since: datetime,
    until: datetime,
    ranges: Sequence[tuple[str, datetime, datetime]],
    tenants: Sequence[str] | None,
    k: int,
) -> list[tuple[str, int]] | None:
    """The k largest values of `dim` in [since, until) (ties by value), reading only what can be among them.

    Exact, by a pigeonhole bound over the day rows of every day the window touches (a
    piece: one tenant's day; its size from the status rows). The 2k largest values of each
    of the few largest pieces (one atypical day, such as a burst from one host, would seed a
    weak bound), with their window totals, say the k-th largest total is at least T. A
    value with window total >= T has at least T over those days, so in some piece p at
    least T * size(p) / size(all pieces) alerts; only values over that threshold in some
    piece (`ix_alert_rollup_rank` serves each piece's `n >=` range) are counted in full
    (`ix_alert_rollup_value`). None when the bound cannot prune (too many pieces or
    candidates, fewer than k of the seeds in the window): the caller ranks by GROUP BY then.
    """
    days = [("d", since.replace(hour=0), until)]
    pieces: dict[tuple[datetime, str], int] = {
        (bucket, ref_id): int(n)
        for bucket, ref_id, n in conn.execute(
            select(ROLLUP.c.bucket, ROLLUP.c.ref_id, func.sum(ROLLUP.c.n))
            .where(_window("status", days, tenants))
            .group_by(ROLLUP.c.bucket, ROLLUP.c.ref_id)
        )
    }
    if not pieces or len(pieces) > MAX_PIECES:
        return None
    day = ROLLUP.c.grain == "d"
    seeds: set[str] = set()
    for bucket, ref_id in sorted(pieces, key=lambda p: pieces[p], reverse=True)[:SEED_PIECES]:
        seeds.update(
            conn.scalars(
                _using("ix_alert_rollup_rank", select(ROLLUP.c.value_key))
                .where(day, ROLLUP.c.dim == dim, ROLLUP.c.bucket == bucket, ROLLUP.c.ref_id == ref_id)
                .order_by(ROLLUP.c.n.desc())
                .limit(2 * k)  # some may have no alert inside the window's part of that day
            )
        )
    visible = {ref_id for _, ref_id in pieces}
    totals = _totals(conn, dim, ranges, visible, sorted(seeds))
    if len(totals) < k:
        return None
    bound = sorted((n for _, n in totals.values()), reverse=True)[k - 1]
    size = sum(pieces.values())
    # a select per piece (an index range each), united: an OR of them is planned as one wide scan
    selects = [
        _using("ix_alert_rollup_rank", select(ROLLUP.c.value_key)).where(
            day,
            ROLLUP.c.dim == dim,
            ROLLUP.c.bucket == bucket,
            ROLLUP.c.ref_id == ref_id,
            ROLLUP.c.n >= max(1, -(-bound * n // size)),
        )
        for (bucket, ref_id), n in pieces.items()
    ]
    candidates: set[str] = set()
    for start in range(0, len(selects), _SELECTS_PER_UNION):
        part = selects[start : start + _SELECTS_PER_UNION]
        candidates.update(conn.scalars(union_all(*part) if len(part) > 1 else part[0]))
        if len(candidates) > MAX_CANDIDATES:
            return None
    totals.update(_totals(conn, dim, ranges, visible, sorted(candidates - totals.keys())))
    return _ranked(totals.values())[:k]


def _totals(
    conn: Connection,
    dim: str,
    ranges: Sequence[tuple[str, datetime, datetime]],
    tenants: set[str],
    keys: Sequence[str],
) -> dict[str, tuple[str, int]]:
    """value_key -> (value, total over the window) for `keys`, counting the rows of `tenants`."""
    totals: dict[str, tuple[str, int]] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        # one query per grain range of the window, led by (dim, value_key): an index range per key
        for grain, first, end in ranges:
            for key, value, ref_id, n in conn.execute(
                _using(
                    "ix_alert_rollup_value",
                    select(ROLLUP.c.value_key, ROLLUP.c.value, ROLLUP.c.ref_id, ROLLUP.c.n),
                ).where(
                    ROLLUP.c.dim == dim,
                    ROLLUP.c.value_key.in_(chunk),
                    ROLLUP.c.grain == grain,
                    ROLLUP.c.bucket >= first,
                    ROLLUP.c.bucket < end,
                )
            ):
                if ref_id in tenants:
                    totals[key] = (value, totals[key][1] + n if key in totals else n)
    return totals


_SELECTS_PER_UNION = 200  # SQLite allows 500 selects in a compound statement


def _using(index: str, query: Select[Any]) -> Select[Any]:
    """`query` reading alert_rollup through `index`: without table statistics both planners pick the key."""
    return query.with_hint(ROLLUP, f"INDEXED BY {index}", "sqlite").with_hint(
        ROLLUP, f"FORCE INDEX ({index})", "mysql"
    )


def _ranked(pairs: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """Largest count first, ties by value; no zero counts."""
    return sorted(((v, int(n)) for v, n in pairs if n > 0), key=lambda p: (-p[1], p[0]))


def scan(
    conn: Connection, since: datetime, until: datetime, tenants: Sequence[str] | None, top: int
) -> Dashboard:
    """The same figures as `read` by GROUP BYs over the alert table (the slow way, for comparison)."""
    where = and_(
        _ALERT.c.time_collr >= since,
        _ALERT.c.time_collr < until,
        _ALERT.c.ref_id.in_(tenants) if tenants is not None else true(),
    )
    count = func.count()

    def counts(column: Any, limit: int | None) -> list[tuple[str, int]]:
        query = select(column, count).where(where).group_by(column).order_by(count.desc(), column)
        return [(str(v), int(n)) for v, n in conn.execute(query if limit is None else query.limit(limit))]

    step: Literal["hour", "day"] = "hour" if until - since <= HOURLY_HISTOGRAM_UP_TO else "day"
    bins: dict[datetime, int] = defaultdict(int)
    for (when,) in conn.execute(select(_ALERT.c.time_collr).where(where)):
        bin_start = when.replace(minute=0, second=0, microsecond=0)
        bins[bin_start if step == "hour" else bin_start.replace(hour=0)] += 1
    severity = sorted(counts(_ALERT.c.severity, None), key=lambda p: (-p[1], p[0]))
    return _dashboard(
        since,
        until,
        step,
        status=counts(_ALERT.c.status, None),
        severity=severity,
        source=counts(_ALERT.c.source, top),
        category=counts(_ALERT.c.category, top),
        srcip=counts(_ALERT.c.srcip, top),
        bins=bins,
    )


def _dashboard(
    since: datetime,
    until: datetime,
    step: Literal["hour", "day"],
    *,
    status: list[tuple[str, int]],
    severity: list[tuple[str, int]],
    source: list[tuple[str, int]],
    category: list[tuple[str, int]],
    srcip: list[tuple[str, int]],
    bins: dict[datetime, int],
) -> Dashboard:
    def values(pairs: list[tuple[str, int]]) -> list[ValueCount]:
        return [ValueCount(value=v, count=n) for v, n in pairs]

    return Dashboard(
        since=since,
        until=until,
        step=step,
        total=sum(n for _, n in status),
        by_status=values(status),
        by_severity=[
            SeverityCount(severity=int(v), name=SEVERITY_NAMES.get(int(v), v), count=n) for v, n in severity
        ],
        by_source=values(source),
        by_category=values(category),
        top_srcip=values(srcip),
        histogram=[HistogramBin(start=b, count=n) for b, n in sorted(bins.items()) if n],
    )
