"""The report's headline in words: one line per figure, the same in Markdown, on the page, in the PDF
and in what the demo prints, so no two of them can tell a figure differently."""

from __future__ import annotations

from datetime import datetime, timedelta

from clarion.incidents.reports import time_left
from clarion.review.figures import Review
from clarion.surveys.report import counted, ratio_text


def percent(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.0f} %"


def duration(span: timedelta | None) -> str:
    """``0h 40m``, ``-3h 00m``, ``2d 4h``; ``-`` for none (:func:`clarion.incidents.reports.time_left`);
    under a minute in seconds (``22 s``), so a fast first word does not read as ``0h 00m``."""
    if span is not None and abs(span) < timedelta(minutes=1):
        seconds = round(span.total_seconds())
        return f"{seconds} s"
    return time_left(span)


def when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment is not None else "-"


def mean(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def first_word(r: Review) -> str:
    if r.first_word.after is None:
        return "no message accepted by a provider yet"
    return f"{duration(r.first_word.after)} (first message accepted {when(r.first_word.first_at)})"


def promises(r: Review) -> str:
    p = r.promises
    if not p.due:
        return "no promise due yet"
    worst = f", worst lateness {duration(p.worst_late_by)}" if p.worst_late_by is not None else ""
    return f"{p.kept} of {p.due} ({percent(p.share)}){worst}"


def reach(r: Review) -> str:
    a = r.reach
    return (
        f"{a.reached} of {counted(a.audience, 'affected recipient')} ({percent(a.share)}) "
        "received at least one message"
    )


def deadlines(r: Review) -> str:
    if not r.stages:
        return "no regulatory clock ran"
    return ", ".join(f"{n} {outcome}" for outcome, n in r.stage_counts().items())


def commitments(r: Review) -> str:
    c = r.commitments
    if not c.total:
        return "none made"
    return (
        f"{c.total}: {c.shipped_on_time} shipped on time, {c.shipped_late} shipped late, "
        f"{c.dropped} dropped, {c.open} open ({c.overdue} overdue)"
    )


def survey(r: Review) -> str:
    s = r.survey
    if s is None:
        return "no survey ran"
    return (
        f"{s.answered} of {s.invited} answered; kept informed {mean(s.informed_mean)} of 5, "
        f"trust {mean(s.trust_mean)} of 5; positive to negative {ratio_text(s.positive, s.negative)}"
    )


def headline(r: Review) -> list[tuple[str, str]]:
    """(figure, what it says) in the order the report gives them."""
    return [
        ("Time to first word", first_word(r)),
        ("Promises kept", promises(r)),
        ("Reach", reach(r)),
        ("Deadlines", deadlines(r)),
        ("Commitments", commitments(r)),
        ("Survey", survey(r)),
    ]
