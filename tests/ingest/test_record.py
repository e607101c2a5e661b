"""Record helpers: the deterministic alert_uuid, field defaults and truncation."""

from __future__ import annotations

import uuid

import pytest

from alertmodel import ALERT_COLUMNS, ALERT_FIELD_WIDTHS, INDEF
from ingest.record import ALERT_NAMESPACE, TEMPLATE, address, alert_uuid, port, text
from tests.ingest.conftest import FORGED_ADDRESSES, FORGED_PORTS


def test_alert_uuid_is_the_uuid5_of_source_node_and_raw_event() -> None:
    ns = uuid.UUID(bytes=ALERT_NAMESPACE)
    assert alert_uuid("Wazuh", "n1", b'{"a":1}') == str(uuid.uuid5(ns, 'Wazuh\nn1\n{"a":1}'))
    assert alert_uuid("ModSecurity", "n1", b"{}", 2) == str(uuid.uuid5(ns, "ModSecurity\nn1\n{}\n2"))
    assert uuid.UUID(alert_uuid("x", "y", b"z")).version == 5


def test_alert_uuid_differs_by_source_node_raw_and_part() -> None:
    ids = {
        alert_uuid("Wazuh", "n1", b"{}"),
        alert_uuid("Falco", "n1", b"{}"),
        alert_uuid("Wazuh", "n2", b"{}"),
        alert_uuid("Wazuh", "n1", b"{ }"),
        alert_uuid("Wazuh", "n1", b"{}", 0),
        alert_uuid("Wazuh", "n1", b"{}", 1),
    }
    assert len(ids) == 6


def test_template_has_every_column_at_indef_zero_or_processed() -> None:
    assert set(TEMPLATE) == set(ALERT_COLUMNS)
    assert (TEMPLATE["srcport"], TEMPLATE["severity"], TEMPLATE["status"]) == (0, 0, "processed")
    assert TEMPLATE["agent"] == TEMPLATE["hash_sha256"] == INDEF


def test_text_cuts_to_the_width_and_turns_missing_or_empty_values_into_indef() -> None:
    assert text("d" * 5000, ALERT_FIELD_WIDTHS["description"]) == "d" * 1024
    assert [text(v, 10) for v in (None, "", [], 7, True, ["a", 1], {"k": 1})] == [
        INDEF, INDEF, INDEF, "7", "true", "a, 1", "{'k': 1}",
    ]  # fmt: skip


def test_port_accepts_ints_and_digit_strings_in_range() -> None:
    assert [port(80), port("443"), port("eighty"), port(70000), port(-1), port(None)] == [80, 443, 0, 0, 0, 0]


def test_port_refuses_non_ascii_digits_and_huge_digit_strings() -> None:
    assert [port(v) for v in FORGED_PORTS] == [0] * len(FORGED_PORTS)
    assert port("65535") == 65535


@pytest.mark.parametrize("value", FORGED_ADDRESSES, ids=lambda v: repr(v)[:24])
def test_address_turns_anything_but_one_ip_address_into_indef(value: object) -> None:
    assert address(value) == INDEF


def test_address_writes_ipv4_and_ipv6_in_their_canonical_form() -> None:
    assert address("82.165.177.154") == "82.165.177.154"
    assert address("0000:0000:0000:0000:0000:0000:0000:0001") == "::1"
    assert address("2001:DB8::1") == "2001:db8::1"
    assert address("::ffff:10.1.2.3") == "10.1.2.3"  # IPv4-mapped: the IPv4 address
