"""The alert archive: what retention deletes, kept as gzip JSON lines, one file per collection day.

`alerts-YYYY-MM-DD.jsonl.gz` (the alert's `time_collr` day, UTC) holds one stored alert record
per line: every column but the surrogate `alert_id`, datetimes as ISO 8601 with their offset.
Each retention batch appends one gzip member per day it touches (gzip members concatenate) in
a single O_APPEND write and fsyncs it before the batch's rows are deleted. A crash between the
fsync and the delete leaves those rows stored, so the next pass archives them again: a record
can appear twice, never not at all. Readers deduplicate by `alert_uuid`, and storing a record
again is a no-op because alerts are unique by `alert_uuid`. A member cut short by a crash
mid-write is skipped on reading (its rows were not deleted, so a later member holds them).
"""

from __future__ import annotations

import logging
import os
import zlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from sqlalchemy import Engine, select

from alertmodel.alert import ALERT_COLUMNS, Alert, AlertBase
from alertmodel.errors import StorageError
from alertmodel.repository import insert_alerts

log = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b\x08"
_GZIP_WBITS = 16 + zlib.MAX_WBITS
_CHUNK = 1 << 20


def archive_path(directory: Path, day: date) -> Path:
    """The file that holds the archived alerts collected on `day` (UTC)."""
    return directory / f"alerts-{day.isoformat()}.jsonl.gz"


def encode_record(row: Mapping[str, Any]) -> bytes:
    """One archive line: the alert's columns (no `alert_id`), datetimes in ISO 8601 with offset."""
    return orjson.dumps({name: row[name] for name in ALERT_COLUMNS}) + b"\n"


def append_alerts(directory: Path, rows: Sequence[Mapping[str, Any]]) -> dict[Path, int]:
    """Append `rows` to their day files and fsync them; records written per file.

    Raises StorageError (nothing should then be deleted) when a file cannot be written.
    """
    by_day: dict[date, list[bytes]] = defaultdict(list)
    for row in rows:
        by_day[row["time_collr"].astimezone(UTC).date()].append(encode_record(row))
    written: dict[Path, int] = {}
    if not by_day:
        return written
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        for day, lines in sorted(by_day.items()):
            path = archive_path(directory, day)
            _append_member(path, zlib_gzip(b"".join(lines)))
            written[path] = len(lines)
    except OSError as exc:
        raise StorageError(f"cannot write the alert archive in {directory}: {exc}") from exc
    return written


def zlib_gzip(data: bytes) -> bytes:
    """`data` as one gzip member (no file name or time in the header, so equal input gives equal bytes)."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, _GZIP_WBITS)
    return compressor.compress(data) + compressor.flush()


def _append_member(path: Path, member: bytes) -> None:
    created = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        view = memoryview(member)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:  # the new directory entry must survive a crash too
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def is_archive(path: Path) -> bool:
    """Whether `path` is gzip data (an archive file) rather than JSON lines of sensor events."""
    with path.open("rb") as handle:
        return handle.read(len(GZIP_MAGIC)) == GZIP_MAGIC


def read_archive(path: Path) -> Iterator[dict[str, Any]]:
    """The alert records in an archive file, validated, as column → value dicts ready to insert.

    Reads one gzip member (one retention batch) at a time. Raises ValueError naming the file
    and record when a complete member holds something that is not an archived alert.
    """
    line_no = 0
    with path.open("rb") as handle:
        for payload in _members(handle, path):
            for line in payload.split(b"\n"):
                if not line.strip():
                    continue
                line_no += 1
                try:
                    record = AlertBase.model_validate(orjson.loads(line))
                except ValueError as exc:
                    raise ValueError(f"{path}: record {line_no} is not an archived alert: {exc}") from None
                yield record.model_dump()


def _members(handle: BinaryIO, path: Path) -> Iterator[bytes]:
    """The payload of each complete gzip member; a damaged or cut-short one is skipped up to the
    next member header."""
    pending = b""
    while True:
        data = pending or handle.read(_CHUNK)
        if not data:
            return
        decompressor = zlib.decompressobj(_GZIP_WBITS)
        fed = bytearray()
        parts: list[bytes] = []
        complete = False
        while data:
            fed += data
            try:
                parts.append(decompressor.decompress(data))
            except zlib.error:
                break
            if decompressor.eof:
                complete = True
                break
            data = handle.read(_CHUNK)
        if complete:
            yield b"".join(parts)
            pending = decompressor.unused_data
            continue
        log.warning(
            "%s: a damaged gzip member was skipped (a write cut short; its rows were archived again)", path
        )
        pending = _next_member(bytes(fed[1:]), handle)


def _next_member(seen: bytes, handle: BinaryIO) -> bytes:
    """`seen` and the rest of the file from the next gzip header on (b"" when there is none)."""
    while (start := seen.find(GZIP_MAGIC)) < 0:
        more = handle.read(_CHUNK)
        if not more:
            return b""
        seen = seen[-(len(GZIP_MAGIC) - 1) :] + more
    return seen[start:]


def unique_records(paths: Iterable[Path]) -> Iterator[dict[str, Any]]:
    """The records of these archive files, each `alert_uuid` once (the first copy)."""
    seen: set[str] = set()
    for path in paths:
        for record in read_archive(path):
            if record["alert_uuid"] not in seen:
                seen.add(record["alert_uuid"])
                yield record


def restore(engine: Engine, paths: Sequence[Path], batch_rows: int = 1000) -> tuple[int, int]:
    """Store the archived alerts again, exactly as they were; (records read, alerts stored).

    An alert whose `alert_uuid` is already stored is left as it is.
    """
    read = stored = 0
    batch: list[dict[str, Any]] = []

    def flush() -> int:
        table = Alert.__table__
        uuids = [r["alert_uuid"] for r in batch]
        with engine.begin() as conn:
            present = set(
                conn.execute(select(table.c.alert_uuid).where(table.c.alert_uuid.in_(uuids))).scalars()
            )
            insert_alerts(conn, [r for r in batch if r["alert_uuid"] not in present])
        new = len(batch) - len(present)
        batch.clear()
        return new

    for record in unique_records(paths):
        read += 1
        batch.append(record)
        if len(batch) >= batch_rows:
            stored += flush()
    if batch:
        stored += flush()
    return read, stored
