"""Audiences: who receives an update, read from the CSV file or SQL query a playbook names.

Recipients are streamed, never all held in memory: a CSV is read row by row (twice: once to check
every row, once to import), a SQL query through a server-side cursor. Every problem in a CSV is
reported at once with its file, line and column before anything is imported, so a bad file loses
nothing and sends nothing.

Columns (a header row is required): ``id`` (required, the customer's id in the source system),
``email``, ``phone`` (international form, ``+`` and country code), ``locale`` (``en``, ``de``…),
``time_zone`` (IANA name). A SQL query returns columns of the same names.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import phonenumbers
import sqlalchemy as sa

from clarion.email_address import EmailNotValidError, normalized_email
from clarion.errors import InputError, Problem, display_path
from clarion.kinds import check_time_zone

COLUMNS = ("id", "email", "phone", "locale", "time_zone")
ALIASES = {"external_id": "id"}
MAX_PROBLEMS = 50
_BITMAP_BITS = 1 << 27  # 16 MiB: first sieve for repeated ids, whatever the file's size


@dataclass(frozen=True, slots=True)
class AudienceSummary:
    """What a full check of a source found: how many rows, and which locale × time zone pairs."""

    rows: int
    variants: frozenset[tuple[str | None, str | None]]


@dataclass(frozen=True, slots=True)
class RecipientRow:
    external_id: str
    email: str | None = None
    phone: str | None = None
    locale: str | None = None
    time_zone: str | None = None
    line: int | None = None


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def check_row(
    raw: dict[str, str | None], *, source: str, line: int | None
) -> tuple[RecipientRow, list[Problem]]:
    """One row, normalised (E.164 phone, lower-case email domain), and what is wrong with it."""
    problems: list[Problem] = []

    def problem(field: str, message: str) -> None:
        problems.append(Problem(source, line, field, message))

    external_id = _clean(raw.get("id") or raw.get("external_id"))
    if external_id is None:
        problem("id", "missing: every recipient needs the id it has in the source system")
    email = _clean(raw.get("email"))
    if email is not None:
        try:
            email = normalized_email(email)
        except EmailNotValidError as exc:
            problem("email", f"{email!r} is not an email address: {exc}")
    phone = _clean(raw.get("phone"))
    if phone is not None:
        try:
            parsed = phonenumbers.parse(phone, None)
        except phonenumbers.NumberParseException:
            parsed = None
        if parsed is None or not phonenumbers.is_valid_number(parsed):
            problem("phone", f"{phone!r} is not a valid number in international form (+ and country code)")
        else:
            phone = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    locale = _clean(raw.get("locale"))
    time_zone = _clean(raw.get("time_zone"))
    if time_zone is not None:
        try:
            check_time_zone(time_zone)
        except ValueError as exc:
            problem("time_zone", str(exc))
    row = RecipientRow(external_id or "", email, phone, locale, time_zone, line)
    return row, problems


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str | None]]]:
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(
            [Problem(display_path(path), None, "", f"cannot read the audience file: {exc.strerror}")]
        ) from None
    with handle:
        reader = csv.DictReader(handle, restkey="\0extra")
        if reader.fieldnames is None:
            raise InputError([Problem(display_path(path), 1, "", "empty file: expected a header row")])
        names = [ALIASES.get(name.strip(), name.strip()) for name in reader.fieldnames]
        unknown = [name for name in names if name not in COLUMNS]
        if "id" not in names or unknown:
            message = f"columns are {', '.join(COLUMNS)} ('id' required)"
            if unknown:
                message += f"; unknown: {', '.join(repr(name) for name in unknown)}"
            raise InputError([Problem(display_path(path), 1, "header", message)])
        for raw in reader:
            line = reader.line_num
            if "\0extra" in raw:
                raise InputError([Problem(display_path(path), line, "", "more fields than the header names")])
            yield line, {ALIASES.get(k.strip(), k.strip()): v for k, v in raw.items()}


def _slot(external_id: str) -> int:
    digest = hashlib.blake2b(external_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % _BITMAP_BITS


def check_csv(path: Path) -> AudienceSummary:
    """Check every row of a recipients CSV: a summary, or :class:`InputError` naming every problem.

    Repeated ids are found in bounded memory: a fixed bitmap flags ids that may repeat, and a second
    read confirms the few candidates exactly.
    """
    source = display_path(path)
    problems: list[Problem] = []
    seen = bytearray(_BITMAP_BITS // 8)
    candidates: set[str] = set()
    variants: set[tuple[str | None, str | None]] = set()
    count = 0
    for line, raw in _rows(path):
        count += 1
        row, found = check_row(raw, source=source, line=line)
        problems.extend(found)
        variants.add((row.locale, row.time_zone))
        if row.external_id:
            slot = _slot(row.external_id)
            byte, bit = divmod(slot, 8)
            if seen[byte] & (1 << bit):
                candidates.add(row.external_id)
            seen[byte] |= 1 << bit
    if candidates:
        first: dict[str, int] = {}
        for line, raw in _rows(path):
            external_id = _clean(raw.get("id") or raw.get("external_id"))
            if external_id not in candidates:
                continue
            if external_id in first:
                problems.append(
                    Problem(
                        source,
                        line,
                        "id",
                        f"{external_id!r} repeats the recipient on line {first[external_id]}",
                    )
                )
            else:
                first[external_id] = line
    _raise_if(problems, source)
    return AudienceSummary(count, frozenset(variants))


def check_sql(url: str, query: str) -> AudienceSummary:
    """Check every row a SQL audience query returns (see :func:`check_csv`)."""
    problems: list[Problem] = []
    variants: set[tuple[str | None, str | None]] = set()
    count = 0
    for row, found in _sql_rows(url, query):
        count += 1
        problems.extend(found)
        variants.add((row.locale, row.time_zone))
    _raise_if(problems, "audience query")
    return AudienceSummary(count, frozenset(variants))


def _raise_if(problems: list[Problem], source: str) -> None:
    if problems:
        problems.sort(key=lambda p: p.line or 0)
        extra = len(problems) - MAX_PROBLEMS
        shown = problems[:MAX_PROBLEMS]
        if extra > 0:
            shown.append(Problem(source, None, "", f"… and {extra} more problems"))
        raise InputError(shown)


_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_PLAIN_EMAIL = re.compile(r"[^@\s]+@[a-z0-9.-]+")


@functools.lru_cache(maxsize=1024)
def _is_time_zone(name: str) -> bool:
    try:
        check_time_zone(name)
    except ValueError:
        return False
    return True


def read_csv(path: Path) -> Iterator[RecipientRow]:
    """Stream the rows of a recipients CSV already passed by :func:`check_csv`.

    Rows already in normal form (an E.164 phone, an address with a lower-case ASCII domain, a known
    time zone) are taken as they are, since the check validated them; anything else is checked again
    in full, so a file edited between the check and the import still cannot slip a bad row through.
    """
    source = display_path(path)
    for line, raw in _rows(path):
        email, phone = _clean(raw.get("email")), _clean(raw.get("phone"))
        external_id, time_zone = _clean(raw.get("id")), _clean(raw.get("time_zone"))
        if (
            external_id is not None
            and (email is None or _PLAIN_EMAIL.fullmatch(email))
            and (phone is None or _E164.fullmatch(phone))
            and (time_zone is None or _is_time_zone(time_zone))
        ):
            yield RecipientRow(external_id, email, phone, _clean(raw.get("locale")), time_zone, line)
            continue
        row, problems = check_row(raw, source=source, line=line)
        if problems:
            raise InputError(problems)
        yield row


def read_sql(url: str, query: str) -> Iterator[RecipientRow]:
    """Stream recipients from a SQL query already passed by :func:`check_sql`."""
    for row, problems in _sql_rows(url, query):
        if problems:
            raise InputError(problems)
        yield row


def _sql_rows(url: str, query: str, *, batch: int = 5_000) -> Iterator[tuple[RecipientRow, list[Problem]]]:
    """Rows of a SQL query (columns named as in a CSV), through a server-side cursor."""
    engine = sa.create_engine(url)
    try:
        yield from _query(engine, query, batch)
    except sa.exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise InputError([Problem("audience query", None, "sql", f"the query failed: {reason}")]) from None
    finally:
        engine.dispose()


def _query(engine: sa.Engine, query: str, batch: int) -> Iterator[tuple[RecipientRow, list[Problem]]]:
    with engine.connect() as connection:
        options = connection.execution_options(stream_results=True, yield_per=batch)
        result = options.execute(sa.text(query))
        names = [ALIASES.get(name, name) for name in result.keys()]  # noqa: SIM118 — a Result, not a dict
        if "id" not in names:
            raise InputError([Problem("audience query", None, "id", "the query returns no 'id' column")])
        for number, values in enumerate(result, start=1):
            raw = {k: None if v is None else str(v) for k, v in zip(names, values, strict=True)}
            row, problems = check_row(raw, source="audience query", line=None)
            yield row, [Problem(p.source, None, p.field, f"row {number}: {p.message}") for p in problems]


def chunks(rows: Iterable[RecipientRow], size: int) -> Iterator[list[RecipientRow]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def copy_csv_to_table(engine: sa.Engine, path: Path, table: str) -> int:
    """Create ``table`` (external_id, email, phone, locale, time_zone) from a recipients CSV,
    replacing what it held; the demo and the tests seed a playbook's SQL audience with it. Every row
    is checked first (:func:`check_csv`), so a bad file writes nothing. Returns the rows written."""
    check_csv(path)
    columns = [sa.Column(name, sa.Text) for name in ("external_id", "email", "phone", "locale", "time_zone")]
    target = sa.Table(table, sa.MetaData(), *columns)
    rows = [
        {
            "external_id": r.external_id,
            "email": r.email,
            "phone": r.phone,
            "locale": r.locale,
            "time_zone": r.time_zone,
        }
        for r in read_csv(path)
    ]
    with engine.begin() as connection:
        target.drop(connection, checkfirst=True)
        target.create(connection)
        if rows:
            connection.execute(target.insert(), rows)
    return len(rows)
