"""An incident's regulatory clocks: started, watched, met, overridden, waived.

One awareness time starts every clock the incident's regimes name (the playbook's, and those its
declared jurisdictions add). Some stages start later, on an event recorded when it happens (the SEC's
materiality determination, DORA's classification as major) or on the submission of an earlier stage
(NIS2's final report runs from the notification's submission); until then they are *pending* and have
no row. Every change is written to the audit log in the caller's transaction.

Times are the incident's (:mod:`clarion.incidents.clock`): callers pass ``now`` from the incident's
clock, so a demo that runs time faster sees its clocks run out faster too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, col, select

from clarion import audit
from clarion.errors import InputError, Problem
from clarion.kinds import DeadlineState, UpdateKind
from clarion.models import Deadline, Incident, Update, utcnow
from clarion.playbook import Playbook
from clarion.regimes import (
    Event,
    Regime,
    Stage,
    Start,
    due,
    earliest,
    for_jurisdictions,
    get_regime,
    regimes,
)

THRESHOLDS = (50, 75, 90, 100)
"""Percent of a window at which a clock is checked; 100 is the deadline itself."""
AT_RISK_FROM = THRESHOLDS[0]
CLOSED = frozenset({DeadlineState.MET, DeadlineState.WAIVED})
EVENT_CLOCK_SKEW = timedelta(minutes=15)
"""How far after now a recorded event may lie: clocks of the machines involved may differ a little."""


# ── which regimes, and when each stage starts ─────────────────────────────────────────────────────


def incident_regimes(playbook: Playbook, jurisdictions: Sequence[str] = ()) -> list[str]:
    """The playbook's regimes, then those ``jurisdictions`` add for its kind; disabled ones left out."""
    known = regimes()
    problems = [
        Problem("declaration", None, "jurisdictions", f"no regime of jurisdiction {code!r} is shipped")
        for code in jurisdictions
        if not any(r.jurisdiction == code for r in known.values())
    ]
    problems += [
        Problem(playbook.name, None, "regimes", f"unknown regime {rid!r}")
        for rid in playbook.regimes
        if rid not in known
    ]
    if problems:
        raise InputError(problems)
    chosen = [rid for rid in playbook.regimes if known[rid].enabled]
    chosen += [
        rid for rid in for_jurisdictions(list(jurisdictions), playbook.kind.value) if rid not in chosen
    ]
    return chosen


def _event_time(incident: Incident, event: Event, zone_regime: Regime) -> datetime | None:
    if event is Event.AWARENESS:
        return incident.aware_at
    recorded = incident.clock_events.get(event.value)
    if recorded is not None:
        return datetime.fromisoformat(recorded)
    if event.defaults_to_awareness:
        return incident.aware_at
    if event is Event.CALENDAR_YEAR_END:  # the last moment of the year of awareness, where the law counts
        year = incident.aware_at.astimezone(zone_regime.zone).year
        return datetime(year, 12, 31, 23, 59, 59, tzinfo=zone_regime.zone).astimezone(UTC)
    return None


def _submitted_at(row: Deadline | None, *, latest: bool) -> datetime | None:
    if row is None or not row.submissions:
        return None
    return datetime.fromisoformat(row.submissions[-1 if latest else 0]["at"])


def _start_time(
    incident: Incident, regime: Regime, start: Start, rows: dict[str, Deadline]
) -> datetime | None:
    if start.event is not None:
        return _event_time(incident, start.event, regime)
    assert start.after is not None
    return _submitted_at(rows.get(start.after), latest=start.latest)


def stage_due(
    incident: Incident, regime: Regime, stage: Stage, rows: dict[str, Deadline]
) -> tuple[datetime, datetime] | None:
    """(start, due) of ``stage`` from what is known now, or None while its start is unknown."""
    start = _start_time(incident, regime, stage.starts, rows)
    if start is None:
        return None
    return start, earliest(start, due(start, stage.clock, regime.zone), _caps(incident, regime, stage, rows))


