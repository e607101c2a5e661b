"""Decoding JSON lines: line endings, and reasons that point at the bad byte."""

from __future__ import annotations

from ingest.json_lines import decode, strip_line
from tests.ingest.conftest import sample_lines


def test_strip_line_removes_lf_crlf_and_cr_only_at_the_end() -> None:
    assert strip_line(b'{"a":"x\\r\\n"}\r\n') == b'{"a":"x\\r\\n"}'
    assert strip_line(b"{}\n") == b"{}"
    assert strip_line(b"{}\r") == b"{}"
    assert strip_line(b"{}") == b"{}"


def test_truncated_line_reason_gives_the_byte_where_json_ends() -> None:
    line = sample_lines("malformed/bad-lines.jsonl")[0].rstrip(b"\n")
    assert decode(line) == f"invalid JSON at byte {len(line)}: unexpected end of data"


def test_reason_counts_bytes_not_characters() -> None:
    assert (
        decode('{"a":"ééé", x}'.encode())
        == "invalid JSON at byte 15: unexpected character, expected a string key"
    )


def test_invalid_utf8_reason_gives_the_first_bad_byte() -> None:
    line = sample_lines("malformed/bad-lines.jsonl")[3].rstrip(b"\n")
    bad = line.index(b"\xff")
    assert decode(line) == f"invalid UTF-8 at byte {bad}: invalid start byte"


def test_json_that_is_not_an_object_is_refused() -> None:
    assert decode(b"[1, 2]") == "expected a JSON object, got list"
    assert decode(b"42") == "expected a JSON object, got int"


def test_valid_object_decodes_to_a_dict() -> None:
    assert decode(b'{"a": [1, {"b": null}]}') == {"a": [1, {"b": None}]}
