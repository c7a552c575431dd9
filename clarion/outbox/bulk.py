"""Writing many staged rows at once: ``COPY`` on PostgreSQL, one plain ``executemany`` elsewhere.

PostgreSQL takes rows fastest through ``COPY``, which knows no ``ON CONFLICT``; so the rows are
copied into a temporary table that lives for the transaction, and moved from there by one
``INSERT … SELECT … ON CONFLICT``: the same conflicts are skipped (or updated), by the same clause,
as by the ``INSERT … VALUES … ON CONFLICT`` SQLite gets, in the same transaction.

SQLite's rows go to the driver as tuples of values already in the form SQLAlchemy would bind them:
each column type's own bind processor, run once per distinct value of the column (a chunk's rows
share their timestamps and states). SQLAlchemy's executemany builds and processes a parameter
dictionary per row, which cost staging as much as the driver's inserts themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from operator import itemgetter
from typing import Any

import sqlalchemy as sa


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
    columns = given + list(defaults)
    names = ", ".join(f'"{name}"' for name in columns)
    if connection.dialect.name != "postgresql":
        _executemany(connection, table, rows, given, defaults, names, conflict)
        return
    staging = f"_copy_{table.name}"
    connection.exec_driver_sql(
        f'CREATE TEMPORARY TABLE IF NOT EXISTS "{staging}" '
        f'(LIKE "{table.name}" INCLUDING DEFAULTS) ON COMMIT DELETE ROWS'
    )
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f'COPY "{staging}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([_plain(row[name]) if name in row else defaults[name] for name in columns])
    moved = f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM "{staging}" {conflict}'  # noqa: S608
    connection.exec_driver_sql(moved)
    connection.exec_driver_sql(f'DELETE FROM "{staging}"')  # noqa: S608 — for a second insert in this transaction


def _executemany(
    connection: sa.Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, object]],
    given: list[str],
    defaults: Mapping[str, object],
    names: str,
    conflict: str,
) -> None:
    dialect = connection.dialect
    count = len(rows)
    columns: list[Sequence[object]]
    if len(given) == 1:  # itemgetter of one name gives the value, not a tuple
        columns = [[row[given[0]] for row in rows]]
    else:
        columns = list(zip(*map(itemgetter(*given), rows), strict=True))
    for position, name in enumerate(given):
        if (process := _processor(table, name, dialect)) is not None:
            columns[position] = _bound(process, columns[position])
    for name, value in defaults.items():
        process = _processor(table, name, dialect)
        columns.append([value if process is None else process(value)] * count)
    marks = ", ".join("?" for _ in columns)
    insert = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks}) {conflict}'  # noqa: S608
    connection.exec_driver_sql(insert, list(zip(*columns, strict=True)))


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