def _caps(incident: Incident, regime: Regime, stage: Stage, rows: dict[str, Deadline]) -> list[datetime]:
    """The due times of the stage's caps whose start is known."""
    caps = []
    for cap in stage.caps:
        start = _start_time(incident, regime, cap.starts, rows)
        if start is not None:
            caps.append(due(start, cap.clock, regime.zone))
    return caps


def waiting_for(stage: Stage) -> str:
    """What a pending stage waits for, in words a commander acts on."""
    if stage.starts.after is not None:
        return f"starts when {stage.starts.after} is submitted"
    assert stage.starts.event is not None
    return f"starts when {stage.starts.event.value} is recorded"


# ── starting and recomputing clocks ──────────────────────────────────────────────────────────────


def _rows(session: Session, incident_id: int) -> list[Deadline]:
    return list(
        session.exec(select(Deadline).where(Deadline.incident_id == incident_id).order_by(col(Deadline.id)))
    )


def _by_stage(rows: Iterable[Deadline], regime_id: str) -> dict[str, Deadline]:
    return {row.stage: row for row in rows if row.regime == regime_id}


def start_clocks(*, session: Session, incident: Incident, actor: str = "clarion") -> list[Deadline]:
    """Create the rows of every stage whose start is known, and move the open ones whose start moved
    (a later submission of the stage they chain from). Overridden, met and waived rows keep their
    time. Returns the rows created or moved; running it again changes nothing."""
    assert incident.id is not None
    rows = _rows(session, incident.id)
    changed: list[Deadline] = []
    for regime_id in incident.regimes:
        regime = get_regime(regime_id)
        mine = _by_stage(rows, regime_id)
        for stage in regime.stages:  # in order: a stage chains only from an earlier one
            times = stage_due(incident, regime, stage, mine)
            if times is None:
                continue
            starts_at, due_at = times
            row = mine.get(stage.id)
            if row is None:
                row = Deadline(
                    incident_id=incident.id,
                    regime=regime_id,
                    stage=stage.id,
                    recipient=stage.recipient,
                    starts_at=starts_at,
                    due_at=due_at,
                    computed_due_at=due_at,
                    regime_version=regime.version,
                    chained_from_id=mine[stage.starts.after].id if stage.starts.after else None,
                )
                session.add(row)
                mine[stage.id] = row
                _audit(session, incident, row, actor, "deadline.started", due=due_at.isoformat())
                changed.append(row)
            elif row.state not in CLOSED and row.computed_due_at != due_at:
                row.starts_at, row.computed_due_at, row.regime_version = starts_at, due_at, regime.version
                if row.override_reason is None:  # an override stands; the computed time is kept beside it
                    _move(session, incident, row, due_at, actor, "deadline.recomputed")
                    changed.append(row)
                else:
                    session.add(row)
    session.flush()
    return changed


def record_event(
    *,
    session: Session,
    incident: Incident,
    event: Event,
    at: datetime,
    actor: str,
    now: datetime | None = None,
) -> list[Deadline]:
    """Record when ``event`` happened (a materiality determination, say) and start the clocks it
    starts. Recording it again with another time moves those clocks (unless met, waived or
    overridden): the audit log keeps both.

    ``at`` lies between the incident's awareness and ``now`` (the incident's clock; the wall clock
    when not given) plus :data:`EVENT_CLOCK_SKEW`: an event is recorded once it has happened."""
    if event is Event.AWARENESS:
        raise _refused("event", "awareness is the incident's aware_at, set when it was declared")
    _actor(actor)
    _aware(at, "at")
    if at < incident.aware_at:
        raise _refused("at", f"{at.isoformat()} is before awareness ({incident.aware_at.isoformat()})")
    latest = (now if now is not None else utcnow()) + EVENT_CLOCK_SKEW
    if at > latest:
        raise _refused(
            "at",
            f"{at.isoformat()} is in the future (later than {latest.astimezone(UTC).isoformat()}, now plus "
            f"{EVENT_CLOCK_SKEW.seconds // 60} minutes): record an event once it has happened",
        )
    events = dict(incident.clock_events)
    previous = events.get(event.value)
    events[event.value] = at.astimezone(UTC).isoformat()
    incident.clock_events = events
    session.add(incident)
    audit.append(
        session=session,
        actor=actor,
        action="deadline.event",
        subject=incident.reference,
        details={"event": event.value, "at": events[event.value], "previous": previous},
    )
    return start_clocks(session=session, incident=incident, actor=actor)


