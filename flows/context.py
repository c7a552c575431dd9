"""What every flow needs about one incident: settings, store, playbook, audiences and its clock."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, select

from clarion.audiences.sources import Source, playbook_sources
from clarion.incidents.clock import IncidentClock
from clarion.models import Incident, Update
from clarion.playbook import Playbook, load_playbook, resolve_playbook
from clarion.responders.people import People, people_of
from clarion.settings import Settings, get_settings
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

    @property
    def people(self) -> People | None:
        """The playbook's people file, read once per process while neither file changes (None when
        the playbook names none)."""
        if self.playbook.responders is None:
            return None
        people_path = self.playbook_path.parent / self.playbook.responders
        return _people_at(str(self.playbook_path), *_version(self.playbook_path), *_version(people_path))

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
    """The playbook ``name``, read and validated once per process while its file does not change:
    a flow run and its tasks (each opens the incident's context) share one reading."""
    path = resolve_playbook(name, settings.playbooks_dir)
    version = _version(path)
    if version == (0, 0):  # not a readable file: load_playbook says what is wrong, with its name
        return load_playbook(path), path
    return _playbook_at(str(path), *version), path


def _version(path: Path) -> tuple[int, int]:
    """What tells a file's readings apart: its modification time and size ((0, 0) when unreadable)."""
    try:
        found = path.stat()
    except OSError:
        return 0, 0
    return found.st_mtime_ns, found.st_size


@functools.lru_cache(maxsize=16)
def _playbook_at(path: str, mtime_ns: int, size: int) -> Playbook:
    return load_playbook(Path(path))


@functools.lru_cache(maxsize=16)
def _people_at(playbook_path: str, *version: int) -> People | None:
    path = Path(playbook_path)
    return people_of(_playbook_at(playbook_path, version[0], version[1]), path)


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
