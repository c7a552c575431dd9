"""Where incidents stand, read from the store: the data behind ``clarion status``.

Plain reads in one snapshot (:func:`clarion.store.reading`), so they never wait for (or hold up) a
writer. Which approvals are still wanted is the approval module's call
(:func:`clarion.incidents.approvals.pending_roles`), asked only for an update that waits for approval.

Promises are times on the incident's clock (:mod:`clarion.incidents.clock`), so how long is left until one is
measured on that clock too: with ``time_scale`` above 1 (demos) an hour passes in seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, col, select

from clarion import store
from clarion.errors import NotFound, PlaybookError
from clarion.incidents.approvals import pending_roles
from clarion.incidents.clock import IncidentClock
from clarion.kinds import Channel, DeliveryState, IncidentStatus, UpdateKind, UpdateState
from clarion.models import Incident, Update, utcnow
from clarion.outbox.counts import state_counts
from clarion.playbook import Playbook, load_playbook, resolve_playbook

#: How delivery states are grouped for people: the provider took it, it failed, it is still to go.
DELIVERY_GROUPS: Mapping[str, tuple[DeliveryState, ...]] = {
    "accepted": (DeliveryState.ACCEPTED, DeliveryState.DELIVERED),
    "failed": (DeliveryState.FAILED, DeliveryState.BOUNCED),
    "pending": (DeliveryState.PENDING, DeliveryState.CLAIMED),
    "suppressed": (DeliveryState.SUPPRESSED,),
}


@dataclass(frozen=True, slots=True)
class IncidentSummary:
    reference: str
    playbook: str
    severity: str
    status: IncidentStatus
    title: str
    updates: int
    last_published_at: datetime | None
    next_update_by: datetime | None
    """The promise of the latest published update; None once resolved or before the first publish."""
    due_in: timedelta | None
    """Time left until ``next_update_by`` on the incident's clock; negative when the promise lapsed."""
    pending_approvals: tuple[str, ...] | None
    """Roles whose answer the latest update waits for; None when its playbook cannot be read."""


@dataclass(frozen=True, slots=True)
class UpdateLine:
    number: int
    kind: UpdateKind
    state: UpdateState
    status: IncidentStatus
    published_at: datetime | None
    next_update_by: datetime


@dataclass(frozen=True, slots=True)
class DeliveryCounts:
    accepted: int = 0
    failed: int = 0
    pending: int = 0
    suppressed: int = 0

    @property
    def total(self) -> int:
        return self.accepted + self.failed + self.pending + self.suppressed


@dataclass(frozen=True, slots=True)
class IncidentReport:
    """One incident in full: its summary, every update, and the deliveries of the latest publish."""

    summary: IncidentSummary
    commander: str | None
    declared_at: datetime
    resolved_at: datetime | None
    updates: tuple[UpdateLine, ...]
    published_update: int | None
    """Number of the latest published update: the one ``deliveries`` counts."""
    deliveries: Mapping[Channel, DeliveryCounts]


PlaybookLoader = Callable[[str], Playbook]


def playbook_loader(playbooks_dir: Path) -> PlaybookLoader:
    """Load playbooks by name from ``playbooks_dir``, each once."""
    loaded: dict[str, Playbook] = {}

    def load(name: str) -> Playbook:
        if name not in loaded:
            loaded[name] = load_playbook(resolve_playbook(name, playbooks_dir))
        return loaded[name]

    return load


def list_incidents(
    engine: sa.Engine, *, playbooks_dir: Path, time_scale: float = 1.0, now: datetime | None = None
) -> list[IncidentSummary]:
    """Every incident, newest first; ``now`` is the wall clock (the present when None)."""
    load = playbook_loader(playbooks_dir)
    at = _At(now or utcnow(), time_scale)
    with store.reading(engine) as connection, Session(bind=connection) as session:
        incidents = session.exec(select(Incident).order_by(col(Incident.id).desc())).all()
        by_incident: dict[int, list[Update]] = {}
        for update in session.exec(select(Update).order_by(col(Update.number))).all():
            by_incident.setdefault(update.incident_id, []).append(update)
        return [
            _summary(session, incident, by_incident.get(_id(incident), []), load, at)
            for incident in incidents
        ]


def incident_report(
    engine: sa.Engine,
    *,
    reference: str,
    playbooks_dir: Path,
    time_scale: float = 1.0,
    now: datetime | None = None,
) -> IncidentReport:
    """The incident named ``reference`` in full; raises :class:`NotFound`."""
    load = playbook_loader(playbooks_dir)
    at = _At(now or utcnow(), time_scale)
    with store.reading(engine) as connection, Session(bind=connection) as session:
        incident = session.exec(select(Incident).where(Incident.reference == reference)).first()
        if incident is None:
            raise NotFound("incident", reference)
        updates = list(
            session.exec(select(Update).where(Update.incident_id == incident.id).order_by(col(Update.number)))
        )
        summary = _summary(session, incident, updates, load, at)
    published = _latest_published(updates)
    deliveries = group_deliveries(state_counts(engine, update_id=published.id)) if published else {}
    return IncidentReport(
        summary=summary,
        commander=incident.commander,
        declared_at=incident.declared_at,
        resolved_at=incident.resolved_at,
        updates=tuple(
            UpdateLine(u.number, u.kind, u.state, u.status, u.published_at, u.next_update_by) for u in updates
        ),
        published_update=published.number if published else None,
        deliveries=deliveries,
    )


def group_deliveries(counts: Mapping[tuple[Channel, DeliveryState], int]) -> dict[Channel, DeliveryCounts]:
    """Per channel, the ledger's states in the four groups of :data:`DELIVERY_GROUPS`."""
    grouped: dict[Channel, DeliveryCounts] = {}
    for channel in sorted({c for c, _ in counts}, key=list(Channel).index):
        grouped[channel] = DeliveryCounts(
            **{
                group: sum(counts.get((channel, state), 0) for state in states)
                for group, states in DELIVERY_GROUPS.items()
            }
        )
    return grouped


@dataclass(frozen=True, slots=True)
class _At:
    wall: datetime
    time_scale: float

    def on_clock_of(self, incident: Incident) -> datetime:
        return IncidentClock(incident.declared_at, self.time_scale, wall_now=lambda: self.wall).now()


def _summary(
    session: Session, incident: Incident, updates: Sequence[Update], load: PlaybookLoader, at: _At
) -> IncidentSummary:
    published = _latest_published(updates)
    resolved = incident.status is IncidentStatus.RESOLVED
    promise = published.next_update_by if published and not resolved else None
    return IncidentSummary(
        reference=incident.reference,
        playbook=incident.playbook,
        severity=incident.severity,
        status=incident.status,
        title=incident.title,
        updates=len(updates),
        last_published_at=published.published_at if published else None,
        next_update_by=promise,
        due_in=promise - at.on_clock_of(incident) if promise else None,
        pending_approvals=_pending(session, updates[-1] if updates else None, incident.playbook, load),
    )


def _pending(
    session: Session, update: Update | None, playbook: str, load: PlaybookLoader
) -> tuple[str, ...] | None:
    if update is None or update.state is not UpdateState.PENDING_APPROVAL:
        return ()
    try:
        book = load(playbook)
    except PlaybookError:
        return None  # shown as unknown; `clarion playbooks lint` names the problem
    return tuple(pending_roles(session=session, update=update, playbook=book))


def _latest_published(updates: Sequence[Update]) -> Update | None:
    return next((u for u in reversed(updates) if u.state is UpdateState.PUBLISHED), None)


def _id(incident: Incident) -> int:
    assert incident.id is not None
    return incident.id
