"""The status page benchmark's store: open incidents, a maintenance and a month of history, published.

The rows are those the publish flow leaves (published state and time, facts naming components of
``playbooks/statuspage/components.yaml`` with their states), written straight through
:mod:`clarion.store`, without Prefect. Times are relative to now, so the page shows what a page
during an incident shows: three open incidents, a maintenance announced for the day after tomorrow
and 24 resolved incidents over the last 30 days.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from clarion import store
from clarion.kinds import IncidentStatus, UpdateKind, UpdateState
from clarion.models import Incident, IncidentCreate, UpdateCreate, utcnow

PAGE_URL = "https://status.acme.example"
COMPONENTS = ("builds", "deploys", "runtime", "dashboard", "api", "customer-export", "acme-agent")
STATES = ("degraded_performance", "partial_outage", "major_outage")
OPEN = (  # title, severity, components and their state, statuses told so far
    ("API errors for some customers", "sev2", {"api": "partial_outage"}, ("investigating", "identified")),
    ("Dashboard unavailable", "sev1", {"dashboard": "major_outage", "api": "degraded_performance"},
     ("investigating", "identified", "monitoring")),
    ("Slow builds", "sev3", {"builds": "degraded_performance"}, ("investigating",)),
)  # fmt: skip
HISTORY = 24


@dataclass(frozen=True)
class Seeded:
    incidents: int
    updates: int
    page_incident: str
    """The reference of the open incident whose page is measured (the one with most updates)."""


def _part(text: str) -> dict[str, dict[str, str | None]]:
    return {"en": {"text": text, "short": None}, "de": {"text": f"(de) {text}", "short": None}}


def _facts(incident: Incident, status: str, components: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "organisation": "Acme Cloud",
        "reference": incident.reference,
        "title": incident.title,
        "severity": incident.severity,
        "status": status,
        "status_page_url": f"{PAGE_URL}/incidents/{incident.reference}",
        "contact": {"email": "support@acme.example", "phone": "+44 20 7946 0000", "hours": "24/7"},
        "impact": {"components": list(components), "component_status": dict(components)},
        **extra,
    }


def publish(
    engine: sa.Engine,
    reference: str,
    status: str,
    *,
    at: datetime,
    components: dict[str, str],
    text: str,
    kind: UpdateKind = UpdateKind.UPDATE,
    **extra: Any,
) -> None:
    """Publish the incident's next update at ``at`` (resolving it when ``status`` is resolved)."""
    with store.session_scope(engine) as session:
        incident = store.get_incident(session=session, reference=reference)
        update = store.add_update(
            session=session,
            incident=incident,
            update_in=UpdateCreate(
                kind=kind,
                status=IncidentStatus(status),
                apology=_part(f"We are sorry: {text}"),
                cause=_part(f"Cause: {text}") if status != "investigating" else None,
                fix=_part(f"Fix: {text}") if status in ("monitoring", "resolved") else None,
                facts=_facts(incident, status, components, **extra),
                next_update_by=at + timedelta(hours=1),
            ),
        )
        update.state = UpdateState.PUBLISHED
        update.published_at = at
        incident.status = IncidentStatus(status)
        if status == "resolved":
            incident.resolved_at = at
        session.add_all([update, incident])


def _declare(engine: sa.Engine, title: str, severity: str, at: datetime, playbook: str = "outage") -> str:
    with store.session_scope(engine) as session:
        incident = store.create_incident(
            session=session,
            incident_in=IncidentCreate(
                playbook=playbook, severity=severity, title=title, aware_at=at, started_at=at
            ),
        )
        return incident.reference


def seed(engine: sa.Engine) -> Seeded:
    """Migrate the store and fill it; the figures say what is in it."""
    store.migrate(engine)
    rng = random.Random(7)
    now = utcnow()
    updates = 0
    for n in range(HISTORY):  # a month of resolved incidents, oldest first
        at = now - timedelta(days=30 - n * 30 / HISTORY, hours=rng.uniform(0, 6))
        touched = {c: rng.choice(STATES) for c in rng.sample(COMPONENTS, rng.randint(1, 2))}
        reference = _declare(engine, f"Past incident {n + 1}", rng.choice(("sev1", "sev2", "sev3")), at)
        statuses = ("investigating", "identified", "monitoring", "resolved")[rng.randint(0, 2) :]
        for step, status in enumerate(statuses):
            given = {} if status == "resolved" else touched
            kind = UpdateKind.INITIAL if step == 0 else UpdateKind.UPDATE
            kind = UpdateKind.RESOLUTION if status == "resolved" else kind
            text = f"{status} {n + 1}: " + " ".join(
                rng.choice(("deploy", "queue", "disk")) for _ in range(12)
            )
            at_step = at + timedelta(minutes=25 * step)
            publish(engine, reference, status, at=at_step, components=given, text=text, kind=kind)
            updates += 1
    starts = now + timedelta(days=2)
    window = {"starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=2)).isoformat()}
    announced = now - timedelta(days=5)
    reference = _declare(engine, "Database upgrade", "downtime", announced, "scheduled-maintenance")
    publish(
        engine,
        reference,
        "identified",
        at=announced,
        components={"api": "under_maintenance"},
        text="the API will be read-only for two hours",
        kind=UpdateKind.INITIAL,
        maintenance=window,
    )
    updates += 1
    page_incident, most = "", 0
    for title, severity, components, statuses in OPEN:
        # the latest update ten minutes ago, promising the next in fifty: no promise falls due while
        # the benchmark runs (a page turning "late" mid-run changes its bytes, and every 304 with them)
        at = now - timedelta(minutes=10 + 40 * (len(statuses) - 1))
        reference = _declare(engine, title, severity, at)
        for step, status in enumerate(statuses):
            kind = UpdateKind.INITIAL if step == 0 else UpdateKind.UPDATE
            at_step = at + timedelta(minutes=40 * step)
            publish(
                engine,
                reference,
                status,
                at=at_step,
                components=components,
                text=f"{title}, {status}",
                kind=kind,
            )
            updates += 1
        if len(statuses) > most:
            page_incident, most = reference, len(statuses)
    return Seeded(HISTORY + 1 + len(OPEN), updates, page_incident)


def publish_news(engine: sa.Engine, reference: str, n: int) -> str:
    """One more update of an open incident, published now: what invalidates every cached page.
    Returns its text, which the pages show once they were rebuilt."""
    components = {"dashboard": "partial_outage", "api": "degraded_performance"}
    text = f"news {n}: a fix is rolling out region by region"
    publish(engine, reference, "monitoring", at=utcnow(), components=components, text=text)
    return text
