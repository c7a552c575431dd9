"""What every flow needs about one incident: settings, store, playbook, audiences and its clock."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, select

from clarion.clock import IncidentClock
from clarion.models import Incident, Update
from clarion.playbook import Playbook, load_playbook, resolve_playbook
from clarion.responders.people import People, people_of
from clarion.settings import Settings, get_settings
from clarion.sources import Source, playbook_sources
from clarion.store import get_engine, get_incident, require_current


@dataclass
class IncidentContext:
    settings: Settings
    engine: sa.Engine
    playbook: Playbook
    playbook_path: Path
    incident: Incident
    clock: IncidentClock

    @property
    def reference(self) -> str:
        return self.incident.reference

    @property
    def sources(self) -> dict[str, Source]:
        return playbook_sources(self.playbook, self.playbook_path, self.settings)

    @functools.cached_property
    def people(self) -> People | None:
        """The playbook's people file, read once per run (None when it names none)."""
        return people_of(self.playbook, self.playbook_path)

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def refresh(self) -> Incident:
        with self.session() as session:
            self.incident = get_incident(session=session, reference=self.reference)
        return self.incident

    def update(self, number: int) -> Update:
        with self.session() as session:
            found = session.exec(
                select(Update).where(Update.incident_id == self.incident.id, Update.number == number)
            ).first()
        if found is None:
            raise LookupError(f"{self.reference} has no update {number}")
        return found


def load_playbook_named(name: str, settings: Settings) -> tuple[Playbook, Path]:
    path = resolve_playbook(name, settings.playbooks_dir)
    return load_playbook(path), path


def store() -> tuple[Settings, sa.Engine]:
    """The settings and the store, which must exist at the newest migration: flows never migrate
    (``clarion db upgrade``, ``serve`` and the outbox worker's start do), since Alembic cannot run in
    the concurrent threads of a flow's tasks."""
    settings = get_settings()
    return settings, require_current(get_engine())


def open_context(reference: str) -> IncidentContext:
    """Everything about the incident ``reference`` (raises NotFound for an unknown one)."""
    settings, engine = store()
    with Session(engine, expire_on_commit=False) as session:
        incident = get_incident(session=session, reference=reference)
    playbook, path = load_playbook_named(incident.playbook, settings)
    clock = IncidentClock(incident.declared_at, settings.time_scale)
    return IncidentContext(settings, engine, playbook, path, incident, clock)
