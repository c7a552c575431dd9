"""Writing many staged rows at once: ``COPY`` on PostgreSQL, an ``executemany`` elsewhere.

PostgreSQL takes rows fastest through ``COPY``, which knows no ``ON CONFLICT``; so the rows are
copied into a temporary table that lives for the transaction, and moved from there by one
``INSERT … SELECT … ON CONFLICT``: the same conflicts are skipped (or updated) as by the
``executemany`` SQLite gets, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

import sqlalchemy as sa


def insert_rows(
    connection: sa.Connection,
    statement: sa.Insert,
    rows: Sequence[Mapping[str, object]],
    *,
    conflict: str,
) -> None:
    """Insert ``rows`` (every row with the same keys): on PostgreSQL through ``COPY``, resolving
    conflicts by ``conflict`` (the SQL of an ``ON CONFLICT`` clause); elsewhere by ``statement``,
    the dialect's insert with the same clause, as one executemany."""
    if not rows:
        return
    unknown = set(rows[0]) - set(statement.table.c.keys())
    if unknown:  # names are the table's own, never data: they are written into the SQL below
        raise ValueError(f"{statement.table.name} has no column {sorted(unknown)}")
    if connection.dialect.name != "postgresql":
        connection.execute(statement, list(rows))
        return
    table = statement.table.name
    columns = list(rows[0])
    defaults = _python_defaults(statement.table, columns)
    columns += list(defaults)
    names = ", ".join(f'"{name}"' for name in columns)
    staging = f"_copy_{table}"
    connection.exec_driver_sql(
        f'CREATE TEMPORARY TABLE IF NOT EXISTS "{staging}" '
        f'(LIKE "{table}" INCLUDING DEFAULTS) ON COMMIT DELETE ROWS'
    )
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f'COPY "{staging}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([_plain(row[name]) if name in row else defaults[name] for name in columns])
    moved = f'INSERT INTO "{table}" ({names}) SELECT {names} FROM "{staging}" {conflict}'  # noqa: S608
    connection.exec_driver_sql(moved)
    connection.exec_driver_sql(f'DELETE FROM "{staging}"')  # noqa: S608 — for a second insert in this transaction


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
