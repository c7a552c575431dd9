"""The Statuspage-compatible public API: the ``/api/v2/*.json`` documents, built from a snapshot.

Widgets and monitoring clients written for Atlassian Statuspage (its ``se-v2.js`` wrapper, status
badges, uptime checkers, chat bots) read ``summary.json`` and its siblings. Speaking their shapes,
status names and ``indicator`` values lets them watch clarion unchanged; the shapes and enumerations
are those of Statuspage's public API (developer.statuspage.io, "Status API"), and a JSON Schema of
each document in the web tests holds them to it.

Every function here is pure: a :class:`~clarion.statuspage.snapshot.Snapshot` and a locale in, a
dict out, so the web app and the static export serve the same bytes. Choices where our record and
Statuspage's differ:

* **Ids** are ours: a component's id from the components file, an incident's reference
  (``INC-0042``), an update's row id. Groups are components with ``group: true`` and the ids of
  their members in ``components``, as Statuspage does it.
* **An update's body** is the update's four parts (apology, cause, fix, prevention) as plain text in
  the locale (English where it was not told in that locale), known parts only, a blank line between.
  A part not known yet is left out rather than shown as an empty line. Markup in a story stays text:
  it is a JSON string, never HTML.
* **An update's affected components** are those whose state it changed from the update before
  (``old_status``/``new_status``), else ``null``; a maintenance's announcement changes none, as
  its components stay operational until the window opens.
* **A component's times.** The components file does not say when a component was added, so
  ``created_at`` is the page's first publication (the earliest moment the page can vouch for) and
  ``updated_at`` the last moment something happened to it (an update that named it or followed one
  that did, a resolution, a maintenance window opening or closing), else the page's last change.
  Both are ``null`` only while nothing was ever published, like the page's own ``updated_at``.
* **Maintenance** has Statuspage's statuses (``scheduled``, ``in_progress``, ``verifying``,
  ``completed``), on the maintenance and on each of its updates (where the window stood when the
  update went out), impact ``maintenance``, and ``scheduled_for``/``scheduled_until``.
* **An incident resolved in the store but not yet told as resolved** counts as resolved (its row
  says so, and the page no longer shows it as open), with ``resolved_at`` from the row.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from clarion.kinds import IncidentStatus
from clarion.statuspage.components import Component, ComponentStatus, Group
from clarion.statuspage.pages import DEFAULT_LOCALE, LOCALES
from clarion.statuspage.record import PARTS, PublicIncident, PublishedUpdate
from clarion.statuspage.snapshot import Snapshot
from clarion.statuspage.state import MaintenanceStatus, impact_of

Document = dict[str, Any]
MOST_RECENT = 50
"""How many incidents (and maintenances) ``incidents.json`` and ``scheduled-maintenances.json`` list."""


def iso(moment: datetime | None) -> str | None:
    """``2026-03-01T09:30:15.123Z``: ISO 8601, UTC, milliseconds (as Statuspage writes times)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def locale_of(asked: str | None) -> str:
    """The locale to speak: ``asked`` when the page speaks it, else English. Bounding it to
    :data:`~clarion.statuspage.pages.LOCALES` also bounds how many copies a cache keeps."""
    return asked if asked in LOCALES else DEFAULT_LOCALE


def body_of(update: PublishedUpdate, locale: str) -> str:
    """The update's known parts as plain text in ``locale``, a blank line between them."""
    texts = (update.text(part, locale) for part in PARTS)
    return "\n\n".join(text.strip() for text in texts if text and text.strip())


# ── page, status, components ─────────────────────────────────────────────────────────────────────


def page_of(snapshot: Snapshot) -> Document:
    page = snapshot.page
    return {
        "id": page.id,
        "name": page.name,
        "url": page.url,
        "time_zone": page.time_zone,
        "updated_at": iso(snapshot.updated_at),
    }


def status_of(snapshot: Snapshot) -> Document:
    return {"indicator": snapshot.indicator, "description": snapshot.description}


def _component_changes(snapshot: Snapshot) -> dict[str, datetime]:
    """Component id → the last moment, up to now, that something happened to it."""
    now = snapshot.now
    out: dict[str, datetime] = {}

    def mark(ids: Iterable[str], at: datetime | None) -> None:
        if at is None or at > now:
            return
        for component in ids:
            if component not in out or at > out[component]:
                out[component] = at

    for incident in snapshot.record.incidents:
        named: set[str] = set()
        for update in incident.updates:
            given = set(update.components)
            mark(given | named, update.published_at)  # a later update may have cleared a state
            named |= given
        mark(named, incident.resolved_at)
        if incident.window is not None:
            ended = incident.ended_at
            for moment in (incident.window.starts_at, incident.window.ends_at):
                if ended is None or moment <= ended:  # a window called off early never opened
                    mark(named, moment)
    return out


