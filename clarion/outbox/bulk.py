"""Writing many staged rows at once: ``COPY`` on PostgreSQL, one plain ``executemany`` elsewhere.

PostgreSQL takes rows fastest through ``COPY``, which knows no ``ON CONFLICT``; so the rows are
copied into a temporary table that lives for the transaction, and moved from there by one
``INSERT … SELECT … ON CONFLICT``: the same conflicts are skipped (or updated), by the same clause,
as by the ``INSERT … VALUES … ON CONFLICT`` SQLite gets, in the same transaction.

Both take the rows as tuples built a column at a time (:func:`_tuples`), each column bound once
per distinct value (a chunk's rows share their timestamps and states): for SQLite, by the column
type's own bind processor, so the values are what SQLAlchemy would bind; for COPY, an enum as its
value. SQLAlchemy's executemany built and processed a parameter dictionary per row, which cost
staging as much as SQLite's inserts themselves.

A chunk's rows are looked up again by their keys (:func:`among`): on PostgreSQL as one array
parameter, so the statement's text does not grow with the chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


def among(
    connection: sa.Connection, column: sa.ColumnElement[Any], values: Sequence[object]
) -> sa.ColumnElement[bool]:
    """``column IN values``. On PostgreSQL it is ``column = ANY(:values)``, one array parameter: an
    ``IN`` list of a chunk's 2 000 keys is a statement psycopg parses anew each time (too long for its
    cache), which cost about a tenth of staging there."""
    if connection.dialect.name == "postgresql":
        array = sa.bindparam(None, list(values), type_=postgresql.ARRAY(column.type))
        return column == sa.any_(array)
    return column.in_(list(values))


def insert_rows(
    connection: sa.Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, object]],
    *,
    conflict: str,
) -> None:
    """Insert ``rows`` (every row with the same keys) into ``table``, resolving conflicts by
    ``conflict`` (the SQL of an ``ON CONFLICT`` clause, which both stores speak): on PostgreSQL
    through ``COPY``, elsewhere as one executemany. Columns a row lacks get the model's defaults."""
    if not rows:
        return
    unknown = set(rows[0]) - set(table.c.keys())
    if unknown:  # names are the table's own, never data: they are written into the SQL below
        raise ValueError(f"{table.name} has no column {sorted(unknown)}")
    given = list(rows[0])
    defaults = _python_defaults(table, given)
    names = ", ".join(f'"{name}"' for name in [*given, *defaults])
    if connection.dialect.name != "postgresql":
        dialect = connection.dialect
        values = _tuples(rows, given, defaults, lambda name, _: _processor(table, name, dialect))
        marks = ", ".join("?" for _ in range(len(given) + len(defaults)))
        insert = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks}) {conflict}'  # noqa: S608
        connection.exec_driver_sql(insert, values)
        return
    staging = f"_copy_{table.name}"
    connection.exec_driver_sql(
        f'CREATE TEMPORARY TABLE IF NOT EXISTS "{staging}" '
        f'(LIKE "{table.name}" INCLUDING DEFAULTS) ON COMMIT DELETE ROWS'
    )
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f'COPY "{staging}" ({names}) FROM STDIN') as copy:
        for row in _tuples(rows, given, defaults, _enum_values):
            copy.write_row(row)
    moved = f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM "{staging}" {conflict}'  # noqa: S608
    connection.exec_driver_sql(moved)
    connection.exec_driver_sql(f'DELETE FROM "{staging}"')  # noqa: S608 — for a second insert in this transaction


Binder = Callable[[str, Sequence[object]], Callable[[Any], Any] | None]
"""How a column's values are bound, given its name and its values (None: as they are)."""


def _tuples(
    rows: Sequence[Mapping[str, object]], given: list[str], defaults: Mapping[str, object], binder: Binder
) -> list[tuple[object, ...]]:
    """``rows`` as tuples of the ``given`` columns then the ``defaults``, each value bound as
    ``binder`` says for its column: the rows are taken apart into columns (in C), each column is
    bound at once, each distinct value once, and the columns are zipped back into rows."""
    columns: list[Sequence[object]]
    if len(given) == 1:  # itemgetter of one name gives the value, not a tuple
        columns = [[row[given[0]] for row in rows]]
    else:
        columns = list(zip(*map(itemgetter(*given), rows), strict=True))
    for position, name in enumerate(given):
        if (bind := binder(name, columns[position])) is not None:
            columns[position] = _bound(bind, columns[position])
    for name, value in defaults.items():
        bind = binder(name, [value])
        columns.append([value if bind is None else bind(value)] * len(rows))
    return list(zip(*columns, strict=True))


def _enum_values(_: str, values: Sequence[object]) -> Callable[[Any], Any] | None:
    """COPY's binding: an enum's value in a column that holds enums; the rest as psycopg dumps it."""
    return _plain if any(isinstance(value, Enum) for value in values) else None


def _processor(table: sa.Table, name: str, dialect: sa.Dialect) -> Callable[[Any], Any] | None:
    """How SQLAlchemy binds a value of the column for ``dialect`` (None: as it is)."""
    return table.c[name].type.dialect_impl(dialect).bind_processor(dialect)


def _bound(process: Callable[[Any], Any], column: Sequence[object]) -> list[object]:
    """``column``'s values bound by ``process``, each distinct value once (a column's values are of
    one type, so equal values bind alike; a chunk's rows share their timestamps and states)."""
    try:
        known = {value: process(value) for value in set(column)}
    except TypeError:  # a value that cannot be hashed (a JSON document): bound one by one
        return list(map(process, column))
    return list(map(known.__getitem__, column))


def _python_defaults(table: Any, given: Sequence[str]) -> dict[str, object]:
    """The values SQLAlchemy would fill in for the columns ``given`` lacks (the executemany gets them
    from SQLAlchemy, COPY does not); a callable default (a timestamp) is called once for the batch."""
    found: dict[str, object] = {}
    for column in table.c:
        default = column.default
        if column.key in given or default is None:
            continue
        found[column.key] = _plain(default.arg(None) if default.is_callable else default.arg)
    return found


def _plain(value: Any) -> Any:
    """What COPY writes for a value: an enum's value, the rest as psycopg dumps it."""
    return value.value if isinstance(value, Enum) else value
