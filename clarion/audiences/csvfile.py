"""Stream a CSV file a person named, row by row, with every failure a problem at its line.

A recipients file may hold a million rows, so it is never read whole; and it may be anything at all:
another program's file (``/etc/passwd``), a spreadsheet saved as latin-1 or UTF-16, a field of a
megabyte, a line that never ends, a FIFO or ``/dev/zero``. :func:`records` opens it through
:func:`clarion.files.inputfile.open_text` (regular UTF-8 files only), reads it one bounded line at a time,
and turns what would be a traceback, a hang or a MemoryError into one :class:`~clarion.errors.Problem`
naming the file and the line:

* a header row is required; every name in it must be a known column (or one of its aliases), and
  no column may be named twice, since the later one would silently win;
* a line longer than :data:`MAX_LINE` characters, a field over the ``csv`` module's limit, text
  that is not UTF-8: the line where reading stopped.

Nothing the file holds is echoed beyond a short :func:`~clarion.files.text.quoted` value: an error about
a file that turns out not to be a CSV of ours must not print its contents.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO

from clarion.errors import InputError, Problem, display_path
from clarion.files.inputfile import decode_problem, open_text
from clarion.files.text import quoted, visible

MAX_LINE = 1 << 16
"""The longest line read (64 Ki characters): a recipient's row is well under 1 KiB."""

EXTRA = "\0extra"
"""The key under which a row carries the fields beyond the header's (the header's names never hold NUL)."""

_SHOWN_NAMES = 3


def records(
    path: Path, *, columns: Iterable[str], aliases: Mapping[str, str], required: str, what: str
) -> Iterator[tuple[int, dict[str, str | None]]]:
    """``(line, {column: value})`` for every row after the header; a missing trailing field is None.

    Raises :class:`InputError` for an unreadable file, a bad header (before any row) and, while
    streaming, for the first line that cannot be read; a row with more fields than the header
    carries them under :data:`EXTRA`, for the caller to report with the row's other problems.
    """
    source = display_path(path)
    handle = open_text(path, what=what)
    with handle:
        reader = csv.reader(_bounded_lines(handle, source))
        try:
            header = next(reader, None)
            if header is None:
                raise InputError([Problem(source, 1, "", "empty file: expected a header row")])
            names = header_names(
                header,
                source=source,
                line=reader.line_num,
                columns=columns,
                aliases=aliases,
                required=required,
            )
            width = len(names)
            for fields in reader:
                if not fields:  # a blank line
                    continue
                row: dict[str, str | None] = dict(zip(names, fields, strict=False))
                if len(fields) < width:
                    row.update((name, None) for name in names[len(fields) :])
                elif len(fields) > width:
                    row[EXTRA] = f"{len(fields)} fields, the header names {width}"
                yield reader.line_num, row
        except UnicodeDecodeError:
            raise InputError([_undecodable(path, after=reader.line_num)]) from None
        except csv.Error as exc:
            line = reader.line_num or 1
            raise InputError(
                [Problem(source, line, "", f"cannot be read as CSV: {_csv_reason(exc)}")]
            ) from None
        except OSError as exc:
            reason = f"cannot read the {what}: {exc.strerror or type(exc).__name__}"
            raise InputError([Problem(source, reader.line_num or None, "", reason)]) from None


def header_names(
    header: list[str],
    *,
    source: str,
    line: int | None,
    columns: Iterable[str],
    aliases: Mapping[str, str],
    required: str,
) -> list[str]:
    """The header's column names (aliases resolved), or :class:`InputError` naming the unknown, the
    repeated and the missing required ones."""
    known = tuple(columns)
    names = [aliases.get(cell.strip(), cell.strip()) for cell in header]
    unknown = [cell for cell, name in zip(header, names, strict=True) if name not in known]
    problems: list[Problem] = []
    if len(unknown) == len(header):
        shown = quoted(header[0], limit=20)
        problems.append(
            Problem(
                source,
                line,
                "header",
                f"names none of the columns {', '.join(known)} (the first is {shown}): "
                "is this the right file?",
            )
        )
    elif unknown:
        listed = ", ".join(quoted(cell, limit=24) for cell in unknown[:_SHOWN_NAMES])
        more = f" and {len(unknown) - _SHOWN_NAMES} more" if len(unknown) > _SHOWN_NAMES else ""
        problems.append(
            Problem(source, line, "header", f"unknown column {listed}{more}; columns are {', '.join(known)}")
        )
    if len(unknown) < len(header) and required not in names:
        problems.append(Problem(source, line, "header", f"the {required!r} column is required"))
    for name in known:
        positions = [index for index, found in enumerate(names, start=1) if found == name]
        if len(positions) > 1:
            spelled = " and ".join(
                f"{position} ({quoted(header[position - 1].strip(), limit=24)})" for position in positions
            )
            problems.append(
                Problem(
                    source,
                    line,
                    "header",
                    f"column {name!r} is named {len(positions)} times, in columns {spelled}: name it once",
                )
            )
    if problems:
        raise InputError(problems)
    return names


def _bounded_lines(handle: IO[str], source: str) -> Iterator[str]:
    """The file's lines, each at most :data:`MAX_LINE` characters (the csv module takes them whole)."""
    number = 0
    while line := handle.readline(MAX_LINE + 1):
        number += 1
        if len(line) > MAX_LINE:
            message = f"the line is longer than {MAX_LINE:,} characters: is this the right file?"
            raise InputError([Problem(source, number, "", message)])
        yield line


def _csv_reason(exc: csv.Error) -> str:
    text = str(exc)
    if "field larger than field limit" in text:
        return f"a field is longer than {csv.field_size_limit():,} characters"
    return visible(text.split("\n", 1)[0], limit=120)


def _undecodable(path: Path, *, after: int) -> Problem:
    """Where a file stops being UTF-8: found again from the start in bytes, one bounded line at a time.

    The text layer decodes ahead of the csv reader, so the reader's line is not the bad byte's.
    """
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    number, line_start = 0, True
    try:
        with path.open("rb") as handle:
            while piece := handle.readline(MAX_LINE):
                number += line_start
                line_start = piece.endswith(b"\n")
                try:
                    decoder.decode(piece)
                except UnicodeDecodeError as exc:
                    found = decode_problem(path, exc.object, exc, offset=1)
                    return dataclasses.replace(found, line=number)
    except OSError:
        pass
    return Problem(display_path(path), after + 1, "", "not UTF-8 text: save the file as UTF-8")