# ── submissions, overrides, waivers ───────────────────────────────────────────────────────────────


def running(incident: Incident, regime_id: str) -> Regime:
    """The regime ``regime_id`` when the incident runs it; InputError naming those it runs otherwise."""
    if regime_id not in incident.regimes:
        runs = ", ".join(incident.regimes) or "none"
        raise _refused("regime", f"{incident.reference} does not run {regime_id!r} (it runs: {runs})")
    return get_regime(regime_id)


def stage_of(regime: Regime, stage_id: str) -> Stage:
    """The stage ``stage_id`` of ``regime``; InputError naming its stages otherwise."""
    try:
        return regime.stage(stage_id)
    except KeyError as exc:
        raise _refused("stage", str(exc.args[0])) from None


def find(session: Session, incident: Incident, regime_id: str, stage_id: str) -> Deadline:
    """The row of ``regime_id``/``stage_id``; InputError saying why there is none."""
    assert incident.id is not None
    stage = stage_of(running(incident, regime_id), stage_id)
    row = _by_stage(_rows(session, incident.id), regime_id).get(stage_id)
    if row is None:
        raise _refused(
            "stage",
            f"{regime_id}/{stage_id} of {incident.reference} has not started: it {waiting_for(stage)}",
        )
    return row


def _refused(field: str, message: str) -> InputError:
    return InputError([Problem("deadline", None, field, message)])


def is_late(row: Deadline, at: datetime) -> bool:
    return at > row.due_at


def record_submission(
    *,
    session: Session,
    incident: Incident,
    regime_id: str,
    stage_id: str,
    at: datetime,
    by: str,
    reference: str | None,
    delay_reason: str | None = None,
) -> list[Deadline]:
    """Record that the notice of a stage was submitted: the stage is met (or resubmitted), the
    stages that chain from it start or move. A late first submission of a stage whose law asks for
    the reasons of the delay is refused without them. Returns the row and every row started or moved."""
    _aware(at, "at")
    if not by.strip():
        raise _refused("by", "say who submitted it")
    row = find(session, incident, regime_id, stage_id)
    if at < row.starts_at:
        raise _refused(
            "at", f"{at.isoformat()} is before {regime_id}/{stage_id} started ({row.starts_at.isoformat()})"
        )
    stage = get_regime(regime_id).stage(stage_id)
    if row.state is DeadlineState.WAIVED:
        raise _refused("stage", f"{regime_id}/{stage_id} was waived: {row.override_reason}")
    first = not row.submissions
    late = first and is_late(row, at)
    if late and stage.late_reasons and not (delay_reason and delay_reason.strip()):
        raise _refused(
            "delay_reason",
            f"{regime_id}/{stage_id} was due {row.due_at.isoformat()}: a late notice must give the reasons "
            "for the delay",
        )
    row.submissions = [
        *row.submissions,
        {"at": at.astimezone(UTC).isoformat(), "by": by, "reference": reference},
    ]
    if first:
        row.state, row.met_at, row.submitted_by, row.submission_reference = (
            DeadlineState.MET,
            at,
            by,
            reference,
        )
        row.delay_reason = delay_reason if late else None
    session.add(row)
    _audit(
        session,
        incident,
        row,
        by,
        "deadline.met" if first else "deadline.resubmitted",
        at=at.astimezone(UTC).isoformat(),
        reference=reference,
        late=late,
        delay_reason=delay_reason if late else None,
    )
    return [row, *start_clocks(session=session, incident=incident, actor=by)]


