"""A `POST /ingest` body, arriving in chunks, cut into event lines as it arrives.

JSON lines are passed on as they are; a body whose first non-blank byte is `[` is a JSON array
and each element becomes a line. Nothing waits for the whole body: the splitter holds at most
one unfinished line (or array element) plus the chunk being cut, so a 10 MiB body never sits
in memory whole, let alone parsed into Python objects.
"""

from __future__ import annotations

import re

import orjson

_ARRAY_TOKEN = re.compile(rb'["\[\]{},]')  # outside strings: all that moves depth or ends an element
_STRING_TOKEN = re.compile(rb'["\\]')  # inside a string: its end, or an escape to skip
_BACKSLASH, _QUOTE, _COMMA = 0x5C, 0x22, 0x2C
_OPENERS, _CLOSERS = b"[{", b"]}"


class LineTooLong(ValueError):
    """One line (or array element) is longer than the limit: the body is refused with 413."""


class BodySplitter:
    """Feed chunks, get complete lines; `finish` returns the last one.

    Lines of a JSON-lines body come as sent, blank ones included (they keep line numbers
    right). An array element that parses is re-serialized compactly, so `[{"a": 1}]` and the
    line `{"a":1}` give the same line and alert_uuid; one that does not parse, or text after the
    closing bracket, is passed on as sent and the core dead-letters it with the decoder's reason.
    Blank array elements (`[1,,2]`) are skipped.
    """

    def __init__(self, max_line_bytes: int) -> None:
        self.max_line_bytes = max_line_bytes
        self._leading_newlines = 0
        self._mode: str | None = None  # "lines" or "array" from the first non-blank byte on
        self._buf = bytearray()
        # array scanning state: where the unfinished element starts, the next byte to look at
        self._start = self._pos = 0
        self._depth = 0
        self._in_string = False
        self._closed = False

    @property
    def first_line(self) -> int:
        """The body line number of the first line handed out (blank lines before it are not)."""
        return 1 if self._mode == "array" else self._leading_newlines + 1

    @property
    def seen_content(self) -> bool:
        """Whether the body had anything but whitespace so far."""
        return self._mode is not None

    def feed(self, chunk: bytes) -> list[bytes]:
        """The lines completed by `chunk`; raises LineTooLong."""
        if self._mode is None:
            chunk = self._skip_leading_blanks(chunk)
            if not chunk:
                return []
            self._mode = "array" if chunk[:1] == b"[" else "lines"
            if self._mode == "array":  # inside the array from the byte after "["
                self._start = self._pos = 1
                self._depth = 1
        if self._mode == "lines":
            return self._feed_lines(chunk)
        self._buf += chunk
        return self._scan_array()

    def finish(self) -> list[bytes]:
        """What is left once the body ended: the last line, or an unfinished array's rest."""
        rest = bytes(self._buf)
        self._buf.clear()
        self._pos = 0
        if self._mode == "array":
            rest = rest.strip()
        return [rest] if rest else []

    # -- JSON lines ---------------------------------------------------------------------------

    def _skip_leading_blanks(self, chunk: bytes) -> bytes:
        # the first line loses its leading blanks too, whatever the chunking: its bytes make the alert_uuid
        content = chunk.lstrip()
        self._leading_newlines += chunk.count(b"\n", 0, len(chunk) - len(content))
        return content

    def _feed_lines(self, chunk: bytes) -> list[bytes]:
        newline = chunk.rfind(b"\n")
        if newline < 0:
            self._buf += chunk
            self._check(len(self._buf))
            return []
        if self._buf:
            self._buf += chunk[: newline + 1]
            complete = bytes(self._buf)
            self._buf.clear()
        else:
            complete = chunk[: newline + 1]
        self._buf += chunk[newline + 1 :]
        lines = complete.split(b"\n")
        lines.pop()  # the empty text after the last newline
        self._check(max(map(len, lines)))
        self._check(len(self._buf))
        return lines

    # -- a JSON array -------------------------------------------------------------------------

    def _scan_array(self) -> list[bytes]:
        """Walk the structure from where the last chunk ended, cutting at top-level commas."""
        buf, pos, start = self._buf, self._pos, self._start
        out: list[bytes] = []
        while not self._closed:
            if self._in_string:
                m = _STRING_TOKEN.search(buf, pos)
                if m is None:
                    pos = len(buf)
                    break
                i = m.start()
                if buf[i] == _BACKSLASH:
                    if i + 1 >= len(buf):  # the escaped byte is in the next chunk
                        pos = i
                        break
                    pos = i + 2
                    continue
                self._in_string = False
                pos = i + 1
                continue
            m = _ARRAY_TOKEN.search(buf, pos)
            if m is None:
                pos = len(buf)
                break
            i = m.start()
            c = buf[i]
            pos = i + 1
            if c == _QUOTE:
                self._in_string = True
            elif c in _OPENERS:
                self._depth += 1
            elif c in _CLOSERS:
                self._depth -= 1
                if self._depth == 0:  # the array's closing bracket; what follows is passed on as one line
                    _append_element(out, buf, start, i)
                    start = pos
                    self._closed = True
            elif c == _COMMA and self._depth == 1:
                _append_element(out, buf, start, i)
                start = pos
        if self._closed:
            pos = len(buf)
        del buf[:start]  # elements handed out leave the buffer (cheap at the front of a bytearray)
        self._pos, self._start = pos - start, 0
        self._check(len(buf))
        return out

    def _check(self, length: int) -> None:
        if length > self.max_line_bytes:
            raise LineTooLong(f"an event longer than {self.max_line_bytes} bytes")


def _append_element(out: list[bytes], buf: bytearray, start: int, end: int) -> None:
    element = bytes(buf[start:end]).strip()
    if not element:
        return
    try:
        out.append(orjson.dumps(orjson.loads(element)))
    except orjson.JSONDecodeError:
        out.append(element)
