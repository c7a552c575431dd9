"""One consistent view of the status page at one moment: what every public document is built from.

A :class:`Snapshot` is the public record (:mod:`clarion.statuspage.record`), the components file
and the moment, plus the page's identity from the settings and the survey ratios it may publish
(:func:`clarion.surveys.report.published_ratios`, each incident's minimum of answers read from its
playbook). Every derived value (component states, the indicator, the 90-day bars) is computed once
per snapshot, however many documents read it, so the HTML, the JSON API, the feeds and the static
export always agree with each other. The JSON API says nothing of surveys (it mirrors Statuspage's).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlmodel import Session

from clarion import store
from clarion.errors import ClarionError
from clarion.playbook import SurveyPolicy, load_playbook, resolve_playbook
from clarion.settings import Settings
from clarion.statuspage.components import Catalogue, ComponentStatus, catalogue_at
from clarion.statuspage.record import PublicIncident, Record, load_record
from clarion.statuspage.state import (
    History,
    MaintenanceStatus,
    changes_after,
    component_history,
    component_states,
    indicator,
    maintenance_status,
)
from clarion.surveys.report import PublishedRatios, published_ratios

DEFAULT_MINIMUM: int = SurveyPolicy.model_fields["min_answers_to_publish"].default
"""The minimum of answers of an incident whose playbook cannot be read."""

INDICATOR_DESCRIPTION = {  # Statuspage's own wording of each indicator
    "none": "All Systems Operational",
    "maintenance": "Service Under Maintenance",
    "minor": "Minor Service Outage",
    "major": "Partial System Outage",
    "critical": "Major System Outage",
}


@dataclass(frozen=True)
class PageInfo:
    """The page itself: its id is derived from the public URL (stable per deployment)."""

    id: str
    name: str
    url: str
    time_zone: str

    @classmethod
    def of(cls, public_url: str, time_zone: str) -> PageInfo:
        url = public_url.rstrip("/")
        page_id = hashlib.blake2b(url.encode(), digest_size=6).hexdigest()
        return cls(page_id, urlsplit(url).hostname or url, url, time_zone)

    def incident_url(self, reference: str) -> str:
        return f"{self.url}/incidents/{reference}"


@dataclass(frozen=True)
class Snapshot:
    record: Record
    catalogue: Catalogue
    now: datetime
    page: PageInfo
    surveys: PublishedRatios = field(default_factory=PublishedRatios)
    """What the surveys' answers may say in public (nothing below a playbook's minimum)."""

    @cached_property
    def incidents(self) -> tuple[PublicIncident, ...]:
        """Incidents (not maintenance), newest first."""
        return tuple(i for i in self.record.incidents if not i.is_maintenance)

    @cached_property
    def maintenances(self) -> tuple[PublicIncident, ...]:
        """Maintenance, newest announcement first."""
        return tuple(i for i in self.record.incidents if i.is_maintenance)

    @cached_property
    def open_incidents(self) -> tuple[PublicIncident, ...]:
        return tuple(i for i in self.incidents if not i.resolved)

    def maintenance_status(self, incident: PublicIncident) -> MaintenanceStatus:
        return maintenance_status(incident, self.now)

    def maintenances_in(self, *statuses: MaintenanceStatus) -> tuple[PublicIncident, ...]:
        """Maintenance in one of ``statuses``, soonest window first."""
        chosen = [m for m in self.maintenances if self.maintenance_status(m) in statuses]
        return tuple(sorted(chosen, key=lambda m: m.window.starts_at if m.window else self.now))

    @cached_property
    def active_maintenances(self) -> tuple[PublicIncident, ...]:
        return self.maintenances_in(MaintenanceStatus.IN_PROGRESS, MaintenanceStatus.VERIFYING)

    @cached_property
    def upcoming_maintenances(self) -> tuple[PublicIncident, ...]:
        return self.maintenances_in(MaintenanceStatus.SCHEDULED)

    @cached_property
    def states(self) -> dict[str, ComponentStatus]:
        """Every listed component's state now."""
        return component_states(self.catalogue, self.record.incidents, self.now)

    @cached_property
    def indicator(self) -> str:
        """none, maintenance, minor, major or critical."""
        live = (*self.open_incidents, *self.active_maintenances)
        return indicator(live, self.states, self.now)

    @property
    def description(self) -> str:
        return INDICATOR_DESCRIPTION[self.indicator]

    @cached_property
    def histories(self) -> dict[str, History]:
        """Each listed component's last 90 days."""
        return component_history(self.catalogue, self.record.incidents, self.now)

    @cached_property
    def valid_until(self) -> datetime:
        """When time alone makes this snapshot wrong (a window opens or closes, a day ends)."""
        return changes_after(self.record.incidents, self.now)

    @cached_property
    def updated_at(self) -> datetime | None:
        """The last time anything on the page changed by a publication."""
        moments = [u.published_at for i in self.record.incidents for u in i.updates]
        moments += [i.resolved_at for i in self.record.incidents if i.resolved_at is not None]
        return max(moments, default=None)

    def summary(self) -> dict[str, Any]:
        """A few figures for logs and the CLI (no personal data)."""
        return {
            "indicator": self.indicator,
            "incidents": len(self.incidents),
            "open": len(self.open_incidents),
            "maintenance": len(self.maintenances),
            "components": len(self.catalogue.components),
        }


def minimums(playbooks_dir: Path) -> Callable[[str], int]:
    """A playbook's ``survey.min_answers_to_publish`` by name, each read once; the default when the
    playbook cannot be read (renamed, removed, broken): the page is never refused for it."""
    known: dict[str, int] = {}

    def minimum_for(name: str) -> int:
        if name not in known:
            try:
                book = load_playbook(resolve_playbook(name, playbooks_dir))
                known[name] = book.survey.min_answers_to_publish
            except (ClarionError, OSError):
                known[name] = DEFAULT_MINIMUM
        return known[name]

    return minimum_for


def take_snapshot(engine: sa.Engine, settings: Settings, now: datetime) -> Snapshot:
    """The status page as the store, the components file and the playbooks say it is at ``now``."""
    with store.reading(engine) as connection:
        record = load_record(connection)
        with Session(bind=connection) as session:
            surveys = published_ratios(session=session, now=now, minimum_for=minimums(settings.playbooks_dir))
    page = PageInfo.of(settings.public_url, settings.public_time_zone)
    return Snapshot(record, catalogue_at(settings.components_path), now, page, surveys)
