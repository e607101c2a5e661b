"""A window of stored alerts, read after a forwarder's cursor and encoded as the receiver's wire bytes.

`Encoder.window` reads the alerts with alert_id in (after, upto] that pass the forwarder's
filter (SQLAlchemy Core rows, no ORM objects), renders each in the forwarder's format and
encodes it for the receiver kind: GELF frames, `_bulk` lines, RFC 5424 frames, GELF datagrams.
It runs in the forwarder's own thread or in its render processes (`RenderPool`), so reading
and rendering the next windows overlaps sending this one. Nothing here imports Prefect or the
blocks: a render process starts in a fraction of a second.
"""

from __future__ import annotations

import os
import threading
import time
import zlib
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing import get_context
from typing import Any, Literal

import orjson
from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    String,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    type_coerce,
)

from alertmodel.alert import ALERT_COLUMNS
from alertmodel.engine import make_engine
from alertmodel.formats import FORMATS
from alertmodel.formats._fields import iso
from alertmodel.forwarding import ALERTS, forward_filter
from tasks.forward.common import SYSLOG_LEVEL, Outgoing, Refused

Kind = Literal["gelf_tcp", "gelf_udp", "bulk", "syslog"]

CHUNK_MAGIC = b"\x1e\x0f"
CHUNK_HEADER = 12  # magic (2) + message id (8) + sequence number (1) + count (1)
MAX_CHUNKS = 128
SD_ID = "alertflow@32473"  # 32473: the private enterprise number RFC 5612 sets aside for examples

_COLUMNS = [ALERTS.c[name] for name in ALERT_COLUMNS]
_TIMES = frozenset({"time_collr", "time_cntrl"})
_AS_IS = frozenset({str, int, float, datetime})  # orjson writes a datetime as ISO 8601 text
_NAMES: dict[str, str] = {}


@dataclass(frozen=True, slots=True)
class RenderSpec:
    """What a forwarder sends, as plain data a render process can take: filter, format and wire settings."""

    kind: Kind
    format: str
    min_severity: int = 0
    sources: tuple[str, ...] = ()
    categories_profile: str | None = None
    host: str = ""  # GELF `host` / syslog HOSTNAME
    index: str = ""  # _bulk index
    facility: int = 4
    app_name: str = "alertflow"
    udp_chunk_size: int = 8154


@dataclass(slots=True)
class Window:
    """The alerts of ids (after, upto] a forwarder sends, encoded; those its format refused set aside.

    `wire` is what a stream receiver gets (GELF TCP frames, syslog frames) or the `_bulk` body
    (an action line and a document line per alert, in `uuids` order); `documents` holds the GELF
    datagrams of a UDP input (each alert's in a row).
    """

    after: int
    upto: int
    uuids: list[str] = field(default_factory=list)
    wire: bytes = b""
    documents: list[bytes] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)


def gelf_name(key: str) -> str:
    """The GELF additional field of a document key: `_key`, and `_id_` for `id` (GELF reserves `_id`)."""
    name = "_id_" if key == "id" else "_" + key
    if len(_NAMES) < 4096:  # formats have a fixed set of keys; the cache stays small
        _NAMES[key] = name
    return name


def gelf_message(item: Outgoing, host: str) -> dict[str, Any]:
    """The GELF message of one alert: GELF's own fields, then every document field as `_name`.

    GELF additional fields are strings or numbers, so nested values travel as JSON text; `_id`
    is reserved by GELF, so a document's `id` goes as `_id_`.
    """
    row = item.row
    message = _gelf_head(row, host)
    for key, value in item.document.items():
        if type(value) in _AS_IS:
            message[_NAMES.get(key) or gelf_name(key)] = value
        elif value is not None:  # GELF has no null; nested values and booleans travel as JSON text
            message[_NAMES.get(key) or gelf_name(key)] = orjson.dumps(
                value, option=orjson.OPT_NAIVE_UTC
            ).decode()
    return message


