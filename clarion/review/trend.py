"""The trend across incidents: one row of headline figures per incident declared in a window, and
their medians, so a team sees whether it gets faster to first word and keeps more of its promises.

Each row comes from the same :func:`clarion.review.figures.review` as the incident's own report.
A median is over the incidents that have the figure (an incident with no promise due yet has no
share of promises kept); it is None when none has it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from clarion.incidents.reports import inert
from clarion.models import Incident
from clarion.review.figures import Review, median, review
from clarion.review.headline import duration, percent, when


@dataclass(frozen=True)
class TrendRow:
    reference: str
    title: str
    declared_at: datetime
    status: str
    first_word: timedelta | None
    promises_due: int
    promises_kept: int
    kept_share: float | None
    worst_late_by: timedelta | None
    audience: int
    reach_share: float | None
    stages_late_or_missed: int
    commitments_overdue: int


@dataclass(frozen=True)
class Trend:
    since: datetime
    until: datetime
    rows: list[TrendRow]
    median_first_word: timedelta | None
    median_kept_share: float | None
    median_reach_share: float | None


def row_of(r: Review) -> TrendRow:
    stages = r.stage_counts()
    return TrendRow(
        reference=r.reference,
        title=r.title,
        declared_at=r.declared_at,
        status=r.status,
        first_word=r.first_word.after,
        promises_due=r.promises.due,
        promises_kept=r.promises.kept,
        kept_share=r.promises.share,
        worst_late_by=r.promises.worst_late_by,
        audience=r.reach.audience,
        reach_share=r.reach.share,
        stages_late_or_missed=stages["late"] + stages["missed"],
        commitments_overdue=r.commitments.overdue,
    )


def _middle(values: Sequence[float | None]) -> float | None:
    known = sorted(v for v in values if v is not None)
    if not known:
        return None
    middle = len(known) // 2
    return known[middle] if len(known) % 2 else (known[middle - 1] + known[middle]) / 2


def trend(*, session: Session, window: timedelta, now: datetime) -> Trend:
    """Every incident declared in the ``window`` before ``now``, oldest first, with the medians."""
    since = now - window
    incidents = session.exec(
        select(Incident)
        .where(col(Incident.declared_at) >= since, col(Incident.declared_at) <= now)
        .order_by(col(Incident.declared_at), col(Incident.id))
    )
    rows = [row_of(review(session=session, incident=incident, now=now)) for incident in incidents]
    firsts = [r.first_word for r in rows if r.first_word is not None]
    return Trend(
        since=since,
        until=now,
        rows=rows,
        median_first_word=median(firsts) if firsts else None,
        median_kept_share=_middle([r.kept_share for r in rows]),
        median_reach_share=_middle([r.reach_share for r in rows]),
    )


def trend_markdown(t: Trend) -> str:
    """The trend as a Markdown table, the medians under it."""
    lines = [
        f"# Post-incident trend: incidents declared {when(t.since)} to {when(t.until)}",
        "",
    ]
    if not t.rows:
        return "\n".join([*lines, "No incident was declared in that window."]) + "\n"
    lines += [
        "| incident | title | declared | first word | promises kept | worst lateness | reach "
        "| stages late or missed | commitments overdue |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for r in t.rows:
        kept = f"{r.promises_kept} of {r.promises_due} ({percent(r.kept_share)})" if r.promises_due else "-"
        reach = f"{percent(r.reach_share)} of {r.audience}" if r.audience else "-"
        lines.append(
            f"| {r.reference} | {inert(r.title)} | {when(r.declared_at)} | {duration(r.first_word)} "
            f"| {kept} | {duration(r.worst_late_by)} | {reach} | {r.stages_late_or_missed} "
            f"| {r.commitments_overdue} |"
        )
    lines += [
        "",
        f"Medians over {len(t.rows)} incidents: first word {duration(t.median_first_word)}, "
        f"promises kept {percent(t.median_kept_share)}, reach {percent(t.median_reach_share)}.",
    ]
    return "\n".join(lines) + "\n"