def meet_by_update(
    *, session: Session, incident: Incident, update_number: int, at: datetime
) -> list[Deadline]:
    """Record the published update as the submission of every open stage it satisfies (``met_by_update``:
    GDPR Art. 34's communication to the people affected is the incident's own message to them). A late
    one whose law asks for the reasons of the delay is left for a person to record with them."""
    met: list[Deadline] = []
    update = session.exec(
        select(Update).where(Update.incident_id == incident.id, Update.number == update_number)
    ).first()
    if update is not None and update.kind is UpdateKind.ACKNOWLEDGEMENT:
        return met  # the first word on the status page is nobody's notification
    for row in open_rows(session, incident):
        stage = get_regime(row.regime).stage(row.stage)
        if not stage.met_by_update or row.submissions or (stage.late_reasons and is_late(row, at)):
            continue
        met += record_submission(
            session=session,
            incident=incident,
            regime_id=row.regime,
            stage_id=row.stage,
            at=max(at, row.starts_at),
            by="clarion",
            reference=f"{incident.reference} update {update_number}",
        )
    return met


def override(
    *,
    session: Session,
    incident: Incident,
    regime_id: str,
    stage_id: str,
    due_at: datetime,
    reason: str,
    actor: str,
) -> Deadline:
    """Set a stage's due time by hand (an extension granted, a closure the calendars miss), with the
    reason; the computed time is kept beside it."""
    _aware(due_at, "due")
    _reason(reason)
    _actor(actor)
    row = find(session, incident, regime_id, stage_id)
    if row.state in CLOSED:
        raise _refused("stage", f"{regime_id}/{stage_id} is {row.state.value} already")
    if due_at <= row.starts_at:
        raise _refused(
            "due",
            f"{due_at.isoformat()} is not after {regime_id}/{stage_id} started ({row.starts_at.isoformat()})",
        )
    due_at = due_at.astimezone(UTC)
    row.override_reason = reason
    _move(session, incident, row, due_at, actor, "deadline.overridden", reason=reason)
    return row


def _move(
    session: Session,
    incident: Incident,
    row: Deadline,
    due_at: datetime,
    actor: str,
    action: str,
    **details: object,
) -> None:
    """Give ``row`` a new due time; an open clock is watched afresh from its first threshold."""
    before, row.due_at = row.due_at, due_at
    if row.state not in CLOSED:
        row.state, row.last_threshold = DeadlineState.OPEN, 0
    session.add(row)
    _audit(
        session, incident, row, actor, action, before=before.isoformat(), due=due_at.isoformat(), **details
    )


def waive(
    *, session: Session, incident: Incident, regime_id: str, stage_id: str, reason: str, actor: str
) -> Deadline:
    """The stage does not apply (below its threshold, say): it is no longer watched."""
    _reason(reason)
    _actor(actor)
    row = find(session, incident, regime_id, stage_id)
    if row.state is DeadlineState.MET:
        raise _refused("stage", f"{regime_id}/{stage_id} was met already")
    row.state, row.override_reason = DeadlineState.WAIVED, reason
    session.add(row)
    _audit(session, incident, row, actor, "deadline.waived", reason=reason)
    return row


def _aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise _refused(name, f"{moment.isoformat()} has no time zone")


def _actor(actor: str) -> None:
    if not actor.strip():
        raise _refused("by", "say who you are: it goes into the audit log")


def _reason(reason: str) -> None:
    if not reason.strip():
        raise _refused("reason", "give the reason: it goes into the audit log")


def _audit(
    session: Session, incident: Incident, row: Deadline, actor: str, action: str, **details: object
) -> None:
    audit.append(
        session=session,
        actor=actor,
        action=action,
        subject=f"{incident.reference}/{row.regime}/{row.stage}",
        details={k: v for k, v in details.items() if v is not None},
    )


# ── watching ──────────────────────────────────────────────────────────────────────────────────────


def elapsed(row: Deadline, now: datetime) -> float:
    """How much of the window has passed, 0.0 at the start, 1.0 at the deadline (may exceed 1)."""
    window = (row.due_at - row.starts_at).total_seconds()
    if window <= 0:
        return 1.0 if now >= row.due_at else 0.0
    return max(0.0, (now - row.starts_at).total_seconds() / window)