def _gelf_head(row: Any, host: str) -> dict[str, Any]:
    collected = row["time_collr"]
    return {
        "version": "1.1",
        "host": host,
        "short_message": str(row["description"]) or "alert",
        "timestamp": collected.timestamp() if isinstance(collected, datetime) else collected,
        "level": SYSLOG_LEVEL.get(row["severity"], 6),
    }


def udp_datagrams(payload: bytes, chunk_size: int) -> list[bytes]:
    """`payload` (already compressed) as one datagram, or as GELF chunks of at most `chunk_size` bytes."""
    if len(payload) <= chunk_size:
        return [payload]
    room = chunk_size - CHUNK_HEADER
    count = -(-len(payload) // room)
    if count > MAX_CHUNKS:
        raise ValueError(
            f"a GELF message of {len(payload)} bytes needs {count} chunks, more than {MAX_CHUNKS}"
        )
    message_id = os.urandom(8)
    return [
        CHUNK_MAGIC + message_id + bytes((i, count)) + payload[i * room : (i + 1) * room]
        for i in range(count)
    ]


def header_token(value: str, limit: int) -> str:
    """A syslog header field: printable ASCII without spaces, at most `limit` characters, or '-'."""
    cleaned = "".join(ch for ch in value if 33 <= ord(ch) <= 126)[:limit]
    return cleaned or "-"


def _sd_value(value: Any) -> str:
    """A structured-data parameter value with '"', '\\' and ']' escaped as RFC 5424 6.3.3 asks."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def syslog_message(item: Outgoing, facility: int, hostname: str, app_name: str) -> bytes:
    """One alert as an RFC 5424 message: the alert's keys as structured data, the document as JSON MSG."""
    row = item.row
    priority = facility * 8 + SYSLOG_LEVEL.get(row["severity"], 6)
    collected = row["time_collr"]
    if isinstance(collected, datetime):
        stamp = collected.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    else:
        stamp = "-"
    params = " ".join(
        f'{name}="{_sd_value(row[name])}"' for name in ("alert_uuid", "source", "severity", "event")
    )
    header = f"<{priority}>1 {stamp} {hostname} {app_name} - alert [{SD_ID} {params}] "
    return header.encode() + orjson.dumps(item.document, option=orjson.OPT_NAIVE_UTC)


class Encoder:
    """Reads and encodes windows for one forwarder (one per thread or render process)."""

    def __init__(self, spec: RenderSpec) -> None:
        self.spec = spec
        self.render = FORMATS[spec.format]
        # The Alertflex record's fields are the alert's columns, scalars all: its GELF message is
        # built straight from the row, the same message `gelf_message` builds from the document.
        self._gelf_names = [gelf_name(name) for name in ALERT_COLUMNS]
        self._times = [i for i, name in enumerate(ALERT_COLUMNS) if name in _TIMES]
        self._alertflex = spec.format == "alertflex"
        self._sqlite_json = sqlite_alertflex_json(spec) if self._alertflex and spec.kind != "syslog" else None
        position = {name: i for i, name in enumerate(ALERT_COLUMNS)}
        self._uuid, self._collected = position["alert_uuid"], position["time_collr"]
        self._description, self._severity = position["description"], position["severity"]
        self._action = b'{"index":{"_index":' + orjson.dumps(spec.index) + b',"_id":'

    def window(self, conn: Connection, after: int, upto: int) -> Window:
        """The alerts of ids (after, upto] that pass the filter, encoded."""
        spec = self.spec
        clauses = forward_filter(conn, spec.min_severity, spec.sources, spec.categories_profile)
        where = (ALERTS.c.alert_id > after, ALERTS.c.alert_id <= upto, *clauses)
        if self._alertflex and spec.kind != "syslog" and conn.dialect.name == "sqlite":
            # SQLite writes the Alertflex record's JSON itself (json_object), in C: the rows
            # come as one text each, nothing is built per field in Python.
            query = select(ALERTS.c.alert_uuid, self._sqlite_json).where(*where)
            rows = conn.execute(query.order_by(ALERTS.c.alert_id)).all()
            window = Window(after, upto, [uuid for uuid, _ in rows])
            return self._pack(window, [text.encode() for _, text in rows])
        query = select(*_COLUMNS).where(*where).order_by(ALERTS.c.alert_id)
        return self.encode(after, upto, conn.execute(query).all())

    def encode(self, after: int, upto: int, rows: list[Any]) -> Window:
        """`rows` (tuples of ALERT_COLUMNS) encoded for the receiver kind."""
        window = Window(after, upto)
        messages: list[bytes] = []
        dumps, naive = orjson.dumps, orjson.OPT_NAIVE_UTC
        host, kind = self.spec.host, self.spec.kind
        for values in rows:
            try:
                if self._alertflex:  # the Alertflex record is the row itself, times as ISO text
                    fields = list(values)
                    for i in self._times:
                        fields[i] = iso(fields[i])
                    if kind == "bulk":
                        message = dumps(dict(zip(ALERT_COLUMNS, fields, strict=True)))
                    elif kind != "syslog":
                        message = dumps(self._gelf_alertflex(values, fields, host))
                    else:
                        message = self._syslog(values, dict(zip(ALERT_COLUMNS, fields, strict=True)))
                else:
                    document = self.render(dict(zip(ALERT_COLUMNS, values, strict=True)))
                    if kind == "bulk":
                        message = dumps(document, option=naive)
                    elif kind == "syslog":
                        message = self._syslog(values, document)
                    else:
                        row = dict(zip(ALERT_COLUMNS, values, strict=True))
                        message = dumps(gelf_message(Outgoing(row, document), host), option=naive)
            except (ValueError, TypeError, KeyError) as exc:
                row = dict(zip(ALERT_COLUMNS, values, strict=True))
                window.refused.append(
                    Refused(row["alert_uuid"], repr(row).encode(), f"format {self.spec.format}: {exc}")
                )
                continue
            window.uuids.append(values[self._uuid])
            messages.append(message)
        return self._pack(window, messages)

    def _pack(self, window: Window, messages: list[bytes]) -> Window:
        """The window's wire bytes (or datagrams) of its alerts' `messages`."""
        kind = self.spec.kind
        if kind == "gelf_udp":
            uuids, window.uuids = window.uuids, []
            for uuid, message in zip(uuids, messages, strict=True):
                try:
                    window.documents += udp_datagrams(zlib.compress(message, 1), self.spec.udp_chunk_size)
                except ValueError as exc:
                    window.refused.append(Refused(uuid, message, str(exc)))
                    continue
                window.uuids.append(uuid)
        elif kind == "gelf_tcp" and messages:
            window.wire = b"\0".join(messages) + b"\0"
        elif kind == "syslog":
            window.wire = b"".join(b"%d %s" % (len(m), m) for m in messages)
        elif kind == "bulk":
            action = self._action
            lines = []
            for uuid, document in zip(window.uuids, messages, strict=True):
                lines += (action + orjson.dumps(uuid) + b"}}", document)
            lines.append(b"")
            window.wire = b"\n".join(lines)
        return window

    def _gelf_alertflex(self, values: Any, fields: list[Any], host: str) -> dict[str, Any]:
        """The GELF message `gelf_message` makes of the Alertflex record, built from the row's values."""
        collected = values[self._collected]
        message: dict[str, Any] = {
            "version": "1.1",
            "host": host,
            "short_message": str(values[self._description]) or "alert",
            "timestamp": collected.timestamp() if isinstance(collected, datetime) else collected,
            "level": SYSLOG_LEVEL.get(values[self._severity], 6),
        }
        message.update({name: v for name, v in zip(self._gelf_names, fields, strict=True) if v is not None})
        return message

    def _syslog(self, values: Any, document: dict[str, Any]) -> bytes:
        spec = self.spec
        row = dict(zip(ALERT_COLUMNS, values, strict=True))
        return syslog_message(Outgoing(row, document), spec.facility, spec.host, spec.app_name)


def _sqlite_iso(column: Any) -> Any:
    """A stored SQLite datetime ('YYYY-MM-DD HH:MM:SS[.ffffff]', UTC) as `iso` writes it (+00:00, no .000000)."""
    text = type_coerce(column, String)
    t = func.replace(text, " ", "T", type_=String)
    whole = or_(func.length(text) == 19, func.substr(text, 20, type_=String) == ".000000")
    return case(
        (text.is_(None), null()),
        (whole, func.substr(t, 1, 19, type_=String).concat("+00:00")),
        else_=t.concat("+00:00"),
    )


def sqlite_alertflex_json(spec: RenderSpec) -> Any:
    """SQLite's json_object of the Alertflex record (`_bulk`) or of its GELF message (GELF), per row.

    The same fields, in the same order, as the Python renderer and `gelf_message` write; SQLite
    writes the GELF `timestamp` to 15 significant digits (10 µs) where Python writes 17.
    """
    c = ALERTS.c
    fields = [(name, _sqlite_iso(c[name]) if name in _TIMES else c[name]) for name in ALERT_COLUMNS]
    if spec.kind == "bulk":
        return func.json_object(*[a for name, value in fields for a in (literal(name), value)], type_=String)
    collected = type_coerce(c.time_collr, String)
    head = [
        ("version", literal("1.1")),
        ("host", literal(spec.host)),
        ("short_message", case((c.description == "", literal("alert")), else_=c.description)),
        (
            "timestamp",
            cast(func.strftime("%s", collected), Integer)
            + cast(func.substr(collected, 21, 6), Integer) / literal(1_000_000.0),
        ),
        ("level", case(*[(c.severity == k, v) for k, v in SYSLOG_LEVEL.items()], else_=6)),
    ]

    def message(with_cntrl: bool) -> Any:
        pairs = head + [
            (gelf_name(name), value) for name, value in fields if with_cntrl or name != "time_cntrl"
        ]
        return func.json_object(*[a for key, value in pairs for a in (literal(key), value)], type_=String)

    # GELF has no null: an alert without time_cntrl has no _time_cntrl
    return case((c.time_cntrl.is_(None), message(False)), else_=message(True))


# -- render processes ------------------------------------------------------------------------------

_CHILD: tuple[Engine, Encoder] | None = None


def _child_start(url: str, spec: RenderSpec, parent: int) -> None:
    global _CHILD
    _CHILD = (make_engine(url), Encoder(spec))

    def orphaned() -> None:  # the forwarder was killed (SIGKILL): nobody will ask for a window again
        while os.getppid() == parent:
            threading.Event().wait(1.0)
        os._exit(0)

    threading.Thread(target=orphaned, daemon=True).start()


def _child_window(after: int, upto: int) -> Window:
    assert _CHILD is not None
    engine, encoder = _CHILD
    with engine.connect() as conn:
        return encoder.window(conn, after, upto)


def _child_ready() -> int:
    time.sleep(0.05)  # long enough that each warm-up job lands on a process of its own
    return os.getpid()


def render_pool(url: str, spec: RenderSpec, processes: int) -> Executor:
    """`processes` render processes (spawned: the forwarder has threads) for one forwarder, started.

    Submit `window_job` to it; each process has its own engine on the store at `url`.
    """
    pool = ProcessPoolExecutor(
        processes,
        mp_context=get_context("spawn"),
        initializer=_child_start,
        initargs=(url, spec, os.getpid()),
    )
    for started in [pool.submit(_child_ready) for _ in range(processes)]:
        started.result()
    return pool


window_job = _child_window
"""The job a render pool runs: `(after, upto)` → Window."""
