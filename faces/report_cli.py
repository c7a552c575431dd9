"""``clarion report``: an incident's post-incident report, or the trend across recent incidents.

``clarion report INC-0042 [--format md|html|json|pdf] [--out FILE]`` prints the report
(:mod:`clarion.review`) as Markdown by default; a PDF is written to ``--out`` or to
``INC-0042-report.pdf`` in the current folder, and its path printed. ``clarion report --since 90d
[--format md|json]`` gives one row of headline figures per incident declared in that window, and
their medians. Figures come from the store, as of the incident's clock (the demo's runs faster).
Heavy modules are imported inside the command.
"""

from __future__ import annotations

import json
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from faces.console import CommandRefused, err, errors_to_exit, out


class Format(StrEnum):
    MD = "md"
    HTML = "html"
    JSON = "json"
    PDF = "pdf"


def report(
    reference: Annotated[
        str | None, typer.Argument(help='The incident, e.g. "INC-0042" (or --since for the trend).')
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="The trend across incidents declared in this window: 30d, 12w…"),
    ] = None,
    form: Annotated[Format, typer.Option("--format", help="md (default), html, json or pdf.")] = Format.MD,
    to: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write it to this file (a PDF always goes to a file).")
    ] = None,
) -> None:
    """The post-incident report of an incident (first word, promises, reach, deadlines, survey,
    commitments), or with --since the trend across incidents."""
    with errors_to_exit():
        if (reference is None) == (since is None):
            raise CommandRefused("name an incident (clarion report INC-0042) or a window (--since 90d)")
        if since is not None:
            _trend(since, form, to)
            return
        assert reference is not None
        _one(reference, form, to)


def _window(since: str) -> timedelta:
    from clarion.durations import parse_duration

    try:
        window: timedelta = parse_duration(since)
    except ValueError as exc:
        raise CommandRefused(f"--since: {exc}") from None
    return window


def _trend(since: str, form: Format, to: Path | None) -> None:
    from sqlmodel import Session

    from clarion.models import utcnow
    from clarion.review.jsonform import to_json
    from clarion.review.trend import trend, trend_markdown
    from clarion.store import get_engine, reading, require_current

    if form not in (Format.MD, Format.JSON):
        raise CommandRefused("--since gives the trend as md or json")
    window = _window(since)
    with reading(require_current(get_engine())) as connection, Session(bind=connection) as session:
        found = trend(session=session, window=window, now=utcnow())
    text = json.dumps(to_json(found), indent=2) + "\n" if form is Format.JSON else trend_markdown(found)
    _give(text.encode(), to)


def _one(reference: str, form: Format, to: Path | None) -> None:
    from sqlmodel import Session

    from clarion.errors import NotFound
    from clarion.incidents.clock import IncidentClock
    from clarion.review.figures import review
    from clarion.settings import get_settings
    from clarion.store import exists, get_engine, get_incident, reading, require_current
    from faces.incident_checks import checked_reference

    checked_reference(reference)
    if not exists():
        raise NotFound("incident", reference)  # no store yet: nothing was declared here
    with reading(require_current(get_engine())) as connection, Session(bind=connection) as session:
        incident = get_incident(session=session, reference=reference)
        scale = get_settings().time_scale
        now = IncidentClock(incident.declared_at, scale).now()
        found = review(session=session, incident=incident, now=now, time_scale=scale)
    if form is Format.PDF:
        from clarion.review.pdf import review_pdf

        path = to or Path.cwd() / f"{reference}-report.pdf"
        _write(path, review_pdf(found))
        out.print(str(path), markup=False)
        return
    if form is Format.HTML:
        from clarion.review.page import review_page

        _give(review_page(found), to)
    elif form is Format.JSON:
        from clarion.review.jsonform import to_json

        _give((json.dumps(to_json(found), indent=2) + "\n").encode(), to)
    else:
        from clarion.review.markdown import review_markdown

        _give(review_markdown(found).encode(), to)


def _give(data: bytes, to: Path | None) -> None:
    """Print ``data`` (escaped by the console), or write it to ``to`` and say where."""
    if to is None:
        out.print(data.decode(), markup=False, end="")
        return
    _write(to, data)
    err.print(f"written to {to}", markup=False)


def _write(path: Path, data: bytes) -> None:
    from clarion.errors import InputError, Problem, display_path

    try:
        path.write_bytes(data)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputError([Problem(display_path(path), None, "--out", f"cannot write: {reason}")]) from None
