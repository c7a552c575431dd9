"""A status page's world for tests: incidents and maintenance published into a migrated store.

``World(engine)`` declares incidents and publishes updates straight into the store (the rows the
publish flow writes: published state, publication time, facts with component states), so the status
page's tests can set up any history in a few lines without Prefect::

    world = World(engine)
    outage = world.incident("API errors", components={"api": "partial_outage"}, at=T0)
    world.tell(outage, "identified", at=T0 + timedelta(minutes=20), cause="A bad deploy.")
    world.resolve(outage, at=T0 + timedelta(hours=1))
    world.maintenance("Database upgrade", starts=T0 + timedelta(days=2), hours=2, components=["api"])
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from clarion import store
from clarion.kinds import IncidentStatus, UpdateKind, UpdateState
from clarion.models import Incident, IncidentCreate, Update, UpdateCreate
from clarion.settings import PROJECT_ROOT

T0 = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
COMPONENTS_FILE = PROJECT_ROOT / "playbooks" / "statuspage" / "components.yaml"
"""The shipped components file (builds, deploys, runtime, dashboard, api, customer-export, …)."""
CONTACT = {"email": "support@acme.example", "phone": "+44 20 7946 0000", "hours": "24/7"}


@dataclass
class Told:
    incident: Incident
    facts: dict[str, Any]
    components: dict[str, str]


class World:
    def __init__(self, engine: sa.Engine, page_url: str = "https://status.acme.example") -> None:
        self.engine = engine
        self.page_url = page_url

    def _facts(
        self, incident: Incident, status: str, components: dict[str, str], **extra: Any
    ) -> dict[str, Any]:
        return {
            "organisation": "Acme Cloud",
            "reference": incident.reference,
            "title": incident.title,
            "severity": incident.severity,
            "status": status,
            "status_page_url": f"{self.page_url}/incidents/{incident.reference}",
            "contact": CONTACT,
            "impact": {"components": list(components), "component_status": dict(components)},
            **extra,
        }

    def _publish(
        self,
        incident: Incident,
        status: str,
        at: datetime,
        components: dict[str, str],
        *,
        kind: UpdateKind,
        parts: dict[str, str | None],
        locale_parts: dict[str, dict[str, str | None]] | None = None,
        next_in: timedelta = timedelta(hours=1),
        **extra: Any,
    ) -> Update:
        story: dict[str, dict[str, dict[str, str | None]]] = {}
        for part, text in parts.items():
            story.setdefault(part, {})["en"] = {"text": text, "short": None} if text else {}
        for locale, given in (locale_parts or {}).items():
            for part, text in given.items():
                story.setdefault(part, {})[locale] = {"text": text, "short": None}
        with store.session_scope(self.engine) as session:
            session.add(incident)
            update = store.add_update(
                session=session,
                incident=incident,
                update_in=UpdateCreate(
                    kind=kind,
                    status=IncidentStatus(status),
                    apology=story.get("apology") or {"en": {"text": "We are sorry.", "short": None}},
                    cause=story.get("cause"),
                    fix=story.get("fix"),
                    prevention=story.get("prevention"),
                    facts=self._facts(incident, status, components, **extra),
                    next_update_by=at + next_in,
                ),
            )
            update.state = UpdateState.PUBLISHED
            update.published_at = at
            if status == "resolved":
                incident.status = IncidentStatus.RESOLVED
                incident.resolved_at = at
            else:
                incident.status = IncidentStatus(status)
            session.add_all([update, incident])
            session.flush()
            session.refresh(incident)
            session.expunge(incident)
            return update

    def incident(
        self,
        title: str,
        *,
        at: datetime = T0,
        components: dict[str, str] | None = None,
        severity: str = "sev2",
        status: str = "investigating",
        apology: str = "Some of you cannot use the API. We are sorry.",
        cause: str | None = None,
        fix: str | None = None,
        prevention: str | None = None,
        locale_parts: dict[str, dict[str, str | None]] | None = None,
        playbook: str = "outage",
    ) -> Incident:
        """Declare an incident and publish its first update at ``at``."""
        with store.session_scope(self.engine) as session:
            incident = store.create_incident(
                session=session,
                incident_in=IncidentCreate(
                    playbook=playbook, severity=severity, title=title, aware_at=at, started_at=at
                ),
            )
            session.expunge(incident)
        self._publish(
            incident,
            status,
            at,
            components or {},
            kind=UpdateKind.INITIAL,
            parts={"apology": apology, "cause": cause, "fix": fix, "prevention": prevention},
            locale_parts=locale_parts,
        )
        return incident

    def tell(
        self,
        incident: Incident,
        status: str,
        *,
        at: datetime,
        components: dict[str, str] | None = None,
        apology: str = "We are sorry for the trouble.",
        cause: str | None = None,
        fix: str | None = None,
        prevention: str | None = None,
        **extra: Any,
    ) -> Update:
        """Publish a further update (``components`` defaults to none: pass them again to keep them)."""
        kind = UpdateKind.RESOLUTION if status == "resolved" else UpdateKind.UPDATE
        parts = {"apology": apology, "cause": cause, "fix": fix, "prevention": prevention}
        return self._publish(incident, status, at, components or {}, kind=kind, parts=parts, **extra)

    def resolve(self, incident: Incident, *, at: datetime, **parts: str | None) -> Update:
        return self.tell(incident, "resolved", at=at, **parts)  # type: ignore[arg-type]

    def maintenance(
        self,
        title: str,
        *,
        starts: datetime,
        hours: float = 2,
        components: list[str] | None = None,
        announced: datetime | None = None,
        apology: str = "We will upgrade the database; the API will be read-only. Sorry for the disruption.",
    ) -> Incident:
        """Announce a maintenance window (``announced`` defaults to a week before it starts)."""
        at = announced or starts - timedelta(days=7)
        with store.session_scope(self.engine) as session:
            incident = store.create_incident(
                session=session,
                incident_in=IncidentCreate(
                    playbook="scheduled-maintenance", severity="downtime", title=title, aware_at=at
                ),
            )
            session.expunge(incident)
        window = {"starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=hours)).isoformat()}
        self._publish(
            incident,
            "identified",
            at,
            dict.fromkeys(components or [], "under_maintenance"),
            kind=UpdateKind.INITIAL,
            parts={"apology": apology},
            next_in=starts - at,
            maintenance=window,
        )
        return incident

    def draft(self, incident: Incident, *, at: datetime) -> Update:
        """An update written but not published (waiting for approval): never shown."""
        with store.session_scope(self.engine) as session:
            session.add(incident)
            update = store.add_update(
                session=session,
                incident=incident,
                update_in=UpdateCreate(
                    status=IncidentStatus.IDENTIFIED,
                    apology={"en": {"text": "DRAFT: not approved yet", "short": None}},
                    facts=self._facts(incident, "identified", {}),
                    next_update_by=at + timedelta(hours=1),
                ),
            )
            update.state = UpdateState.PENDING_APPROVAL
            session.add(update)
            session.flush()
            session.expunge(incident)
            return update
