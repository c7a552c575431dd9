"""The public record: every incident and maintenance as the public saw it, read from the store.

Only published updates count: an incident appears once its first update went out, and a draft
waiting for approval is never shown. Each :class:`PublicIncident` holds its updates oldest first,
with the four parts per locale, the facts as published and the component states they gave
(filled in when the update was drafted, :func:`clarion.statuspage.state.with_component_status`).

:func:`load_record` reads everything in two queries. :func:`generation` is the cheap question a
cache asks first ("has anything been published or resolved since?"): it changes whenever an update is
published or an incident resolved, so a cached page is invalidated by the act of publishing, in
whichever process published.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from clarion.kinds import CommitmentState, IncidentStatus, UpdateKind, UpdateState
from clarion.models import Commitment, Incident, Update
from clarion.statuspage.components import ComponentStatus

PARTS = ("apology", "cause", "fix", "prevention")


@dataclass(frozen=True)
class Window:
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class PublishedUpdate:
    """One update as it went out: never changes once published."""

    id: int
    number: int
    kind: UpdateKind
    status: IncidentStatus
    published_at: datetime
    next_update_by: datetime
    parts: Mapping[str, Mapping[str, Mapping[str, str | None]]]
    """``parts[part][locale]`` is ``{"text": …, "short": …}``; a part not yet known is empty."""
    facts: Mapping[str, Any]

    @property
    def components(self) -> dict[str, ComponentStatus]:
        """Component id → the state this update gave it (ids it names without one: partial outage)."""
        impact = self.facts.get("impact") or {}
        given = impact.get("component_status") or {}
        return {
            str(c): ComponentStatus(given.get(c, ComponentStatus.PARTIAL_OUTAGE))
            for c in impact.get("components") or []
        }

    @property
    def window(self) -> Window | None:
        """The maintenance window this update announced, if it is a maintenance."""
        given = self.facts.get("maintenance")
        if not given:
            return None
        return Window(
            datetime.fromisoformat(given["starts_at"]).astimezone(self.published_at.tzinfo),
            datetime.fromisoformat(given["ends_at"]).astimezone(self.published_at.tzinfo),
        )

    def text(self, part: str, locale: str, *, short: bool = False) -> str | None:
        """The part's text in ``locale``, else English, else any locale it was told in."""
        told = self.parts.get(part) or {}
        for candidate in (locale, "en", *told):
            entry = told.get(candidate) or {}
            value = (
                (entry.get("short") or entry.get("text"))
                if short
                else (entry.get("text") or entry.get("short"))
            )
            if value:
                return value
        return None

    def title(self, locale: str, default: str) -> str:
        story = (self.facts.get("story") or {}).get(locale) or {}
        return str(story.get("title") or default)

    @property
    def contact(self) -> Mapping[str, str]:
        return {k: str(v) for k, v in (self.facts.get("contact") or {}).items() if v}

    @property
    def link(self) -> str | None:
        value = self.facts.get("status_page_url")
        return str(value) if value else None


@dataclass(frozen=True)
class PublicCommitment:
    """A prevention commitment as the public may see it: no owner (a person inside), its promise per
    locale, its day, its state and the public note of what became of it."""

    key: str
    texts: Mapping[str, str]
    due_on: date
    state: CommitmentState
    note: str | None
    changed_at: datetime | None


@dataclass(frozen=True)
class PublicIncident:
    """An incident (or a maintenance) and every update the public received, oldest first."""

    id: int
    reference: str
    title: str
    playbook: str
    severity: str
    declared_at: datetime
    started_at: datetime | None
    resolved_at: datetime | None
    time_zone: str
    updates: tuple[PublishedUpdate, ...] = field(default_factory=tuple)
    commitments: tuple[PublicCommitment, ...] = field(default_factory=tuple)

    @property
    def latest(self) -> PublishedUpdate:
        return self.updates[-1]

    @property
    def first(self) -> PublishedUpdate:
        return self.updates[0]

    @property
    def status(self) -> IncidentStatus:
        return self.latest.status

    @property
    def resolved(self) -> bool:
        return self.status is IncidentStatus.RESOLVED or self.resolved_at is not None

    @property
    def ended_at(self) -> datetime | None:
        """When it was told resolved (the resolving update), else when the incident row resolved."""
        if self.status is IncidentStatus.RESOLVED:
            return self.latest.published_at
        return self.resolved_at

    @property
    def window(self) -> Window | None:
        """The window the latest update that gave one announced (a resolving update need not repeat it)."""
        return next((u.window for u in reversed(self.updates) if u.window is not None), None)

    @property
    def is_maintenance(self) -> bool:
        return self.window is not None

    def title_in(self, locale: str) -> str:
        return self.latest.title(locale, self.title)


