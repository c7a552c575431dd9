"""Column types and conventions shared by every table (see :mod:`clarion.models`)."""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import sqlalchemy as sa
from pydantic import AfterValidator, AwareDatetime
from sqlalchemy.engine import Dialect
from sqlmodel import SQLModel

from clarion.kinds import Channel

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION

ENUM_LENGTH = 32
HASH_LENGTH = 64  # hex sha256

LocalizedPart = dict[str, dict[str, str | None]]
"""One of the four parts of an update: ``{locale: {"text": str | None, "short": str | None}}``."""


def utcnow() -> datetime:
    """Now, aware, in UTC: the default of every timestamp column."""
    return datetime.now(UTC)


UTCTimestamp = Annotated[AwareDatetime, AfterValidator(lambda value: value.astimezone(UTC))]
"""An aware datetime, converted to UTC when validated (``XCreate`` and ``X.model_validate``)."""


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """An aware timestamp: stored in UTC, always read back as an aware UTC datetime.

    SQLite keeps no offset, so the value is converted to UTC before it is written and marked UTC when
    it is read. A naive datetime is ambiguous (whose wall clock?) and is refused with ``ValueError``.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected an aware datetime, got {type(value).__name__}: {value!r}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"naive datetime {value.isoformat()} refused: give it a time zone, e.g. datetime.now(UTC)"
            )
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def enum_column(kind: type[StrEnum]) -> sa.Enum:
    return sa.Enum(
        kind,
        native_enum=False,
        create_constraint=False,
        length=ENUM_LENGTH,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class ChannelColumn(sa.TypeDecorator[Channel]):
    """A channel's name, stored as text. Not an enum: a package may add channels (``Channel``), so
    the database holds any name and Python checks it against the channels that exist, both ways."""

    impl = sa.String(ENUM_LENGTH)
    cache_ok = True

    def process_bind_param(self, value: Channel | str | None, dialect: Dialect) -> str | None:
        return None if value is None else Channel(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> Channel | None:
        return None if value is None else Channel(value)


def channel_column() -> ChannelColumn:
    return ChannelColumn()


def json_column(*, nullable: bool = False) -> sa.JSON:
    return sa.JSON(none_as_null=nullable)


def table_of(model: type[SQLModel]) -> sa.Table:
    """The Core table of a table model, typed (SQLModel leaves ``__table__`` out of its stubs): for
    the statements that work on rows in bulk, without loading objects."""
    table = model.__table__  # type: ignore[attr-defined]  # the one place this is needed
    assert isinstance(table, sa.Table)
    return table
