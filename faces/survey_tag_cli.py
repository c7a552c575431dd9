"""``clarion survey tag``: trust signals in survey answers, from the command line.

Answers come as arguments or as a CSV file (``--file answers.csv``, the answer in ``--column``,
``text`` by default; a ``locale`` column, where there is one, wins over ``--locale`` row by row).
Every row is checked before anything is tagged: a wrong file prints nothing but its problems, each
naming file, line and column (exit 2). Blank answers are skipped.

The default output is a table for a person; ``--json`` prints one object per answer per line, for a
program. The JSON carries where the answer came from (``line`` of the file, or ``argument``) and not
the answer itself: output meant to be piped on should not copy customers' words further than it
must; the cues are the few words that explain each tag. Heavy modules are imported inside the command.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from faces.console import errors_to_exit

if TYPE_CHECKING:
    from clarion.surveys.signals import Tagged

_LOCALE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")
_SHOWN = 60
"""Characters of an answer the table shows."""


def tag(
    texts: Annotated[
        list[str] | None, typer.Argument(help="Answers to tag, each one argument.", show_default=False)
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="A CSV file of answers, with a header row.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object per answer per line.")] = False,
    locale: Annotated[
        str, typer.Option("--locale", help="The answers' language: en or de (others are read as en).")
    ] = "en",
    column: Annotated[str, typer.Option("--column", help="The CSV column that holds the answer.")] = "text",
) -> None:
    """Tag survey answers with trust signals (doubt, cynicism, relief, regained confidence,
    appreciation), a polarity and whether they ask to be contacted; each tag names its words."""
    with errors_to_exit():
        from clarion.files.text import quoted
        from clarion.surveys.signals import LexiconTagger
        from faces.console import EXIT_INPUT, fail

        if not _LOCALE.fullmatch(locale):
            shown = quoted(locale, limit=20)
            raise fail(f"--locale: {shown} is not a language tag such as en or de", EXIT_INPUT)
        if file is not None and texts:
            raise fail("give answers as arguments or --file, not both", EXIT_INPUT)
        if file is None and not texts:
            raise fail("nothing to tag: give answers as arguments or --file answers.csv", EXIT_INPUT)
        if file is not None:
            answers = _from_file(file, column, locale)
            where = "line"
        else:
            answers = [(n, text, locale) for n, text in enumerate(texts or [], start=1) if text.strip()]
            where = "argument"
        tagger = LexiconTagger()
        tagged = [(n, text, used, tagger.tag(text, used)) for n, text, used in answers]
        if json_out:
            _print_json(tagged, where)
        else:
            _print_table(tagged, where)


def _from_file(path: Path, column: str, locale: str) -> list[tuple[int, str, str]]:
    """``(line, answer, locale)`` of every row with an answer; every bad row a problem, all at once."""
    from clarion.audiences.csvfile import EXTRA, records
    from clarion.errors import InputError, Problem, display_path
    from clarion.files.text import quoted

    source = display_path(path)
    header = _header(path)
    columns = tuple(dict.fromkeys([*header, column, "locale"]))
    rows: list[tuple[int, str, str]] = []
    problems: list[Problem] = []
    for line, row in records(path, columns=columns, aliases={}, required=column, what="answers file"):
        if EXTRA in row:
            problems.append(Problem(source, line, "", str(row[EXTRA])))
            continue
        text = row.get(column)
        if text is None:
            problems.append(
                Problem(source, line, column, "missing: the row has fewer fields than the header")
            )
            continue
        used = (row.get("locale") or "").strip() or locale
        if not _LOCALE.fullmatch(used):
            problems.append(
                Problem(
                    source, line, "locale", f"{quoted(used, limit=20)} is not a language tag such as en or de"
                )
            )
            continue
        if text.strip():
            rows.append((line, text, used))
    if problems:
        raise InputError(problems)
    return rows


def _header(path: Path) -> list[str]:
    """The names in the file's header row, so that columns other than the answer's are allowed; none
    when it cannot be read (then reading the file proper says why, with its line)."""
    import csv

    from clarion.audiences.csvfile import MAX_LINE
    from clarion.errors import InputError
    from clarion.files.inputfile import open_text

    try:
        with open_text(path, what="answers file") as handle:
            first = handle.readline(MAX_LINE + 1)
    except (InputError, OSError, UnicodeDecodeError):
        return []
    return [cell.strip() for cell in next(csv.reader([first]), [])]


def _print_json(tagged: list[tuple[int, str, str, Tagged]], where: str) -> None:
    import json

    for n, _text, used, result in tagged:
        # ASCII escapes: a bidirectional override in an answer cannot reach the terminal raw
        typer.echo(json.dumps({where: n, "locale": used, **result.to_json()}, ensure_ascii=True))


def _print_table(tagged: list[tuple[int, str, str, Tagged]], where: str) -> None:
    from rich.table import Column, Table
    from rich.text import Text

    from clarion.files.text import visible
    from faces.console import out

    table = Table(
        Column(where, no_wrap=True, justify="right"),
        Column("answer", overflow="fold"),
        Column("signals", overflow="fold"),
        Column("polarity", no_wrap=True),
        Column("contact", no_wrap=True),
        Column("cues", overflow="fold"),
    )
    for n, text, _used, result in tagged:
        cues = "; ".join(
            f"{c.tag}: {c.cue}"
            + (f" (negated by {c.negated_by})" if c.negated_by else "")
            + (f" ({c.intensified_by})" if c.intensified_by else "")
            for c in result.cues
        )
        table.add_row(
            Text(str(n)),
            Text(visible(" ".join(text.split()), limit=_SHOWN)),
            Text(", ".join(s.value for s in result.signals) or "–"),
            Text(result.polarity.value),
            Text("yes" if result.contact else "no"),
            Text(cues or "–"),
        )
    out.print(table)
    out.print(f"{len(tagged)} answers tagged", markup=False)
