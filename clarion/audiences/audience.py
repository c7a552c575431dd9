"""Audiences: who receives an update, read from the CSV file or SQL query a playbook names.

Recipients are streamed, never all held in memory: a CSV is read row by row (twice: once to check
every row, once to import), a SQL query through a server-side cursor. Every problem in a CSV is
reported at once with its file, line and column before anything is imported, so a bad file loses
nothing and sends nothing. Reading the file itself (regular UTF-8 files only, bounded lines, a
header whose columns are known and named once) is :mod:`clarion.audiences.csvfile`'s.

Columns (a header row is required): ``id`` (required, the customer's id in the source system),
``email``, ``phone`` (international form, ``+`` and country code), ``locale`` (a language tag
babel knows: ``en``, ``de``, ``pt-BR``…; one the playbook does not ship gets its first locale),
``time_zone`` (IANA name). A SQL query returns columns of the same names. No field may hold a
control character, a tab or a line break, and each has a bound (:data:`MAX_LENGTHS`).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import phonenumbers
import sqlalchemy as sa
from babel import Locale, UnknownLocaleError

from clarion.audiences.csvfile import EXTRA, records
from clarion.audiences.email_address import EmailNotValidError, normalized_email
from clarion.errors import InputError, Problem, display_path
from clarion.files.text import first_unsafe, quoted, visible
from clarion.kinds import check_time_zone

COLUMNS = ("id", "email", "phone", "locale", "time_zone")
ALIASES = {"external_id": "id"}
MAX_LENGTHS = {"id": 200, "email": 254, "phone": 32, "locale": 35, "time_zone": 64}
"""Characters a field may hold: an address's RFC limit (254), E.164 with room for spaces, BCP 47's
practical 35, the longest IANA zone name with room to spare."""
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


def _fields(raw: dict[str, str | None]) -> tuple[dict[str, str | None], list[tuple[str, str]]]:
    """The row's fields stripped of surrounding blanks, and ``(column, what is wrong)`` for each that
    holds a control character, a tab or line break inside it, or more characters than its bound."""
    values = {name: raw.get(name) for name in COLUMNS}
    text = ",".join(value for value in values.values() if value)
    suspect = first_unsafe(text) is not None or "\t" in text or "\n" in text
    wrong: list[tuple[str, str]] = []
    for name, value in values.items():
        if value is None:
            continue
        if suspect and (message := _one_line_problem(name, value)) is not None:
            wrong.append((name, message))
            values[name] = None
            continue
        value = value.strip()
        if len(value) > MAX_LENGTHS[name]:
            wrong.append((name, f"{len(value):,} characters, more than the {MAX_LENGTHS[name]} allowed"))
            values[name] = None
            continue
        values[name] = value or None
    return values, wrong


def _one_line_problem(name: str, value: str) -> str | None:
    if (unsafe := first_unsafe(value)) is not None:
        return f"holds a {unsafe}"
    value = value.strip()
    for character, what in (("\t", "tab"), ("\n", "line break")):
        if (at := value.find(character)) >= 0:
            return f"holds a {what} at character {at + 1}: the {name} must be one line"
    return None


@functools.lru_cache(maxsize=1024)
def _is_locale(tag: str) -> bool:
    try:
        Locale.parse(tag, sep="-")
    except (ValueError, UnknownLocaleError):
        return False
    return True


@functools.lru_cache(maxsize=1024)
def _is_time_zone(name: str) -> bool:
    try:
        check_time_zone(name)
    except ValueError:
        return False
    return True


def check_row(
    raw: dict[str, str | None], *, source: str, line: int | None
) -> tuple[RecipientRow, list[Problem]]:
    """One row, normalised (E.164 phone, lower-case email domain), and what is wrong with it."""
    problems: list[Problem] = []

    def problem(field: str, message: str) -> None:
        problems.append(Problem(source, line, field, message))

    if (extra := raw.get(EXTRA)) is not None:
        problem("", f"more fields than the header names ({extra})")
    values, wrong = _fields(raw)
    for name, message in wrong:
        problem(name, message)
    external_id, email, phone = values["id"], values["email"], values["phone"]
    if external_id is None and not any(p.field == "id" for p in problems):
        problem("id", "missing: every recipient needs the id it has in the source system")
    if email is not None:
        try:
            email = normalized_email(email)
        except EmailNotValidError as exc:
            problem("email", f"{quoted(email)} is not an email address: {visible(str(exc), limit=160)}")
    if phone is not None:
        try:
            parsed = phonenumbers.parse(phone, None)
        except phonenumbers.NumberParseException:
            parsed = None
        if parsed is None or not phonenumbers.is_valid_number(parsed):
            problem(
                "phone", f"{quoted(phone)} is not a valid number in international form (+ and country code)"
            )
        else:
            phone = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    locale, time_zone = values["locale"], values["time_zone"]
    if locale is not None and not _is_locale(locale):
        problem("locale", f"{quoted(locale)} is not a language tag babel knows (en, de, pt-BR…)")
    if time_zone is not None and not _is_time_zone(time_zone):
        problem("time_zone", f"{quoted(time_zone)} is not an IANA time zone (Europe/Berlin, UTC…)")
    row = RecipientRow(external_id or "", email, phone, locale, time_zone, line)
    return row, problems


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str | None]]]:
    return records(path, columns=COLUMNS, aliases=ALIASES, required="id", what="recipients file")


def _slot(external_id: str) -> int:
    digest = hashlib.blake2b(external_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % _BITMAP_BITS


class Problems:
    """The first :data:`MAX_PROBLEMS` problems found, and how many more: a file whose every row is
    wrong must not fill memory with a million of them."""

    def __init__(self) -> None:
        self.kept: list[Problem] = []
        self.more = 0

    def extend(self, found: Sequence[Problem]) -> None:
        room = MAX_PROBLEMS - len(self.kept)
        self.kept.extend(found[:room])
        self.more += max(len(found) - room, 0)


def check_csv(path: Path) -> AudienceSummary:
    """Check every row of a recipients CSV: a summary, or :class:`InputError` naming every problem.

    Repeated ids are found in bounded memory: a fixed bitmap flags ids that may repeat, and a second
    read confirms the few candidates exactly. A file that cannot be read to its end (not UTF-8, a
    line too long) stops the check there, with the problems found before it.

    A file whose bytes this process has checked and passed before gets that summary again without
    its rows being checked again: staging checks an audience when it drafts and once more when it
    enqueues, and a million rows take seconds. The bytes are known by their digest, taken before
    and after the check; a summary is kept only when the two agree (the file did not change while
    it was read), and only for a file that passed.
    """
    before = _digest(path)
    if before is not None and (known := _PASSED.get(before)) is not None:
        return known
    summary = _check_csv(path)
    if before is not None and _digest(path) == before:
        _PASSED[before] = summary
        while len(_PASSED) > _PASSED_KEPT:
            del _PASSED[next(iter(_PASSED))]
    return summary


_PASSED: dict[bytes, AudienceSummary] = {}
"""Summaries of the files that passed :func:`check_csv`, by the digest of their bytes, oldest first."""
_PASSED_KEPT = 16


def _digest(path: Path) -> bytes | None:
    """The digest of a regular file's bytes; None for anything else (the check says what it is)."""
    try:
        with open(path, "rb", opener=_no_wait) as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return None
            return hashlib.file_digest(handle, "blake2b").digest()
    except OSError:
        return None


