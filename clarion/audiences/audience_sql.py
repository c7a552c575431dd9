"""Audiences from a SQL query a playbook names: checked in full, streamed, and read-only.

The query returns columns named as in a recipients CSV (``id`` or ``external_id``, ``email``,
``phone``, ``locale``, ``time_zone``); every row is checked as a CSV row is
(:func:`clarion.audiences.audience.check_row`). The query only reads: it runs as a subquery (one SELECT,
nothing chained after it) in a read-only transaction, so a playbook's ``sql:`` cannot change the
store or the audience database (``DROP TABLE audit_event`` as a "query" dropped the audit log).
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa

from clarion.audiences.audience import (
    ALIASES,
    COLUMNS,
    AudienceSummary,
    Problems,
    RecipientRow,
    check_row,
    raise_if,
)
from clarion.errors import ConfigError, InputError, Problem
from clarion.files.text import visible


def check_sql(url: str, query: str) -> AudienceSummary:
    """Check every row a SQL audience query returns (see :func:`check_csv`)."""
    problems = Problems()
    variants: set[tuple[str | None, str | None]] = set()
    count = 0
    for row, found in _sql_rows(url, query):
        count += 1
        problems.extend(found)
        variants.add((row.locale, row.time_zone))
    raise_if(problems.kept, more=problems.more)
    return AudienceSummary(count, frozenset(variants))


def read_sql(url: str, query: str) -> Iterator[RecipientRow]:
    """Stream recipients from a SQL query already passed by :func:`check_sql`."""
    for row, problems in _sql_rows(url, query):
        if problems:
            raise InputError(problems)
        yield row


_READ_ONLY = {
    "postgresql": "SET TRANSACTION READ ONLY",
    "mysql": "SET TRANSACTION READ ONLY",
    "mariadb": "SET TRANSACTION READ ONLY",
    "sqlite": "PRAGMA query_only = ON",
}
"""How each database is told that the audience query may only read (the first statement sent)."""


def _reason(exc: BaseException) -> str:
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return visible(lines[0] if lines else type(exc).__name__, limit=300)


def _sql_rows(url: str, query: str, *, batch: int = 5_000) -> Iterator[tuple[RecipientRow, list[Problem]]]:
    """Rows of a SQL query (columns named as in a CSV), through a server-side cursor.

    The query only reads: it runs as a subquery (one SELECT, nothing chained after it) in a
    read-only transaction, so a playbook's ``sql:`` cannot change the store or the audience
    database. A database that cannot be reached is a :class:`ConfigError` naming the setting; a
    query that fails is the playbook's :class:`InputError`.
    """
    try:
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError, ValueError) as exc:
        raise ConfigError(
            f"the audience database URL (CLARION_AUDIENCE_DATABASE_URL, else the store's) is unusable: "
            f"{visible(str(exc), limit=200)}"
        ) from None
    try:
        read_only = _READ_ONLY.get(engine.dialect.name)
        if read_only is None:
            raise ConfigError(
                f"audience queries run read-only on PostgreSQL, MySQL or SQLite, not {engine.dialect.name}"
            )
        try:
            connection = engine.connect()
            connection.exec_driver_sql(read_only)
        except sa.exc.DBAPIError as exc:
            where = engine.url.render_as_string(hide_password=True)
            raise ConfigError(f"cannot reach the audience database at {where}: {_reason(exc)}") from None
        with connection:
            try:
                yield from _query(connection, query, batch)
            except sa.exc.SQLAlchemyError as exc:
                message = f"the query failed: {_reason(exc)}"
                raise InputError([Problem("audience query", None, "sql", message)]) from None
    finally:
        engine.dispose()


def _query(connection: sa.Connection, query: str, batch: int) -> Iterator[tuple[RecipientRow, list[Problem]]]:
    single = query.strip().rstrip(";").strip()
    options = connection.execution_options(stream_results=True, yield_per=batch)
    wrapped = f"SELECT * FROM (\n{single}\n) AS clarion_audience"  # noqa: S608 — the playbook's own query
    result = options.execute(sa.text(wrapped))
    names = [ALIASES.get(name, name) for name in result.keys()]  # noqa: SIM118 — a Result, not a dict
    if "id" not in names:
        raise InputError([Problem("audience query", None, "id", "the query returns no 'id' column")])
    twice = [name for name in COLUMNS if names.count(name) > 1]
    if twice:
        raise InputError(
            [
                Problem(
                    "audience query",
                    None,
                    name,
                    f"the query returns {name!r} {names.count(name)} "
                    "times (an alias counts: external_id is id): return it once",
                )
                for name in twice
            ]
        )
    for number, values in enumerate(result, start=1):
        raw = {k: None if v is None else str(v) for k, v in zip(names, values, strict=True)}
        row, problems = check_row(raw, source="audience query", line=None)
        yield row, [Problem(p.source, None, p.field, f"row {number}: {p.message}") for p in problems]
