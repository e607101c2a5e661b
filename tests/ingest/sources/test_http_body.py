"""Cutting a POST body into event lines as its chunks arrive."""

from __future__ import annotations

import orjson
import pytest

from ingest.sources.http_body import BodySplitter, LineTooLong
from tests.ingest.events import suricata_alerts

CHUNKINGS = [1, 2, 3, 7, 64, 1000, 1 << 20]
# strings full of the bytes that move the scanner: quotes, escapes, brackets, commas
TRICKY = [{"s": 'a"b\\"c],{[\\\\', "n": [1, {"b": "]}"}], "u": "\u00e9\u2028"}, {"e": ""}, [], 7, "x"]


def split(body: bytes, chunk: int, max_line_bytes: int = 1 << 20) -> tuple[list[bytes], int]:
    splitter = BodySplitter(max_line_bytes)
    lines = [line for i in range(0, len(body), chunk) for line in splitter.feed(body[i : i + chunk])]
    return lines + splitter.finish(), splitter.first_line


@pytest.mark.parametrize("chunk", CHUNKINGS)
def test_array_elements_become_compact_lines_whatever_the_chunking(chunk: int) -> None:
    body = b" \n" + orjson.dumps(TRICKY, option=orjson.OPT_INDENT_2) + b"\n"
    assert split(body, chunk) == ([orjson.dumps(e) for e in TRICKY], 1)


@pytest.mark.parametrize("chunk", CHUNKINGS)
def test_json_lines_come_as_sent_blank_ones_included_whatever_the_chunking(chunk: int) -> None:
    alerts = suricata_alerts(3, "split")
    body = b"\n \n" + alerts[0] + b"\r\n\n" + alerts[1] + b"\n" + alerts[2]
    lines, first = split(body, chunk)
    assert lines == [alerts[0] + b"\r", b"", alerts[1], alerts[2]]
    assert first == 3  # two blank lines came first


def test_broken_elements_and_text_after_the_array_are_passed_on_as_sent() -> None:
    assert split(b'[{"a": 1}, oops , {"b": 2}] trailing', 5)[0] == [
        b'{"a":1}',
        b"oops",
        b'{"b":2}',
        b"trailing",
    ]
    assert split(b'[{"a": 1}, {"b": ', 4)[0] == [b'{"a":1}', b'{"b":']  # cut short
    assert split(b"[1,,2]", 1)[0] == [b"1", b"2"]
    assert split(b"[]", 1)[0] == []


def test_a_body_of_whitespace_has_no_content() -> None:
    splitter = BodySplitter(100)
    assert splitter.feed(b" \n\t\n") == [] and splitter.finish() == []
    assert not splitter.seen_content


@pytest.mark.parametrize(
    "body",
    [b'{"a": "' + b"x" * 200 + b'"}\n', b"x" * 200, b'[{"a": "' + b"x" * 200 + b'"}]', b"[1] " + b"x" * 200],
    ids=["line", "unfinished line", "element", "text after the array"],
)
def test_a_line_or_element_over_the_limit_is_refused_before_it_is_held_whole(body: bytes) -> None:
    splitter = BodySplitter(100)
    with pytest.raises(LineTooLong, match="longer than 100 bytes"):
        for i in range(0, len(body), 16):
            splitter.feed(body[i : i + 16])
    assert len(splitter._buf) <= 100 + 16
