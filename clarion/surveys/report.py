"""What a survey's answers come to: the report of one incident, and the ratios the status page shows.

**The ratio.** Every answer counts once, as positive, negative, mixed or neutral: the polarity the
trust-signal tagger gave its free text when it has one; otherwise (no text) from its two scores, the
mean of "how well were you kept informed" and "do you trust us" at 4 or more being positive, at 2 or
less negative, else neutral. The ratio is positive answers ÷ negative ones (mixed and neutral count
in neither), and there is none when no answer is negative. An answer whose text the retention purge
removed keeps the polarity its text had, so purging never moves the ratio.

**Publishing.** :func:`published_ratios` gives the status page, for each resolved incident with at
least its playbook's ``survey.min_answers_to_publish`` answers, its (answered, positive, negative),
and the same over the answers of the last 90 days from those incidents only: a survey too small to
publish never leaks into the total, and a total below the smallest minimum is not given either.

Counts are aggregated in SQL (a survey may have tens of thousands of answers); only the quotes are
rows, a few per signal, from answers whose writer allowed quoting and whose text was not purged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from clarion.incidents.reports import inert
from clarion.models import Incident, Survey, SurveyFollowup, SurveyInvite, SurveyResponse, utcnow
from clarion.surveys.signals.tags import Polarity, Signal

SIGNALS = tuple(signal.value for signal in Signal)
"""The trust signals, in the order the report lists them."""
POLARITIES = tuple(polarity.value for polarity in Polarity)
SCORES = (1, 2, 3, 4, 5)
QUOTES_PER_SIGNAL = 3

_SUM = col(SurveyResponse.informed_score) + col(SurveyResponse.trust_score)
TONE = sa.case(
    (col(SurveyResponse.polarity).is_not(None), col(SurveyResponse.polarity)),
    (_SUM >= 8, "positive"),  # mean of the two scores >= 4
    (_SUM <= 4, "negative"),  # mean <= 2
    else_="neutral",
)
"""An answer's polarity for the ratio (see the module docstring), as SQL."""


