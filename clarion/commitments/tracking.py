"""Where the commitments stand, and when their owners hear about them.

A commitment is due at the end of its day (UTC). Its owner is reminded ``remind_before`` that moment
(the playbook's ``commitments.remind_before``, three days unless it says otherwise), and when the
moment passes with the commitment still open it is overdue: the owner and the playbook's
``commitments.escalate_to`` (the incident's commander when it names nobody) are told. Both are
scheduled runs (``flows/commitments.py``) that ask :func:`telling_due` when they run, so a commitment
shipped, dropped or moved in the meantime tells nobody.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from sqlmodel import Session, col, select

from clarion.commitments.record import FINAL
from clarion.kinds import CommitmentState
from clarion.models import Commitment, Incident


class Phase(StrEnum):
    REMIND = "remind"
    ESCALATE = "escalate"


def due_moment(due_on: date) -> datetime:
    """The end of the day it is due, UTC."""
    return datetime.combine(due_on + timedelta(days=1), time(0), tzinfo=UTC)


def is_open(row: Commitment) -> bool:
    return row.state not in FINAL


def is_overdue(row: Commitment, now: datetime) -> bool:
    return is_open(row) and now >= due_moment(row.due_on)


def checks(row: Commitment, remind_before: timedelta) -> list[tuple[Phase, datetime]]:
    """When the owner is reminded, and when the commitment is checked for being overdue."""
    due = due_moment(row.due_on)
    return [(Phase.REMIND, due - remind_before), (Phase.ESCALATE, due)]


def telling_due(row: Commitment, phase: Phase, *, due_on: date, now: datetime) -> bool:
    """Whether a run of ``phase`` scheduled for the day ``due_on`` still has something to say."""
    if not is_open(row) or row.due_on != due_on:
        return False  # shipped, dropped, or moved to another day (which has runs of its own)
    if phase is Phase.REMIND:
        return row.reminded_at is None
    return row.escalated_at is None and is_overdue(row, now)


@dataclass(frozen=True)
class Listed:
    """One commitment as ``clarion commitments`` shows it."""

    reference: str
    key: str
    text: str
    owner: str
    due_on: date
    state: CommitmentState
    note: str | None
    overdue: bool
    days_left: int
    """Days from today to the due day (negative once past it)."""
    followup_update: int | None


def listed(
    session: Session, *, now: datetime, reference: str | None = None, overdue_only: bool = False
) -> list[Listed]:
    """The commitments of one incident (or of all), by due day; only the overdue ones when asked."""
    statement = select(Commitment, Incident).join(Incident, col(Incident.id) == col(Commitment.incident_id))
    if reference is not None:
        statement = statement.where(Incident.reference == reference)
    rows = session.exec(
        statement.order_by(col(Commitment.due_on), col(Incident.reference), col(Commitment.key))
    )
    found = []
    for row, incident in rows:
        overdue = is_overdue(row, now)
        if overdue_only and not overdue:
            continue
        text = next(iter(row.texts.values()), "")
        found.append(
            Listed(
                reference=incident.reference,
                key=row.key,
                text=text,
                owner=row.owner,
                due_on=row.due_on,
                state=row.state,
                note=row.note,
                overdue=overdue,
                days_left=(row.due_on - now.astimezone(UTC).date()).days,
                followup_update=row.followup_update,
            )
        )
    return found