def _first_publication(snapshot: Snapshot) -> datetime | None:
    return min((i.first.published_at for i in snapshot.record.incidents), default=None)


def components_of(snapshot: Snapshot) -> list[Document]:
    """Every group and component in the file's order: a group first, then its members."""
    changes = _component_changes(snapshot)
    created = iso(_first_publication(snapshot))
    last_change = snapshot.updated_at
    out: list[Document] = []

    def common(item: Group | Component, status: ComponentStatus, updated: datetime | None) -> Document:
        return {
            "id": item.id,
            "name": item.name,
            "status": status.value,
            "created_at": created,
            "updated_at": iso(updated),
            "position": len(out) + 1,
            "description": item.description,
            "showcase": isinstance(item, Component),  # the page shows a component's 90 days
            "start_date": None,
            "group_id": item.group if isinstance(item, Component) else None,
            "page_id": snapshot.page.id,
            "group": isinstance(item, Group),
            "only_show_if_degraded": False,
        }

    for section in snapshot.catalogue.sections():
        members = section.components
        if section.group is not None:
            statuses = [snapshot.states.get(c.id, ComponentStatus.OPERATIONAL) for c in members]
            touched = [changes[c.id] for c in members if c.id in changes]
            worst = max(statuses, key=lambda s: s.rank, default=ComponentStatus.OPERATIONAL)
            group = common(section.group, worst, max(touched, default=last_change))
            out.append(group | {"components": [c.id for c in members]})
        for component in members:
            status = snapshot.states.get(component.id, ComponentStatus.OPERATIONAL)
            out.append(common(component, status, changes.get(component.id, last_change)))
    return out


# ── incidents and maintenance ────────────────────────────────────────────────────────────────────


def update_status(incident: PublicIncident, update: PublishedUpdate) -> str:
    """The update's status; for a maintenance, where its window stood when the update went out."""
    window = incident.window
    if window is None:
        return update.status.value
    if update.status is IncidentStatus.RESOLVED:
        return MaintenanceStatus.COMPLETED.value
    if update.published_at < window.starts_at:
        return MaintenanceStatus.SCHEDULED.value
    if update.published_at < window.ends_at:
        return MaintenanceStatus.IN_PROGRESS.value
    return MaintenanceStatus.VERIFYING.value


_UNDER_WAY = (MaintenanceStatus.IN_PROGRESS.value, MaintenanceStatus.VERIFYING.value)


def _given(incident: PublicIncident, update: PublishedUpdate | None) -> dict[str, ComponentStatus]:
    """The states ``update`` gave when it went out: a maintenance's only while its window was open."""
    if update is None:
        return {}
    if incident.window is not None and update_status(incident, update) not in _UNDER_WAY:
        return {}
    return update.components


def _affected(
    snapshot: Snapshot, incident: PublicIncident, update: PublishedUpdate, before: PublishedUpdate | None
) -> list[Document] | None:
    """The components whose state this update changed, as Statuspage lists them (else ``null``)."""
    old, new = _given(incident, before), _given(incident, update)
    known = snapshot.catalogue.by_id()
    changed = [
        {
            "code": component,
            "name": known[component].name if component in known else component,
            "old_status": old.get(component, ComponentStatus.OPERATIONAL).value,
            "new_status": new.get(component, ComponentStatus.OPERATIONAL).value,
        }
        for component in dict.fromkeys([*old, *new])
        if old.get(component) != new.get(component)
    ]
    return changed or None


def _updates(snapshot: Snapshot, incident: PublicIncident, locale: str) -> list[Document]:
    """Every published update, newest first."""
    out = []
    for index, update in enumerate(incident.updates):
        when = iso(update.published_at)
        out.append(
            {
                "id": str(update.id),
                "status": update_status(incident, update),
                "body": body_of(update, locale),
                "incident_id": incident.reference,
                "created_at": when,
                "updated_at": when,
                "display_at": when,
                "affected_components": _affected(
                    snapshot, incident, update, incident.updates[index - 1] if index else None
                ),
            }
        )
    return out[::-1]


