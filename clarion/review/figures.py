"""Every figure of an incident's post-incident report, computed from the store as of a moment.

**Time to first word**: from awareness (``aware_at``) to the first message of one of the incident's
updates a provider accepted (the earliest ``Delivery.accepted_at``), and per channel to its first
such message. Served channels (the status page, the banner) send nobody anything: they count from
the publication of the first update, when they began to show it.

**Promises kept**: every published update's ``next_update_by`` is a promise, kept when the next
published update (any kind, holding statements included) came at or before it. Only promises that
are due count: those the resolution and later updates made are left out (nobody waits for another
update then), and so is one still in the future that no update has answered yet. A broken promise
is late by the time until the next update came (until now, when none came yet); the worst is kept.

**Reach**: the affected audience is the distinct recipients the incident's updates were addressed
to (suppressed messages included); reached are those with at least one message accepted or delivered.
Per channel, the same two figures and the messages by state, and each person reached counted once,
under the channel that reached them (a delivered message before one only accepted, then a must-reach
fallback before the message it replaced), with how many a fallback reached.

**Approvals**: per role, how long a decision took, from the request (the update's draft time) to
the decision: how many, the median, the longest.

**Regulatory stages**: each started clock as met (on time), late (met after its due time), waived,
missed (past due, not met) or open, with its margin: due minus met, negative when late; for a clock
not met, due minus now.

**Survey**: the headline of :func:`clarion.surveys.report.survey_report`, when a survey ran.

**Commitments**: shipped on time (on or before the day due, UTC), shipped late, dropped, and the
open ones (planned or in progress), of which overdue: past the end of their day due.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from clarion.channel_table import Reach, spec_of
from clarion.incidents.clock import IncidentClock
from clarion.kinds import Channel, CommitmentState, DeadlineState, DeliveryState, UpdateState
from clarion.models import Approval, Commitment, Deadline, Delivery, Incident, Rendition, Update
from clarion.review.records import (
    OUTCOMES,
    ChannelFirst,
    ChannelReach,
    Commitments,
    FirstWord,
    Promise,
    Promises,
    Reached,
    Review,
    RoleApprovals,
    StageOutcome,
    SurveyFigures,
)
from clarion.surveys.report import survey_report

__all__ = [
    "OUTCOMES",
    "REACHED",
    "ChannelFirst",
    "ChannelReach",
    "Commitments",
    "FirstWord",
    "Promise",
    "Promises",
    "Reached",
    "Review",
    "RoleApprovals",
    "StageOutcome",
    "SurveyFigures",
    "median",
    "promises_of",
    "review",
    "stage_outcome",
]

REACHED = (DeliveryState.ACCEPTED, DeliveryState.DELIVERED)
"""A recipient with a message in one of these states received it."""

# ── computing them (the dataclasses are in clarion.review.records) ────────────────────────────────


def review(*, session: Session, incident: Incident, now: datetime, time_scale: float = 1.0) -> Review:
    """Every figure of ``incident``'s report as of ``now`` (the incident's clock).

    ``time_scale``: the incident's clock ran that much faster than the wall clock (a demo). Promises
    are times on the incident's clock while publications are wall-clock times, so each promise is
    compared at the wall-clock moment its time showed (:meth:`IncidentClock.wall`)."""
    assert incident.id is not None
    published = list(
        session.exec(
            select(Update)
            .where(Update.incident_id == incident.id, Update.state == UpdateState.PUBLISHED)
            .where(col(Update.published_at).is_not(None))
            .order_by(col(Update.published_at), col(Update.number))
        )
    )
    updates = select(Update.id).where(Update.incident_id == incident.id).scalar_subquery()
    of_incident = col(Delivery.update_id).in_(updates)
    return Review(
        reference=incident.reference,
        title=incident.title,
        playbook=incident.playbook,
        severity=incident.severity,
        status=incident.status.value,
        aware_at=incident.aware_at,
        declared_at=incident.declared_at,
        resolved_at=incident.resolved_at,
        as_of=now,
        updates=len(published),
        first_word=_first_word(session, incident, published, of_incident),
        promises=promises_of(
            published,
            resolved_at=incident.resolved_at,
            now=now,
            wall=IncidentClock(incident.declared_at, time_scale).wall,
        ),
        reach=_reach(session, of_incident),
        approvals=_approvals(session, incident.id),
        stages=_stages(session, incident.id, now),
        survey=_survey(session, incident, now),
        commitments=_commitments(session, incident.id, now),
    )


def _channel_order(channel: str) -> int:
    names = [c.value for c in Channel]
    return names.index(channel) if channel in names else len(names)


def _first_word(
    session: Session, incident: Incident, published: list[Update], of_incident: sa.ColumnElement[bool]
) -> FirstWord:
    accepted: dict[Channel, datetime] = {
        Channel(channel): at
        for channel, at in session.exec(
            select(Delivery.channel, func.min(Delivery.accepted_at))
            .where(of_incident, col(Delivery.accepted_at).is_not(None))
            .group_by(col(Delivery.channel))
        )
        if at is not None
    }
    first_at = min(accepted.values(), default=None)
    channels: dict[str, ChannelFirst] = {}
    for channel, at in accepted.items():
        if spec_of(channel).reach is not Reach.SERVED:
            channels[channel.value] = ChannelFirst(channel.value, at, at - incident.aware_at, False)
    if published:
        shown = published[0].published_at
        assert shown is not None
        served = session.exec(
            select(Rendition.channel).where(Rendition.update_id == published[0].id).distinct()
        ).all()
        for channel in {*(Channel(c) for c in served), *accepted}:
            if spec_of(channel).reach is Reach.SERVED:
                channels[channel.value] = ChannelFirst(channel.value, shown, shown - incident.aware_at, True)
    return FirstWord(
        first_at=first_at,
        after=first_at - incident.aware_at if first_at is not None else None,
        channels=sorted(channels.values(), key=lambda c: (_channel_order(c.channel), c.channel)),
    )


def promises_of(
    published: list[Update],
    *,
    resolved_at: datetime | None,
    now: datetime,
    wall: Callable[[datetime], datetime] = lambda moment: moment,
) -> Promises:
    """The promises of ``published`` (oldest first) that are due, and how each was kept; ``wall`` maps
    a time of the incident's clock (a promise, ``now``) to the wall clock publications are timed by."""
    now = wall(now)
    made: list[Promise] = []
    for index, update in enumerate(published):
        assert update.published_at is not None
        if resolved_at is not None and update.published_at >= resolved_at:
            break  # the resolution's promise, and the follow-ups': nobody waits for an update then
        due_at = wall(update.next_update_by)
        following = published[index + 1] if index + 1 < len(published) else None
        next_at = following.published_at if following is not None else None
        if next_at is None and due_at > now:
            continue  # still in the future: neither kept nor broken yet
        kept = next_at is not None and next_at <= due_at
        late_by = None if kept else (next_at or now) - due_at
        made.append(Promise(update.number, due_at, kept, next_at, late_by))
    lateness = [p.late_by for p in made if p.late_by is not None]
    return Promises(
        due=len(made),
        kept=sum(1 for p in made if p.kept),
        worst_late_by=max(lateness, default=None),
        promises=made,
    )