def _counted(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return func.coalesce(func.sum(sa.case((condition, 1), else_=0)), 0)


def _tagged(signal: str) -> sa.ColumnElement[bool]:
    """Whether an answer's ``tags`` (a JSON list of names) holds ``signal``: portable SQL, no JSON
    functions; the quotes make ``"relief"`` match only the whole name."""
    return sa.cast(col(SurveyResponse.tags), sa.Text).contains(f'"{signal}"', autoescape=True)


@dataclass(frozen=True)
class ChannelRate:
    channel: str
    invited: int
    answered: int
    rate: float


@dataclass(frozen=True)
class SurveyReport:
    reference: str
    title: str
    opened_at: datetime | None
    closes_at: datetime | None
    closed: bool
    invited: int
    """Invitations sent (the survey's count: an erasure does not rewrite history)."""
    answered: int
    response_rate: float
    per_channel: list[ChannelRate]
    informed: dict[int, int]
    """Score 1..5 → answers, zeros included."""
    trust: dict[int, int]
    informed_mean: float | None
    trust_mean: float | None
    nps: int | None
    """Promoters (9–10) minus detractors (0–6), in percent of NPS answers: -100..100."""
    nps_answers: int
    signals: dict[str, int]
    """Every signal → answers tagged with it, zeros included."""
    polarity: dict[str, int]
    """Every answer under the polarity the ratio counts it as (the four sum to ``answered``)."""
    positive: int
    negative: int
    ratio: float | None
    """positive ÷ negative; None when no answer is negative."""
    quotes: dict[str, list[str]] = field(default_factory=dict)
    followups_open: int = 0
    followups_total: int = 0


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _mean(distribution: dict[int, int]) -> float | None:
    total = sum(distribution.values())
    return sum(k * n for k, n in distribution.items()) / total if total else None


def _half_up(value: float) -> int:
    """Rounded half away from zero (Python's ``round`` rounds 12.5 to 12)."""
    return int(abs(value) + 0.5) * (1 if value >= 0 else -1)


def survey_report(*, session: Session, incident: Incident, now: datetime | None = None) -> SurveyReport:
    """Every figure of ``incident``'s survey (``now``, the present by default, says whether it closed)."""
    assert incident.id is not None
    now = now or utcnow()
    survey = session.exec(select(Survey).where(Survey.incident_id == incident.id)).first()

    def answers(*columns: Any) -> sa.Select[Any]:
        return (
            sa.select(*columns)
            .select_from(SurveyResponse)
            .join(SurveyInvite, col(SurveyInvite.id) == SurveyResponse.invite_id)
            .where(col(SurveyInvite.incident_id) == incident.id)
        )

    def run(statement: sa.Select[Any]) -> sa.CursorResult[*tuple[Any, ...]]:
        return session.connection().execute(statement)

    def distribution(column: Any) -> dict[int, int]:
        rows = run(answers(column, func.count()).group_by(column))
        return {**dict.fromkeys(SCORES, 0), **{int(score): int(n) for score, n in rows}}

    per_channel = [
        ChannelRate(str(channel), int(invited), int(answered or 0), _share(int(answered or 0), int(invited)))
        for channel, invited, answered in session.exec(
            select(
                SurveyInvite.channel,
                func.count(),
                _counted(col(SurveyInvite.responded_at).is_not(None)),
            )
            .where(SurveyInvite.incident_id == incident.id)
            .group_by(SurveyInvite.channel)
            .order_by(SurveyInvite.channel)
        )
    ]
    informed, trust = distribution(SurveyResponse.informed_score), distribution(SurveyResponse.trust_score)
    answered = sum(informed.values())
    nps = col(SurveyResponse.nps)
    nps_answers, promoters, detractors = run(
        answers(func.count(nps), _counted(nps >= 9), _counted(nps <= 6))
    ).one()
    tagged = run(answers(*(_counted(_tagged(s)) for s in SIGNALS))).one()
    tones = dict.fromkeys(POLARITIES, 0)
    for tone, n in run(answers(TONE, func.count()).group_by(TONE)):
        tones[tone if tone in tones else "neutral"] += int(n)
    positive, negative = tones["positive"], tones["negative"]
    followups_total, followups_open = session.exec(
        select(func.count(), _counted(col(SurveyFollowup.closed_at).is_(None))).where(
            SurveyFollowup.incident_id == incident.id
        )
    ).one()
    invited = max(survey.invited if survey is not None else 0, sum(c.invited for c in per_channel))
    return SurveyReport(
        reference=incident.reference,
        title=incident.title,
        opened_at=survey.opened_at if survey else None,
        closes_at=survey.closes_at if survey else None,
        closed=survey is not None and (survey.closed_at is not None or survey.closes_at <= now),
        invited=invited,
        answered=answered,
        response_rate=_share(answered, invited),
        per_channel=per_channel,
        informed=informed,
        trust=trust,
        informed_mean=_mean(informed),
        trust_mean=_mean(trust),
        nps=_half_up(100 * (int(promoters) - int(detractors)) / nps_answers) if nps_answers else None,
        nps_answers=int(nps_answers),
        signals={s: int(n) for s, n in zip(SIGNALS, tagged, strict=True)},
        polarity=tones,
        positive=positive,
        negative=negative,
        ratio=positive / negative if negative else None,
        quotes=_quotes(session, incident.id),
        followups_open=int(followups_open),
        followups_total=int(followups_total),
    )


def _quotes(session: Session, incident_id: int) -> dict[str, list[str]]:
    """Up to :data:`QUOTES_PER_SIGNAL` texts per signal, oldest first, that their writers let us quote."""
    quotes: dict[str, list[str]] = {}
    for signal in SIGNALS:
        texts = session.exec(
            select(SurveyResponse.free_text)
            .join(SurveyInvite, col(SurveyInvite.id) == SurveyResponse.invite_id)
            .where(
                SurveyInvite.incident_id == incident_id,
                col(SurveyResponse.quote_allowed).is_(True),
                col(SurveyResponse.free_text).is_not(None),
                col(SurveyResponse.purged_at).is_(None),
                _tagged(signal),
            )
            .order_by(col(SurveyResponse.created_at), col(SurveyResponse.id))
            .limit(QUOTES_PER_SIGNAL)
        )
        quotes[signal] = [t for t in texts if t]
    return quotes


# ── for people and machines ─────────────────────────────────────────────────────────────────────


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment is not None else "-"


def counted(count: int, noun: str) -> str:
    """``1 answer``, ``2 answers``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _percent(share: float) -> str:
    return f"{share * 100:.0f} %"


def ratio_text(positive: int, negative: int) -> str:
    """``3.5 : 1``, or what stands for it when no answer was negative (never a division by zero)."""
    if not negative:
        return "no negative answers"
    places = Decimal("0.1") if positive >= negative else Decimal("0.01")
    return f"{(Decimal(positive) / Decimal(negative)).quantize(places, rounding=ROUND_HALF_UP)} : 1"


def report_markdown(report: SurveyReport) -> str:
    """The report as Markdown (the CLI, the Prefect artifact); what people wrote is made inert."""
    r = report
    lines = [f"# {r.reference} survey: {inert(r.title)}", ""]
    if r.opened_at is None:
        lines += ["No survey was sent for this incident.", ""]
    else:
        state = "closed" if r.closed else "open"
        lines += [f"Sent {_when(r.opened_at)}; links expire {_when(r.closes_at)} ({state}).", ""]
    lines += [
        f"**{r.answered} of {r.invited} answered ({_percent(r.response_rate)}).** Positive to negative: "
        f"{ratio_text(r.positive, r.negative)} ({r.positive} positive, {r.negative} negative).",
        "",
        f"Kept informed: mean {_mean_text(r.informed_mean)} of 5. "
        f"Trust: mean {_mean_text(r.trust_mean)} of 5. "
        + (
            f"NPS {r.nps:+d} ({counted(r.nps_answers, 'answer')})."
            if r.nps is not None
            else "No NPS answers."
        ),
        "",
        f"Follow-ups: {r.followups_open} open of {r.followups_total}.",
        "",
        "## Answers by channel",
        "",
        "| channel | invited | answered | rate |",
        "|---|--:|--:|--:|",
        *(f"| {c.channel} | {c.invited} | {c.answered} | {_percent(c.rate)} |" for c in r.per_channel),
        "",
        "## Scores",
        "",
        "| score | kept informed | trust |",
        "|--:|--:|--:|",
        *(f"| {s} | {r.informed[s]} | {r.trust[s]} |" for s in SCORES),
        "",
        "## Polarity",
        "",
        "| polarity | answers |",
        "|---|--:|",
        *(f"| {p} | {r.polarity[p]} |" for p in POLARITIES),
        "",
        "## Trust signals",
        "",
        "| signal | answers |",
        "|---|--:|",
        *(f"| {s.replace('_', ' ')} | {r.signals[s]} |" for s in SIGNALS),
    ]
    quoted = [(s, q) for s in SIGNALS for q in r.quotes.get(s, [])]
    if quoted:
        lines += ["", "## Quotes (their writers allowed it)"]
        for signal in SIGNALS:
            if r.quotes.get(signal):
                lines += ["", f"### {signal.replace('_', ' ').capitalize()}"]
                for text in r.quotes[signal]:
                    lines += ["", f"> {inert(text)}"]
    return "\n".join(lines).rstrip() + "\n"


def _mean_text(mean: float | None) -> str:
    return f"{mean:.1f}" if mean is not None else "-"


def report_json(report: SurveyReport) -> dict[str, Any]:
    """The report as JSON-ready data: times in ISO 8601, score keys as strings."""
    data = asdict(report)
    for name in ("opened_at", "closes_at"):
        data[name] = data[name].isoformat() if data[name] is not None else None
    for name in ("informed", "trust"):
        data[name] = {str(k): v for k, v in data[name].items()}
    return data


# ── the status page ─────────────────────────────────────────────────────────────────────────────


class Tally(NamedTuple):
    answered: int
    positive: int
    negative: int


@dataclass(frozen=True)
class PublishedRatios:
    """What the status page may show: per incident (by reference) and over the last ``window``."""

    incidents: dict[str, Tally] = field(default_factory=dict)
    recent: Tally | None = None
    window: timedelta = timedelta(days=90)


def _tallies(session: Session, *where: sa.ColumnElement[bool]) -> list[tuple[int, str, str, Tally]]:
    """(incident id, reference, playbook, tally) of each resolved incident with answers matching ``where``."""
    rows = session.connection().execute(
        sa.select(
            col(Incident.id),
            col(Incident.reference),
            col(Incident.playbook),
            func.count(),
            _counted(TONE == "positive"),
            _counted(TONE == "negative"),
        )
        .join(SurveyInvite, col(SurveyInvite.incident_id) == Incident.id)
        .join(SurveyResponse, col(SurveyResponse.invite_id) == SurveyInvite.id)
        .where(col(Incident.resolved_at).is_not(None), *where)
        .group_by(col(Incident.id), col(Incident.reference), col(Incident.playbook))
    )
    return [(int(i or 0), ref, book, Tally(int(a), int(p), int(n))) for i, ref, book, a, p, n in rows]


def published_ratios(
    *,
    session: Session,
    now: datetime,
    window: timedelta = timedelta(days=90),
    minimum_for: Callable[[str], int],
) -> PublishedRatios:
    """The ratios the status page may publish at ``now`` (answers given after it do not count yet)."""
    created = col(SurveyResponse.created_at)
    minimums: dict[int, int] = {}
    incidents: dict[str, Tally] = {}
    for incident_id, reference, playbook, tally in _tallies(session, created <= now):
        minimum = minimum_for(playbook)
        if tally.answered >= minimum:
            minimums[incident_id] = minimum
            incidents[reference] = tally
    recent = {
        i: t
        for i, _ref, _book, t in _tallies(session, created <= now, created > now - window)
        if i in minimums
    }
    total = Tally(*(sum(column) for column in zip(*recent.values(), strict=True))) if recent else None
    if total is not None and total.answered < min(minimums[i] for i in recent):
        total = None  # a few answers of big old surveys: as small as a survey too small to publish
    return PublishedRatios(incidents, total, window)