def incident_of(
    snapshot: Snapshot, incident: PublicIncident, locale: str, components: Sequence[Document]
) -> Document:
    """One incident or maintenance; ``components`` are the page's component objects to pick from."""
    named = {c for u in incident.updates for c in u.components}
    monitoring = next(
        (u.published_at for u in incident.updates if u.status is IncidentStatus.MONITORING), None
    )
    resolved_at = incident.ended_at if incident.resolved else None
    if incident.is_maintenance:
        status = snapshot.maintenance_status(incident).value
    else:
        status = IncidentStatus.RESOLVED.value if incident.resolved else incident.status.value
    changed = max(m for m in (incident.latest.published_at, resolved_at) if m is not None)
    document: Document = {
        "id": incident.reference,
        "name": incident.title_in(locale),
        "status": status,
        "created_at": iso(incident.first.published_at),
        "updated_at": iso(changed),
        "monitoring_at": iso(monitoring),
        "resolved_at": iso(resolved_at),
        "impact": impact_of(incident),
        "shortlink": snapshot.page.incident_url(incident.reference),
        "started_at": iso(incident.started_at or incident.first.published_at),
        "page_id": snapshot.page.id,
        "incident_updates": _updates(snapshot, incident, locale),
        "components": [c for c in components if not c["group"] and c["id"] in named],
    }
    if incident.window is not None:
        document["scheduled_for"] = iso(incident.window.starts_at)
        document["scheduled_until"] = iso(incident.window.ends_at)
    return document


def _listed(
    snapshot: Snapshot,
    chosen: Iterable[PublicIncident],
    locale: str,
    components: Sequence[Document] | None = None,
) -> list[Document]:
    listed = components_of(snapshot) if components is None else components
    return [incident_of(snapshot, i, locale, listed) for i in chosen]


# ── the eight documents ──────────────────────────────────────────────────────────────────────────


def summary_document(snapshot: Snapshot, locale: str = DEFAULT_LOCALE) -> Document:
    """Page, status, components, unresolved incidents, and maintenance upcoming or under way."""
    live = snapshot.maintenances_in(
        MaintenanceStatus.IN_PROGRESS, MaintenanceStatus.VERIFYING, MaintenanceStatus.SCHEDULED
    )
    listed = components_of(snapshot)
    return {
        "page": page_of(snapshot),
        "status": status_of(snapshot),
        "components": listed,
        "incidents": _listed(snapshot, snapshot.open_incidents, locale, listed),
        "scheduled_maintenances": _listed(snapshot, live, locale, listed),
    }


def status_document(snapshot: Snapshot, locale: str = DEFAULT_LOCALE) -> Document:
    return {"page": page_of(snapshot), "status": status_of(snapshot)}


def components_document(snapshot: Snapshot, locale: str = DEFAULT_LOCALE) -> Document:
    return {"page": page_of(snapshot), "components": components_of(snapshot)}


def incidents_document(snapshot: Snapshot, locale: str = DEFAULT_LOCALE) -> Document:
    """The 50 most recent incidents (maintenance has its own list), newest first."""
    return {
        "page": page_of(snapshot),
        "incidents": _listed(snapshot, snapshot.incidents[:MOST_RECENT], locale),
    }


def unresolved_document(snapshot: Snapshot, locale: str = DEFAULT_LOCALE) -> Document:
    """Incidents still investigating, identified or monitoring."""
    return {"page": page_of(snapshot), "incidents": _listed(snapshot, snapshot.open_incidents, locale)}


def maintenances_document(snapshot: Snapshot, locale: str = DEFAULT_LOCALE) -> Document:
    """The 50 most recently announced maintenances, whatever their status."""
    chosen = snapshot.maintenances[:MOST_RECENT]
    return {"page": page_of(snapshot), "scheduled_maintenances": _listed(snapshot, chosen, locale)}


def upcoming_document(snapshot: Snapshot, locale: str = DEFAULT_LOCALE) -> Document:
    """Maintenance whose window has not opened yet, soonest first."""
    chosen = snapshot.upcoming_maintenances
    return {"page": page_of(snapshot), "scheduled_maintenances": _listed(snapshot, chosen, locale)}


def active_document(snapshot: Snapshot, locale: str = DEFAULT_LOCALE) -> Document:
    """Maintenance in progress or being verified."""
    chosen = snapshot.active_maintenances
    return {"page": page_of(snapshot), "scheduled_maintenances": _listed(snapshot, chosen, locale)}


DOCUMENTS: dict[str, Callable[[Snapshot, str], Document]] = {
    "summary.json": summary_document,
    "status.json": status_document,
    "components.json": components_document,
    "incidents.json": incidents_document,
    "incidents/unresolved.json": unresolved_document,
    "scheduled-maintenances.json": maintenances_document,
    "scheduled-maintenances/upcoming.json": upcoming_document,
    "scheduled-maintenances/active.json": active_document,
}
"""Each document's path under ``/api/v2/`` and the function that builds it."""


def render_document(snapshot: Snapshot, path: str, locale: str = DEFAULT_LOCALE) -> bytes:
    """The document at ``/api/v2/{path}`` as compact UTF-8 JSON (the bytes the web app and the
    static export both serve; no build time in them, so equal snapshots give equal ETags)."""
    document = DOCUMENTS[path](snapshot, locale_of(locale))
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