def _reach(session: Session, of_incident: sa.ColumnElement[bool]) -> Reached:
    recipient = col(Delivery.recipient_id)
    addressed = recipient.is_not(None)
    reached = col(Delivery.state).in_(REACHED)
    distinct = func.count(sa.distinct(recipient))
    states: dict[Channel, dict[DeliveryState, int]] = defaultdict(dict)
    for channel, state, n in session.exec(
        select(Delivery.channel, Delivery.state, func.count())
        .where(of_incident)
        .group_by(col(Delivery.channel), col(Delivery.state))
    ):
        states[Channel(channel)][DeliveryState(state)] = int(n)
    audience = dict(
        session.exec(
            select(Delivery.channel, distinct).where(of_incident, addressed).group_by(col(Delivery.channel))
        ).all()
    )
    got = dict(
        session.exec(
            select(Delivery.channel, distinct)
            .where(of_incident, addressed, reached)
            .group_by(col(Delivery.channel))
        ).all()
    )
    counted, by_fallback = _reached_by(session, of_incident)
    channels = [
        ChannelReach(
            channel=channel.value,
            audience=int(audience.get(channel, 0)),
            reached=int(got.get(channel, 0)),
            accepted=of.get(DeliveryState.ACCEPTED, 0),
            delivered=of.get(DeliveryState.DELIVERED, 0),
            bounced=of.get(DeliveryState.BOUNCED, 0),
            failed=of.get(DeliveryState.FAILED, 0),
            suppressed=of.get(DeliveryState.SUPPRESSED, 0),
            pending=of.get(DeliveryState.PENDING, 0) + of.get(DeliveryState.CLAIMED, 0),
            counted=counted.get(channel, 0),
        )
        for channel, of in sorted(states.items(), key=lambda item: (_channel_order(item[0]), item[0]))
    ]
    total = session.exec(select(distinct).where(of_incident, addressed)).one()
    total_reached = session.exec(select(distinct).where(of_incident, addressed, reached)).one()
    return Reached(int(total), int(total_reached), channels, by_fallback=by_fallback)


