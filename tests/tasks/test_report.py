"""The report job's markdown: alert values are inert text, whatever they hold."""

from __future__ import annotations

from tasks.report import escape_markdown, report_markdown


def test_markdown_and_html_in_alert_values_are_escaped() -> None:
    hostile = "<img src=x onerror=alert(1)> [click](javascript:alert(1)) | ![x](http://127.0.0.1/t.png)"
    text = report_markdown("Demo <b>", {"attacker": hostile, "x|y": "a\nb"})
    assert "<img" not in text and "<b>" not in text
    assert "](javascript" not in text and "![x](" not in text
    table_rows = [line for line in text.splitlines() if line.startswith("| ") and "fact" not in line]
    assert all(line.count(" | ") == 1 for line in table_rows), table_rows  # no value adds a column


def test_escaping_keeps_the_text_readable_and_bounded() -> None:
    assert escape_markdown("198.51.100.7") == "198\\.51\\.100\\.7"
    assert escape_markdown("a\n\n  b") == "a b"
    assert len(escape_markdown("x" * 5000)) == 500
