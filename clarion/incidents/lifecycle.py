"""An incident's life after its first update: the next facts, holding statements, cadence timers.

Plain functions over the store and the domain models; the flows call them and add only Prefect's
parts (pauses, scheduled runs, artifacts).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlmodel import Session, col, select

from clarion import audit
from clarion.compliance.deadlines import incident_regimes, start_clocks
from clarion.errors import InputError, Problem
from clarion.facts import Facts, fit_problems
from clarion.files.safetext import STORED
from clarion.kinds import IncidentStatus, UpdateKind, UpdateState
from clarion.models import Incident, IncidentCreate, Update, utcnow
from clarion.playbook import Playbook
from clarion.store import create_incident

REMINDER_LEAD_CAP = timedelta(hours=2)


def facts_of(update: Update) -> Facts:
    """The facts an update was made from (stored with it as JSON; read back without refusing text
    that a later rule would refuse on input)."""
    return Facts.model_validate(update.facts, context={STORED: True})


def latest_published(*, session: Session, incident_id: int) -> Update | None:
    """The update people heard last: by publication time, since a holding statement drafted while a
    real update waited for approval gets a higher number but goes out first."""
    statement = (
        select(Update)
        .where(Update.incident_id == incident_id, Update.state == UpdateState.PUBLISHED)
        .order_by(col(Update.published_at).desc(), col(Update.number).desc())
        .limit(1)
    )
    return session.exec(statement).first()


def superseded_by(*, session: Session, incident_id: int, base: int) -> Update | None:
    """The update published after ``base``, if any. A holding statement repeats the facts of the update
    whose promise lapsed (``base``); once another update has gone out (the resolution its approvers
    answered while the lapse was being handled), those facts are stale and the holding statement must
    not go out: it would set the status back (a resolved incident "reopened" by its own holding
    statement)."""
    latest = latest_published(session=session, incident_id=incident_id)
    return latest if latest is not None and latest.number != base else None


def published_since(*, session: Session, holding: Update) -> Update | None:
    """The first update published after the holding statement ``holding`` was drafted, if any: its
    facts are then stale whatever update it was drafted for. The store says so by itself, so a publish
    run that lost the name of that update (one started again for a pending approval) still knows."""
    statement = (
        select(Update)
        .where(
            Update.incident_id == holding.incident_id,
            Update.state == UpdateState.PUBLISHED,
            Update.id != holding.id,
            col(Update.published_at) > holding.created_at,
        )
        .order_by(col(Update.published_at), col(Update.number))
        .limit(1)
    )
    return session.exec(statement).first()


def acknowledged_only(*, session: Session, reference: str, playbook: Playbook) -> Incident | None:
    """The incident ``reference`` when all it has said is its acknowledgement (``clarion declare``
    published that itself, then started the flow that declares the rest): the declaration goes on
    with it. None when there is no such incident, or it has said more (then it is declared already)."""
    incident = session.exec(select(Incident).where(Incident.reference == reference)).first()
    if incident is None or incident.playbook != playbook.name:
        return None
    kinds = session.exec(select(Update.kind).where(Update.incident_id == incident.id)).all()
    return incident if kinds and all(k is UpdateKind.ACKNOWLEDGEMENT for k in kinds) else None


def latest_told(*, session: Session, incident_id: int) -> Update | None:
    """The latest published update that told the story: an acknowledgement carries none of it."""
    statement = (
        select(Update)
        .where(
            Update.incident_id == incident_id,
            Update.state == UpdateState.PUBLISHED,
            Update.kind != UpdateKind.ACKNOWLEDGEMENT,
        )
        .order_by(col(Update.published_at).desc(), col(Update.number).desc())
        .limit(1)
    )
    return session.exec(statement).first()


def latest_update(*, session: Session, incident_id: int) -> Update | None:
    statement = select(Update).where(Update.incident_id == incident_id).order_by(col(Update.number).desc())
    return session.exec(statement.limit(1)).first()


def check_fit(facts: Facts, playbook: Playbook, source: str) -> None:
    """Raise InputError naming every way ``facts`` do not fit ``playbook``."""
    problems = [
        Problem(source, None, ".".join(map(str, loc)), msg) for loc, msg in fit_problems(facts, playbook)
    ]
    if problems:
        raise InputError(problems)


def open_incident(
    *,
    session: Session,
    playbook: Playbook,
    reference: str | None,
    title: str,
    severity: str,
    status: IncidentStatus,
    aware_at: datetime | None,
    started_at: datetime | None,
    commander: str | None,
    jurisdictions: Sequence[str] = (),
    declared_facts: Mapping[str, Any] | None = None,
) -> Incident:
    """Store a new incident (the next ``INC-nnnn`` unless ``reference`` is given), in the caller's
    transaction, and start its regulatory clocks: the playbook's regimes and those ``jurisdictions``
    add. Awareness defaults to now: it starts the clocks, so it is never left unset. A reference that
    exists already is refused: post an update to it instead. ``declared_facts`` (the facts of the
    declaration, as JSON) are kept, so a first update that fails can be drafted again from them
    (:func:`first_facts`)."""
    chosen = incident_regimes(playbook, jurisdictions)
    if (
        reference is not None
        and session.exec(select(Incident).where(Incident.reference == reference)).first()
    ):
        raise InputError(
            [Problem("declaration", None, "reference", f"{reference} exists already; post an update to it")]
        )
    incident = create_incident(
        session=session,
        incident_in=IncidentCreate(
            reference=reference,
            playbook=playbook.name,
            severity=severity,
            title=title,
            status=status,
            aware_at=aware_at or utcnow(),
            started_at=started_at,
            public_time_zone=playbook.public_time_zone or "UTC",
            commander=commander,
        ),
    )
    audit.append(
        session=session,
        actor=commander or "clarion",
        action="incident.declared",
        subject=incident.reference,
        details={
            "playbook": playbook.name,
            "severity": severity,
            "aware_at": incident.aware_at.isoformat(),
            "regimes": chosen,
        },
    )
    incident.regimes = chosen
    incident.declared_facts = dict(declared_facts) if declared_facts is not None else None
    session.add(incident)
    start_clocks(session=session, incident=incident, actor=commander or "clarion")
    return incident


def open_declared(
    *,
    session: Session,
    playbook: Playbook,
    facts: Facts,
    commander: str | None,
    jurisdictions: Sequence[str] = (),
) -> Incident:
    """:func:`open_incident` for a declaration's facts (their reference may be left out: the next one),
    keeping the facts as declared."""
    return open_incident(
        session=session,
        playbook=playbook,
        reference=facts.reference or None,
        title=facts.title,
        severity=facts.severity,
        status=facts.status,
        aware_at=facts.aware_at,
        started_at=facts.started_at,
        commander=commander,
        jurisdictions=jurisdictions,
        declared_facts=facts.model_dump(mode="json", exclude_none=True),
    )


def first_facts(incident: Incident, *, as_of: datetime, source: str = "declaration") -> Facts:
    """The facts of an incident's first update, from its declaration: for a first update to draft
    again when the one drafted at declaration failed or was rejected."""
    if not incident.declared_facts:
        message = f"{incident.reference} was declared without stored facts; declare it again"
        raise InputError([Problem(source, None, "facts", message)])
    data = {k: v for k, v in incident.declared_facts.items() if v is not None}
    data.update(reference=incident.reference, as_of=data.get("as_of") or as_of.isoformat())
    try:
        return Facts.model_validate(data)
    except ValidationError as exc:
        raise InputError(_problems(source, exc)) from None


def _problems(source: str, exc: ValidationError) -> list[Problem]:
    return [
        Problem(source, None, ".".join(str(p) for p in e["loc"]) or "(facts)", e["msg"]) for e in exc.errors()
    ]


def next_facts(
    previous: Facts,
    playbook: Playbook,
    *,
    as_of: datetime,
    status: IncidentStatus | None = None,
    severity: str | None = None,
    story: Mapping[str, BaseModel] | None = None,
    changes: Mapping[str, Any] | None = None,
    source: str = "update",
) -> Facts:
    """The facts of the next update: the previous ones with what changed.

    ``story`` maps a locale to the parts that changed (a model whose unset fields keep their text);
    ``changes`` replaces other top-level facts wholesale. The previous promise of the next update is
    dropped (the cadence makes a new one) unless ``changes`` gives one. Problems are reported all at
    once, named by field, before anything is stored.
    """
    data: dict[str, Any] = json.loads(previous.model_dump_json())
    data.pop("next_update_by", None)
    unknown = sorted(set(changes or {}) - set(Facts.model_fields) - {"as_of"})
    if unknown:
        raise InputError([Problem(source, None, f"changes.{k}", "not a field of the facts") for k in unknown])
    data.update({k: v for k, v in (changes or {}).items() if k != "as_of"})
    if status is not None:
        data["status"] = status.value
    if severity is not None:
        data["severity"] = severity
    for locale, change in (story or {}).items():
        told = data["story"].setdefault(locale, {})
        for part, value in change.model_dump(mode="json", exclude_unset=True).items():
            told[part] = value
    data["as_of"] = as_of.isoformat()
    try:
        facts = Facts.model_validate(data)
    except ValidationError as exc:
        raise InputError(_problems(source, exc)) from None
    check_fit(facts, playbook, source)
    return facts


def holding_facts(previous: Facts, *, phrases: Mapping[str, Mapping[str, str]], as_of: datetime) -> Facts:
    """A holding statement: nothing new, still working on it, sorry; next update by the cadence.

    The apology is the locale's holding wording (``phrases[locale]``: ``text`` and ``short`` with
    ``{title}``); cause, fix and prevention stay as last told, so every channel still carries them.
    """
    data: dict[str, Any] = json.loads(previous.model_dump_json())
    data.pop("next_update_by", None)
    data["as_of"] = as_of.isoformat()
    for locale, told in data["story"].items():
        title = told.get("title") or previous.title
        wording = phrases[locale]
        told["apology"] = {
            "text": wording["text"].format(title=title),
            "short": wording["short"].format(title=title),
        }
    return Facts.model_validate(data)


def consecutive_holdings(*, session: Session, incident_id: int) -> int:
    """How many holding statements were published since the last real update."""
    statement = (
        select(Update.kind)
        .where(Update.incident_id == incident_id, Update.state == UpdateState.PUBLISHED)
        .order_by(col(Update.published_at).desc(), col(Update.number).desc())
    )
    count = 0
    for kind in session.exec(statement):
        if kind is not UpdateKind.HOLDING:
            break
        count += 1
    return count


# ── delivery that did not finish ─────────────────────────────────────────────────────────────────

DELIVERY_RETRIES = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=3),
    timedelta(hours=6),
)
"""Wall-clock delays of the runs that finish an update's delivery when a publish could not (a
channel's task failed, or messages still wait for a provider): the last run stops retrying and says
so loudly; ``clarion outbox work`` still sends what is left."""


def delivery_retry_delay(attempt: int) -> timedelta | None:
    """How long after attempt ``attempt`` (1 = the publish itself) the next one runs; None: no more."""
    return DELIVERY_RETRIES[attempt - 1] if 1 <= attempt <= len(DELIVERY_RETRIES) else None


# ── cadence timers ───────────────────────────────────────────────────────────────────────────────


class Phase(StrEnum):
    REMINDER = "reminder"
    """Before the promise lapses: tell the commander an update is due."""
    LAPSE = "lapse"
    """The promise (plus the playbook's grace) has passed with no new update."""


@dataclass(frozen=True)
class Timer:
    phase: Phase
    at: datetime
    """On the incident's clock."""


def reminder_lead(promise: datetime, published_at: datetime) -> timedelta:
    """How long before the promise the commander is reminded: a quarter of the gap, at most 2 h."""
    return min((promise - published_at) / 4, REMINDER_LEAD_CAP)


def timers(playbook: Playbook, *, promise: datetime, published_at: datetime) -> list[Timer]:
    """The reminder and the lapse check for an update published at ``published_at``."""
    return [
        Timer(Phase.REMINDER, promise - reminder_lead(promise, published_at)),
        Timer(Phase.LAPSE, promise + playbook.holding_statement.grace),
    ]


class Action(StrEnum):
    NOTHING = "nothing"
    """A newer update was published: this timer is superseded."""
    REMIND = "remind"
    HOLD = "hold"
    """Publish a holding statement."""
    ESCALATE = "escalate"
    """The promise lapsed and no holding statement may go out: tell the commander loudly."""


def cadence_action(
    *, session: Session, incident: Incident, update_number: int, phase: Phase, playbook: Playbook
) -> Action:
    """What a cadence timer of update ``update_number`` should do now."""
    assert incident.id is not None
    latest = latest_published(session=session, incident_id=incident.id)
    if latest is None or latest.number != update_number:
        return Action.NOTHING
    if latest.status is IncidentStatus.RESOLVED:
        return Action.NOTHING  # resolved: nobody waits for another update, nobody is chased for one
    if phase is Phase.REMINDER:
        return Action.REMIND
    if latest.kind is UpdateKind.ACKNOWLEDGEMENT:
        return Action.ESCALATE  # a holding statement would repeat it everywhere, words nobody approved
    policy = playbook.holding_statement
    if (
        policy.enabled
        and incident.status is not IncidentStatus.RESOLVED
        and consecutive_holdings(session=session, incident_id=incident.id) < policy.max_consecutive
    ):
        return Action.HOLD
    return Action.ESCALATE
