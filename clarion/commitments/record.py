"""Commitments enter the store with the update that first names them.

:func:`record` runs in the transaction that stores an update (:func:`clarion.updates.drafts.store_update`),
so an update and its commitments are stored together or not at all. A commitment the incident does
not have yet is created (``commitment.created`` in the audit log); one it has and that is still open
takes the facts' text, owner and due day when they changed (``commitment.changed``); one that was
shipped or dropped is final and the facts cannot change it.

A commitment may not be due before the update that creates it, nor be moved to such a day:
:func:`problems` says so, named by field, and the update is refused before anything is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from sqlmodel import Session, select

from clarion import audit
from clarion.commitments.promises import Promise
from clarion.errors import InputError, Problem
from clarion.kinds import CommitmentState
from clarion.models import Commitment, Incident

FINAL = (CommitmentState.SHIPPED, CommitmentState.DROPPED)


def stored(session: Session, incident_id: int) -> dict[str, Commitment]:
    """The incident's commitments by key."""
    rows = session.exec(select(Commitment).where(Commitment.incident_id == incident_id)).all()
    return {row.key: row for row in rows}


def problems(
    promises: list[Promise], known: Mapping[str, Commitment], *, today: date
) -> list[tuple[tuple[str | int, ...], str]]:
    """(location, message) for every commitment that would be created, or moved, to a day before
    ``today``."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    for index, promise in enumerate(promises):
        row = known.get(promise.id)
        if row is not None and (row.state in FINAL or row.due_on == promise.due):
            continue  # final, or its day unchanged: a commitment may fall overdue, that is the point
        if promise.due < today:
            what = "a new commitment" if row is None else f"{promise.id} (due {row.due_on})"
            message = (
                f"{promise.due} is before {today}, the day of this update: {what} cannot be due in the past"
            )
            found.append((("commitments", index, "due"), message))
    return found


def check(promises: list[Promise], known: Mapping[str, Commitment], *, today: date, source: str) -> None:
    """Raise :class:`InputError` with every problem of :func:`problems`."""
    if found := problems(promises, known, today=today):
        raise InputError([Problem(source, None, ".".join(map(str, loc)), message) for loc, message in found])


def record(
    *, session: Session, incident: Incident, promises: list[Promise], today: date, actor: str, source: str
) -> list[str]:
    """Create or change the incident's commitments as ``promises`` say, in the caller's transaction;
    returns the keys created or changed. Raises :class:`InputError` first (nothing written) when a
    commitment would be due in the past."""
    assert incident.id is not None
    known = stored(session, incident.id)
    check(promises, known, today=today, source=source)
    touched = []
    for promise in promises:
        row = known.get(promise.id)
        subject = f"{incident.reference}/commitment/{promise.id}"
        if row is None:
            row = Commitment(
                incident_id=incident.id,
                key=promise.id,
                texts=dict(promise.text),
                owner=promise.owner,
                due_on=promise.due,
            )
            session.add(row)
            details = {"owner": promise.owner, "due": promise.due.isoformat(), "texts": dict(promise.text)}
            audit.append(
                session=session, actor=actor, action="commitment.created", subject=subject, details=details
            )
            touched.append(promise.id)
            continue
        if row.state in FINAL:
            continue
        changed = _changes(row, promise)
        if changed:
            row.texts, row.owner, row.due_on = dict(promise.text), promise.owner, promise.due
            if "due" in changed:
                row.reminded_at = row.escalated_at = None  # a new day: remind and escalate for it
            session.add(row)
            audit.append(
                session=session, actor=actor, action="commitment.changed", subject=subject, details=changed
            )
            touched.append(promise.id)
    return touched


def _changes(row: Commitment, promise: Promise) -> dict[str, object]:
    changed: dict[str, object] = {}
    if row.texts != dict(promise.text):
        changed["texts"] = dict(promise.text)
    if row.owner != promise.owner:
        changed["owner"] = {"from": row.owner, "to": promise.owner}
    if row.due_on != promise.due:
        changed["due"] = {"from": row.due_on.isoformat(), "to": promise.due.isoformat()}
    return changed