@dataclass(frozen=True)
class Record:
    """Everything the status page shows, newest incident first."""

    incidents: tuple[PublicIncident, ...]

    def find(self, reference: str) -> PublicIncident | None:
        return next((i for i in self.incidents if i.reference == reference), None)


_UPDATE_COLUMNS = (
    Update.incident_id, Update.id, Update.number, Update.kind, Update.status, Update.published_at,
    Update.next_update_by, Update.apology, Update.cause, Update.fix, Update.prevention, Update.facts,
)  # fmt: skip


def load_record(connection: sa.Connection) -> Record:
    """Every incident with at least one published update, and those updates, from the store."""
    rows = connection.execute(
        sa.select(*(col(c) for c in _UPDATE_COLUMNS))
        .where(col(Update.state) == UpdateState.PUBLISHED, col(Update.published_at).is_not(None))
        .order_by(col(Update.incident_id), col(Update.published_at), col(Update.number))
    ).all()
    by_incident: dict[int, list[PublishedUpdate]] = {}
    for row in rows:
        incident_id, update_id, number, kind, status, published_at, next_by, *parts, facts = row
        by_incident.setdefault(incident_id, []).append(
            PublishedUpdate(
                id=update_id,
                number=number,
                kind=UpdateKind(kind),
                status=IncidentStatus(status),
                published_at=published_at,
                next_update_by=next_by,
                parts={name: value or {} for name, value in zip(PARTS, parts, strict=True)},
                facts=facts or {},
            )
        )
    if not by_incident:
        return Record(())
    incidents = connection.execute(
        sa.select(
            col(Incident.id), col(Incident.reference), col(Incident.title), col(Incident.playbook),
            col(Incident.severity), col(Incident.declared_at), col(Incident.started_at),
            col(Incident.resolved_at), col(Incident.public_time_zone),
        ).where(col(Incident.id).in_(list(by_incident)))
    ).all()  # fmt: skip
    promised = _commitments(connection, list(by_incident))
    out = [
        PublicIncident(
            *row,  # type: ignore[arg-type]
            updates=tuple(by_incident[row.id]),
            commitments=promised.get(row.id, ()),
        )
        for row in incidents
    ]
    out.sort(key=lambda i: (i.first.published_at, i.id), reverse=True)
    return Record(tuple(out))


def _commitments(
    connection: sa.Connection, incident_ids: list[int]
) -> dict[int, tuple[PublicCommitment, ...]]:
    rows = connection.execute(
        sa.select(
            col(Commitment.incident_id), col(Commitment.key), col(Commitment.texts), col(Commitment.due_on),
            col(Commitment.state), col(Commitment.note), col(Commitment.changed_at),
        )
        .where(col(Commitment.incident_id).in_(incident_ids))
        .order_by(col(Commitment.incident_id), col(Commitment.due_on), col(Commitment.key))
    ).all()  # fmt: skip
    found: dict[int, list[PublicCommitment]] = {}
    for incident_id, key, texts, due_on, state, note, changed_at in rows:
        found.setdefault(incident_id, []).append(
            PublicCommitment(key, texts or {}, due_on, CommitmentState(state), note, changed_at)
        )
    return {incident_id: tuple(items) for incident_id, items in found.items()}


def generation(connection: sa.Connection) -> tuple[Any, ...]:
    """What changes whenever something public changes: the newest published update, how many there
    are, and the newest resolution. One indexed query; a cache compares it before serving."""
    published = connection.execute(
        sa.select(sa.func.max(col(Update.published_at)), sa.func.count()).where(
            col(Update.state) == UpdateState.PUBLISHED
        )
    ).one()
    resolved = connection.execute(
        sa.select(sa.func.max(col(Incident.resolved_at)), sa.func.count(col(Incident.resolved_at)))
    ).one()
    promised = connection.execute(
        sa.select(sa.func.max(col(Commitment.updated_at)), sa.func.count(col(Commitment.id)))
    ).one()  # a commitment shipped or dropped changes the page without a new update
    return (*published, *resolved, *promised)
