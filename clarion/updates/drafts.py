"""Storing an update's content once: the content key, the incident it belongs to, and "new" on purpose.

The same facts for the same incident are one update. An update's content (the four parts per
locale, the facts; see :func:`content`) has a sha256, its **content key** (``content_hash``); storing
content whose key an update of the incident already has, in the same kind and not rejected, returns
that update instead of adding another. So running ``clarion outbox stage`` twice, or a flow task
that Prefect retries, adds nothing, and the outbox's keys (per update, channel and recipient) keep
every message to one copy.

A *different* update to an incident that already has one must be asked for: callers that only
stage (the command line) pass ``new_update=False`` unless the person said ``--new-update``, and get
an :class:`~clarion.errors.InputError` naming the update that exists. The flows (``declare``,
``update``, ``resolve``, holding statements) are such requests by nature and pass ``True``.

Facts name their incident by reference; facts of one playbook never join an incident of another.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from clarion.commitments import record as commitments
from clarion.errors import InputError, Problem
from clarion.facts import Facts
from clarion.kinds import UpdateKind, UpdateState
from clarion.models import Incident, IncidentCreate, Update, UpdateCreate
from clarion.playbook import Playbook
from clarion.statuspage.state import with_component_status
from clarion.store import add_update, create_incident

PARTS = ("apology", "cause", "fix", "prevention")


@dataclass(frozen=True)
class Stored:
    incident_id: int
    update_id: int
    number: int
    existing: bool
    """True when an update with this content was there already (nothing was added)."""


def content(
    facts: Facts, kind: UpdateKind, next_update_by: datetime, playbook: Playbook
) -> tuple[dict[str, Any], str]:
    """An update's stored content (the four parts per locale, the facts with a state for every
    component they name) and its content key."""
    facts = with_component_status(facts, playbook)
    parts = {
        part: {
            loc: {"text": getattr(s, part).text, "short": getattr(s, part).short}
            for loc, s in facts.story.items()
        }
        for part in PARTS
    }
    stored_facts = json.loads(facts.model_dump_json())
    canonical = json.dumps({"parts": parts, "facts": stored_facts}, sort_keys=True, ensure_ascii=False)
    values = {
        "kind": kind,
        "status": facts.status,
        "next_update_by": next_update_by,
        "facts": stored_facts,
        **parts,
    }
    return values, hashlib.sha256(canonical.encode()).hexdigest()


def store_update(
    engine: sa.Engine,
    playbook: Playbook,
    facts: Facts,
    kind: UpdateKind,
    next_update_by: datetime,
    *,
    state: UpdateState,
    commander: str | None,
    new_update: bool = True,
    source: str = "facts",
) -> Stored:
    """Store the update (and its incident, the first time), once per content; see the module."""
    values, key = content(facts, kind, next_update_by, playbook)
    with Session(engine, expire_on_commit=False) as session:
        incident = session.exec(select(Incident).where(Incident.reference == facts.reference)).first()
        if incident is None:
            incident = create_incident(session=session, incident_in=_incident_in(playbook, facts, commander))
        else:
            _check_belongs(incident, playbook, source)
            same = _same_content(session, incident, kind, key)
            if same is not None:
                assert incident.id is not None and same.id is not None
                return Stored(incident.id, same.id, same.number, existing=True)
            if not new_update:
                _refuse_unasked(session, incident, source)
        update = add_update(session=session, incident=incident, update_in=UpdateCreate.model_validate(values))
        update.state = state
        update.content_hash = key
        commitments.record(
            session=session,
            incident=incident,
            promises=list(facts.commitments),
            today=facts.as_of.astimezone(UTC).date(),
            actor=commander or "clarion",
            source=source,
        )
        session.add_all([incident, update])
        session.commit()
        assert incident.id is not None and update.id is not None
        return Stored(incident.id, update.id, update.number, existing=False)


def _incident_in(playbook: Playbook, facts: Facts, commander: str | None) -> IncidentCreate:
    return IncidentCreate(
        reference=facts.reference,
        playbook=playbook.name,
        severity=facts.severity,
        title=facts.title,
        status=facts.status,
        aware_at=facts.aware_at or facts.as_of,
        started_at=facts.started_at,
        public_time_zone=playbook.public_time_zone or "UTC",
        commander=commander,
    )


def _check_belongs(incident: Incident, playbook: Playbook, source: str) -> None:
    if incident.playbook != playbook.name:
        message = (
            f"{incident.reference} is an incident of playbook {incident.playbook}; facts of playbook "
            f"{playbook.name} cannot be added to it"
        )
        raise InputError([Problem(source, None, "reference", message)])


def _same_content(session: Session, incident: Incident, kind: UpdateKind, key: str) -> Update | None:
    statement = (
        select(Update)
        .where(Update.incident_id == incident.id, Update.content_hash == key, Update.kind == kind)
        .where(Update.state != UpdateState.REJECTED)
        .order_by(col(Update.number).desc())
    )
    return session.exec(statement.limit(1)).first()


def _refuse_unasked(session: Session, incident: Incident, source: str) -> None:
    latest = session.exec(
        select(Update).where(Update.incident_id == incident.id).order_by(col(Update.number).desc()).limit(1)
    ).first()
    if latest is None:
        return  # declared, nothing drafted yet: this is its first update
    message = (
        f"{incident.reference} already has update {latest.number} ({latest.state.value}) with other facts; "
        f"to publish these as update {latest.number + 1}, say so with --new-update"
    )
    raise InputError([Problem(source, None, "reference", message)])
