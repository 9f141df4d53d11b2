"""Shared column types and the metadata naming convention."""

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import PlainSerializer
from sqlalchemy import JSON, DateTime, Dialect, Index, Numeric, String, Table, TypeDecorator, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import SQLModel

from app import sealing

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")
# A JSON column that may be empty: Python's None is SQL NULL, not the JSON value null.
NullableJSON = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
Money = Numeric(12, 2)
Hours = Numeric(8, 2)


def partial_index(name: str, *columns: str, where: str) -> Index:
    """An index of the rows for which the SQL `where` holds, on PostgreSQL and SQLite alike."""
    return Index(name, *columns, postgresql_where=text(where), sqlite_where=text(where))


# Money on the wire: a decimal string with two places ("1200.00").
MoneyOut = Annotated[
    Decimal, PlainSerializer(lambda v: f"{v:.2f}", return_type=str, when_used="json")
]

# Hours on the wire: a JSON number (4, 2.5), the same however the database stores it.
HoursOut = Annotated[
    Decimal,
    PlainSerializer(
        lambda v: int(v) if v == v.to_integral_value() else float(v),
        return_type=int | float,
        when_used="json",
    ),
]


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes stored as UTC; read back aware, in UTC, on every database."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        """One call a value, as process_result_value reads it: a page of the work queue reads
        about 500 instants. On SQLite the naive UTC text written above is read with its offset
        spelled out, one C call (parsing then `replace(tzinfo=UTC)` costs 0.8 µs, ten times as
        much); PostgreSQL's driver gives instants already in UTC (app.db sets the session's
        TimeZone), kept as they are."""
        if dialect.name == "sqlite":

            def from_text(value: str | None) -> datetime | None:
                if value is None:
                    return None
                try:
                    return datetime.fromisoformat(value + "+00:00")
                except ValueError:  # text that carries its own offset
                    return datetime.fromisoformat(value).astimezone(UTC)

            return from_text
        if self.impl_instance.result_processor(dialect, coltype) is not None:
            return super().result_processor(dialect, coltype)

        def in_utc(value: datetime | None) -> datetime | None:
            if value is None or value.tzinfo is UTC:
                return value
            return self.process_result_value(value, dialect)

        return in_utc


class Sealed(TypeDecorator[str]):
    """A secret stored sealed with the process's keys (app.sealing), read back in clear."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else sealing.keyring().seal(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else sealing.keyring().open(value)


class EnumString(TypeDecorator[StrEnum]):
    """A StrEnum stored as its plain string (VARCHAR), read back as the enum's member.

    Plain strings keep migrations simple on both databases (no native ENUM types to alter);
    the schemas refuse unknown values before they reach a table.
    """

    impl = String
    cache_ok = True

    def __init__(self, enum: type[StrEnum], length: int) -> None:
        super().__init__(length)
        self.enum = enum
        self.length = length

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else str(self.enum(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> StrEnum | None:
        return None if value is None else self.enum(value)

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        """A member found by its value in a dict: calling the enum class costs 0.35 µs a value,
        eight times as much, and a page of the work queue reads 350 of them."""
        if self.impl_instance.result_processor(dialect, coltype) is not None:
            return super().result_processor(dialect, coltype)
        enum, members = self.enum, {member.value: member for member in self.enum}

        def process(value: str | None) -> StrEnum | None:
            if value is None:
                return None
            member = members.get(value)
            return enum(value) if member is None else member  # an unknown value raises

        return process


def utcnow() -> datetime:
    """Current instant, aware; only for stamping rows, never inside the SLA engine."""
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    """An instant in the one style of the wire: UTC, ISO 8601, `Z` (as the API's schemas
    render it); None stays None. For instants kept inside JSON (audit trail, outbox)."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def table_of(model: type[SQLModel]) -> Table:
    """The Core table behind a SQLModel table class, for single-statement writes."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table
