"""The MariaDB engines' pymysql with a faster escape: the same text as pymysql's, through the same path."""

from __future__ import annotations

import random

import pymysql
from sqlalchemy import text

from alertmodel.engine import make_engine
from alertmodel.pymysql_driver import Connection, escape_string

SPECIAL = "\0\\\n\r\032\"'"


def test_every_character_is_escaped_as_pymysql_escapes_it() -> None:
    everything = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    assert escape_string(everything) == pymysql.converters.escape_string(everything)
    for c in range(0x10000):  # one at a time too, in long and in short strings
        if 0xD800 <= c <= 0xDFFF:
            continue
        for value in (chr(c), "a" * 70 + chr(c) + "\\" + chr(c)):
            assert escape_string(value) == pymysql.converters.escape_string(value), hex(c)


def test_random_strings_of_the_special_characters_are_escaped_as_pymysql_escapes_them() -> None:
    pool = SPECIAL + 'ab{}:,é😀 "'
    rng = random.Random(7)
    for _ in range(5000):
        value = "".join(rng.choice(pool) for _ in range(rng.randint(0, 300)))
        assert escape_string(value) == pymysql.converters.escape_string(value), repr(value)


def test_pymysql_still_escapes_strings_through_the_method_overridden() -> None:
    # a pymysql release that escapes through another method would silently skip the override
    assert "_escape_string" in pymysql.connections.Connection.escape.__code__.co_names
    assert Connection._escape_string is not pymysql.connections.Connection._escape_string


def test_mariadb_engines_use_it_and_hostile_values_round_trip(mariadb_database: str) -> None:
    engine = make_engine(mariadb_database)
    values = [
        SPECIAL * 40,
        "x' OR '1'='1'; DROP TABLE alert; -- " * 5,
        '{"a": "\\"quoted\\"\\n", "b": "\\\\"}' * 10,
        "émoji 😀 \u2028\u2029 " * 20,
        "",
        "short'\\",
    ]
    try:
        with engine.begin() as conn:
            assert isinstance(conn.connection.dbapi_connection, Connection)
            conn.execute(text("CREATE TABLE t (id INT PRIMARY KEY, v LONGTEXT) CHARACTER SET utf8mb4"))
            conn.execute(
                text("INSERT INTO t VALUES (:i, :v)"), [{"i": i, "v": v} for i, v in enumerate(values)]
            )
            conn.exec_driver_sql(
                "INSERT INTO t VALUES (%s, %s)", [(100 + i, v) for i, v in enumerate(values)]
            )
            stored = dict(conn.execute(text("SELECT id, v FROM t")).all())
        assert [stored[i] for i in range(len(values))] == values
        assert [stored[100 + i] for i in range(len(values))] == values
    finally:
        engine.dispose()


def test_a_server_without_backslash_escapes_gets_pymysqls_quote_doubling(mariadb_database: str) -> None:
    engine = make_engine(mariadb_database)
    value = "it's \\ not a \\' break-out" * 4
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')")
            assert conn.exec_driver_sql("SELECT %s", (value,)).scalar() == value
            conn.rollback()
    finally:
        engine.dispose()
