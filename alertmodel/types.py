"""Column types that behave the same on SQLite and MariaDB/MySQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, LargeBinary, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

# Auto-increment needs INTEGER on SQLite; MariaDB gets a real BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")

# MySQL TEXT stops at 64 KiB *bytes*; a 64 KB unicode event needs MEDIUMTEXT (16 MiB).
LongText = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")

# Raw dead-letter payloads can be a megabyte or more (LONGBLOB holds 4 GiB).
RawBytes = LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime stored as a naive UTC DATETIME(6).

    MySQL DATETIME has no zone and SQLite has no datetime type at all; normalizing to
    naive UTC on the way in and tagging UTC on the way out keeps both honest.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(
                f"naive datetime {value.isoformat()} given; alertflow stores UTC-aware datetimes"
            )
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)