def _no_wait(name: str, flags: int) -> int:
    return os.open(name, flags | os.O_NONBLOCK)  # a FIFO is not waited on: it is refused above


def _check_csv(path: Path) -> AudienceSummary:
    source = display_path(path)
    rows, repeats = Problems(), Problems()
    seen = bytearray(_BITMAP_BITS // 8)
    candidates: set[str] = set()
    variants: set[tuple[str | None, str | None]] = set()
    count = 0
    try:
        for line, raw in _rows(path):
            count += 1
            row, found = check_row(raw, source=source, line=line)
            if found:
                rows.extend(found)
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
                external_id = _clean(raw.get("id"))
                if external_id not in candidates:
                    continue
                if external_id in first:
                    message = f"{quoted(external_id)} repeats the recipient on line {first[external_id]}"
                    repeats.extend([Problem(source, line, "id", message)])
                else:
                    first[external_id] = line
    except InputError as exc:
        raise_if([*rows.kept, *repeats.kept, *exc.problems], more=rows.more + repeats.more)
    raise_if([*rows.kept, *repeats.kept], more=rows.more + repeats.more)
    return AudienceSummary(count, frozenset(variants))


def raise_if(problems: list[Problem], *, more: int = 0) -> None:
    """Raise the problems kept, in line order, counting the ``more`` found beyond them."""
    if problems:
        problems.sort(key=lambda p: p.line or 0)
        raise InputError(problems, more=more)


_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def _in_normal_form(raw: dict[str, str | None], line: int) -> RecipientRow | None:
    """The row when every field is already in the form a full check would give it (no blank around
    a value, an E.164 phone, an address in normal form, a known locale and time zone); else None."""
    external_id = raw.get("id")
    if (
        not external_id
        or EXTRA in raw
        or len(external_id) > MAX_LENGTHS["id"]
        or external_id != external_id.strip()
    ):
        return None
    email, phone = raw.get("email") or None, raw.get("phone") or None
    locale, time_zone = raw.get("locale") or None, raw.get("time_zone") or None
    if (locale and len(locale) > MAX_LENGTHS["locale"]) or (
        time_zone and len(time_zone) > MAX_LENGTHS["time_zone"]
    ):
        return None
    text = ",".join(value for value in (external_id, email, phone, locale, time_zone) if value)
    if first_unsafe(text) is not None or "\t" in text or "\n" in text:
        return None
    if phone is not None and not _E164.fullmatch(phone):
        return None
    if locale is not None and not _is_locale(locale):
        return None
    if time_zone is not None and not _is_time_zone(time_zone):
        return None
    if email is not None:
        try:
            if normalized_email(email) != email:
                return None
        except EmailNotValidError:
            return None
    return RecipientRow(external_id, email, phone, locale, time_zone, line)


def read_csv(path: Path) -> Iterator[RecipientRow]:
    """Stream the rows of a recipients CSV already passed by :func:`check_csv`.

    Rows already in normal form are taken as they are, since the check validated them; anything
    else is checked again in full, so a file edited between the check and the import still cannot
    slip a bad row through (nor can it become unreadable: the same problems stop the import).
    """
    source = display_path(path)
    for line, raw in _rows(path):
        row = _in_normal_form(raw, line)
        if row is None:
            row, problems = check_row(raw, source=source, line=line)
            if problems:
                raise InputError(problems)
        yield row


def chunks(rows: Iterable[RecipientRow], size: int) -> Iterator[list[RecipientRow]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def copy_csv_to_table(engine: sa.Engine, path: Path, table: str, *, chunk: int = 5_000) -> int:
    """Create ``table`` (external_id, email, phone, locale, time_zone) from a recipients CSV,
    replacing what it held; the demo and the tests seed a playbook's SQL audience with it. Every row
    is checked first (:func:`check_csv`), so a bad file writes nothing; rows are then streamed in
    chunks, in one transaction. Returns the rows written."""
    check_csv(path)
    columns = [sa.Column(name, sa.Text) for name in ("external_id", "email", "phone", "locale", "time_zone")]
    target = sa.Table(table, sa.MetaData(), *columns)
    written = 0
    with engine.begin() as connection:
        target.drop(connection, checkfirst=True)
        target.create(connection)
        for batch in chunks(read_csv(path), chunk):
            connection.execute(
                target.insert(),
                [
                    {
                        "external_id": r.external_id,
                        "email": r.email,
                        "phone": r.phone,
                        "locale": r.locale,
                        "time_zone": r.time_zone,
                    }
                    for r in batch
                ],
            )
            written += len(batch)
    return written