def state_at(row: Deadline, now: datetime) -> DeadlineState:
    """The state as of ``now``: met and waived stay; otherwise missed past the deadline, at risk from
    half-way, open before."""
    if row.state in CLOSED:
        return row.state
    if now >= row.due_at:
        return DeadlineState.MISSED
    if elapsed(row, now) * 100 >= AT_RISK_FROM:
        return DeadlineState.AT_RISK
    return DeadlineState.OPEN


def threshold_time(row: Deadline, percent: int) -> datetime:
    """When ``percent`` of the row's window has passed."""
    return row.starts_at + (row.due_at - row.starts_at) * (percent / 100)


@dataclass(frozen=True, slots=True)
class Crossing:
    """A threshold a check found newly crossed: what to tell, and whom."""

    row: Deadline
    threshold: int
    state: DeadlineState


def check(*, session: Session, incident: Incident, row: Deadline, now: datetime) -> Crossing | None:
    """Note the highest threshold ``row`` has crossed by ``now`` if it was not noted yet; the caller
    tells people about the crossing it returns. A met or waived row, or one whose threshold was
    noted already (a second timer, a timer that ran late), returns None."""
    if row.state in CLOSED:
        return None
    # instants, not float percentages: a check scheduled at a threshold's time must find it passed
    passed = [t for t in THRESHOLDS if now >= (row.due_at if t == 100 else threshold_time(row, t))]
    if not passed or passed[-1] <= row.last_threshold:
        return None
    row.last_threshold, row.state = passed[-1], state_at(row, now)
    session.add(row)
    action = "deadline.missed" if row.state is DeadlineState.MISSED else "deadline.at-risk"
    _audit(session, incident, row, "clarion", action, threshold=passed[-1], due=row.due_at.isoformat())
    return Crossing(row, passed[-1], row.state)


def escalate(*, session: Session, incident: Incident, row: Deadline, to: Sequence[str]) -> None:
    """Record that a missed clock was escalated, and to whom."""
    _audit(session, incident, row, "clarion", "deadline.escalated", due=row.due_at.isoformat(), to=list(to))


# ── reading ───────────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class Clockface:
    """One line of ``clarion deadlines``: a stage with its row, or pending without one."""

    regime: Regime
    stage: Stage
    row: Deadline | None
    state: str
    """A :class:`DeadlineState` value, or ``pending``."""
    left: timedelta | None
    """Until the deadline (negative once missed); None when pending, met or waived."""
    due_by_cap: datetime | None = None
    """Pending only: the latest it can be due once it starts, when a cap of it already runs (DORA's
    initial report is due within 24 h of awareness if the incident is classified major by then)."""

    @property
    def late_by(self) -> timedelta | None:
        if self.row is None or self.row.met_at is None or self.row.met_at <= self.row.due_at:
            return None
        return self.row.met_at - self.row.due_at


def clockfaces(*, session: Session, incident: Incident, now: datetime) -> list[Clockface]:
    """Every stage of every regime the incident runs, in regime and stage order."""
    assert incident.id is not None
    rows = _rows(session, incident.id)
    faces: list[Clockface] = []
    for regime_id in incident.regimes:
        regime = get_regime(regime_id)
        mine = _by_stage(rows, regime_id)
        for stage in regime.stages:
            row = mine.get(stage.id)
            if row is None:
                faces.append(
                    Clockface(regime, stage, None, "pending", None, _cap_due(incident, regime, stage, mine))
                )
                continue
            state = state_at(row, now)
            left = None if state in CLOSED else row.due_at - now
            faces.append(Clockface(regime, stage, row, state.value, left))
    return faces


def _cap_due(incident: Incident, regime: Regime, stage: Stage, rows: dict[str, Deadline]) -> datetime | None:
    return min(_caps(incident, regime, stage, rows), default=None)


def open_rows(session: Session, incident: Incident) -> list[Deadline]:
    assert incident.id is not None
    return [row for row in _rows(session, incident.id) if row.state not in CLOSED]