def _reached_by(session: Session, of_incident: sa.ColumnElement[bool]) -> tuple[dict[Channel, int], int]:
    """Each person reached, once, under the channel that reached them: a delivered message before
    one only accepted, then a fallback before what it replaced; and how many a fallback reached."""
    best: dict[int, tuple[bool, bool, int, Channel]] = {}
    rows = session.exec(
        select(
            Delivery.recipient_id, Delivery.channel, Delivery.state, col(Delivery.fallback_of).is_not(None)
        )
        .where(of_incident, col(Delivery.recipient_id).is_not(None), col(Delivery.state).in_(REACHED))
        .execution_options(yield_per=10_000)
    )
    for recipient_id, channel, state, fallback in rows:
        assert recipient_id is not None
        ranked = (
            state == DeliveryState.DELIVERED,
            bool(fallback),
            -_channel_order(channel),
            Channel(channel),
        )
        if recipient_id not in best or ranked[:3] > best[recipient_id][:3]:
            best[recipient_id] = ranked
    counted: dict[Channel, int] = defaultdict(int)
    for _delivered, _fallback, _order, channel in best.values():
        counted[channel] += 1
    return dict(counted), sum(fallback for _, fallback, _, _ in best.values())


def _approvals(session: Session, incident_id: int) -> list[RoleApprovals]:
    took: dict[str, list[timedelta]] = defaultdict(list)
    rows = session.exec(
        select(Approval.role, Approval.decided_at, Update.created_at)
        .join(Update, col(Update.id) == Approval.update_id)
        .where(Update.incident_id == incident_id)
    )
    for role, decided_at, requested_at in rows:
        took[role].append(decided_at - requested_at)
    return [
        RoleApprovals(role, len(spans), median(spans), max(spans)) for role, spans in sorted(took.items())
    ]


def median(spans: list[timedelta]) -> timedelta:
    """The middle one of ``spans`` (the mean of the middle two of an even count)."""
    ordered = sorted(spans)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def stage_outcome(row: Deadline, now: datetime) -> tuple[str, timedelta | None]:
    """What became of a stage (one of :data:`OUTCOMES`) and its margin."""
    if row.state is DeadlineState.WAIVED:
        return "waived", None
    if row.met_at is not None:
        margin = row.due_at - row.met_at
        return ("met" if margin >= timedelta(0) else "late"), margin
    return ("missed" if now >= row.due_at else "open"), row.due_at - now


def _stages(session: Session, incident_id: int, now: datetime) -> list[StageOutcome]:
    statement = select(Deadline).where(Deadline.incident_id == incident_id).order_by(col(Deadline.id))
    rows = session.exec(statement)
    found = []
    for row in rows:
        outcome, margin = stage_outcome(row, now)
        found.append(
            StageOutcome(row.regime, row.stage, row.recipient, row.due_at, row.met_at, outcome, margin)
        )
    return found


def _survey(session: Session, incident: Incident, now: datetime) -> SurveyFigures | None:
    report = survey_report(session=session, incident=incident, now=now)
    if report.opened_at is None:
        return None
    return SurveyFigures(
        invited=report.invited,
        answered=report.answered,
        informed_mean=report.informed_mean,
        trust_mean=report.trust_mean,
        positive=report.positive,
        negative=report.negative,
        ratio=report.ratio,
    )


def _commitments(session: Session, incident_id: int, now: datetime) -> Commitments:
    rows = list(session.exec(select(Commitment).where(Commitment.incident_id == incident_id)))
    today = now.astimezone(UTC).date()

    def shipped_on_time(c: Commitment) -> bool:
        shipped = c.changed_at or c.updated_at
        return shipped.astimezone(UTC).date() <= c.due_on

    shipped = [c for c in rows if c.state is CommitmentState.SHIPPED]
    still_open = [c for c in rows if c.state in (CommitmentState.PLANNED, CommitmentState.IN_PROGRESS)]
    on_time = sum(1 for c in shipped if shipped_on_time(c))
    return Commitments(
        total=len(rows),
        shipped_on_time=on_time,
        shipped_late=len(shipped) - on_time,
        dropped=sum(1 for c in rows if c.state is CommitmentState.DROPPED),
        open=len(still_open),
        overdue=sum(1 for c in still_open if today > c.due_on),
    )
