"""What people do with a commitment once it is stored: start it, ship it, drop it.

Each change is checked before anything is written, and written with its audit entry in one
transaction: ``commitment.started``, ``commitment.shipped`` (with the note of what was built and
whether customers asked for it), ``commitment.dropped`` (with the public reason). Shipped and dropped
are final: shipping twice, or dropping what shipped, is refused and changes nothing. An unknown
incident or commitment names what the incident does have.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from clarion import audit
from clarion.commitments.record import FINAL
from clarion.errors import InputError, Problem
from clarion.files.text import first_unsafe
from clarion.kinds import CommitmentState
from clarion.models import Commitment, Incident

MAX_NOTE = 1_000
"""A note is public (the follow-up and the status page tell it): a paragraph, not a report."""


@dataclass(frozen=True)
class Changed:
    reference: str
    key: str
    state: CommitmentState
    followup_due: bool
    """Shipped, and its "you asked, we built it" follow-up is not staged yet."""


def find(session: Session, reference: str, key: str) -> tuple[Incident, Commitment]:
    """The incident and its commitment ``key``; InputError naming what there is."""
    incident = session.exec(select(Incident).where(Incident.reference == reference)).first()
    if incident is None:
        raise InputError([Problem("command", None, "incident", f"there is no incident {reference}")])
    rows = session.exec(
        select(Commitment).where(Commitment.incident_id == incident.id).order_by(col(Commitment.id))
    ).all()
    for row in rows:
        if row.key == key:
            return incident, row
    has = ", ".join(r.key for r in rows) or "none"
    raise InputError(
        [Problem("command", None, "commitment", f"{reference} has no commitment {key} (it has: {has})")]
    )


def _note(text: str | None, field: str, *, required: bool) -> str | None:
    text = (text or "").strip()
    if not text:
        if required:
            raise InputError([Problem("command", None, field, "say it in a sentence: it is public")])
        return None
    if len(text) > MAX_NOTE:
        raise InputError([Problem("command", None, field, f"{len(text)} characters; at most {MAX_NOTE}")])
    if (problem := first_unsafe(text)) is not None:
        raise InputError([Problem("command", None, field, problem)])
    return text


def _refuse_final(reference: str, row: Commitment, doing: str) -> None:
    if row.state in FINAL:
        when = f" on {row.changed_at:%Y-%m-%d}" if row.changed_at else ""
        raise InputError(
            [
                Problem(
                    "command",
                    None,
                    "commitment",
                    f"{reference} {row.key} was {row.state.value}{when}: cannot {doing}",
                )
            ]
        )


def start(*, session: Session, reference: str, key: str, actor: str, now: datetime) -> Changed:
    """Planned → in progress (in progress again changes nothing)."""
    incident, row = find(session, reference, key)
    _refuse_final(reference, row, "start it")
    if row.state is not CommitmentState.IN_PROGRESS:
        row.state = CommitmentState.IN_PROGRESS
        session.add(row)
        _log(session, actor, "commitment.started", incident, row, {})
        session.commit()
    return Changed(reference, key, row.state, followup_due=False)


def ship(
    *, session: Session, reference: str, key: str, note: str, asked: bool, actor: str, now: datetime
) -> Changed:
    """Shipped, with what was built (public) and whether survey answers asked for it. Shipping what
    already shipped changes nothing, and says whether its follow-up still has to be staged."""
    incident, row = find(session, reference, key)
    if row.state is CommitmentState.SHIPPED:
        return Changed(reference, key, row.state, followup_due=row.followup_update is None)
    _refuse_final(reference, row, "ship it")
    text = _note(note, "--note", required=True)
    row.state, row.note, row.asked = CommitmentState.SHIPPED, text, asked
    row.changed_at, row.changed_by = now, actor
    session.add(row)
    details = {
        "note": text,
        "asked": asked,
        "due": row.due_on.isoformat(),
        "on_time": now.date() <= row.due_on,
    }
    _log(session, actor, "commitment.shipped", incident, row, details)
    session.commit()
    return Changed(reference, key, row.state, followup_due=True)


def drop(*, session: Session, reference: str, key: str, reason: str, actor: str, now: datetime) -> Changed:
    """Dropped, with the public reason why."""
    incident, row = find(session, reference, key)
    _refuse_final(reference, row, "drop it")
    text = _note(reason, "--reason", required=True)
    row.state, row.note, row.changed_at, row.changed_by = CommitmentState.DROPPED, text, now, actor
    session.add(row)
    _log(session, actor, "commitment.dropped", incident, row, {"reason": text})
    session.commit()
    return Changed(reference, key, row.state, followup_due=False)


def _log(
    session: Session, actor: str, action: str, incident: Incident, row: Commitment, details: Mapping[str, Any]
) -> None:
    subject = f"{incident.reference}/commitment/{row.key}"
    audit.append(session=session, actor=actor, action=action, subject=subject, details=details)
