"""States derived from the public record: never typed twice.

* **Component state**: the worst state that an open incident's latest update gives it, or
  ``under_maintenance`` while a maintenance naming it is in progress or being verified; else
  operational. An incident stops counting the moment its resolving update is published.
* **Maintenance status**: ``scheduled`` before the window, ``in_progress`` inside it, ``verifying``
  after its end until the resolving update, then ``completed``.
* **Impact** (Statuspage's word): ``maintenance`` for a maintenance; else the worse of what the
  severity says (``sev1`` critical, ``sev2`` major, anything else minor) and the worst component
  state it gives (major outage critical, partial outage major, degraded performance minor).
* **Indicator** of the whole page: the worst impact of the open incidents and of the components'
  states; ``maintenance`` when only maintenance is under way; ``none`` when all is well.
* **Days**: each component's last 90 days (UTC), each day the worst state any incident gave it
  during the day, with the incidents that did; and its uptime over the period, counting a major
  outage as down and a partial outage as 30 % down (as Statuspage does), the rest as up.

Time moves some of these without anything being published (a window opens, a day ends), so
:func:`changes_after` says when a page built now stops being right.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from clarion.facts import Facts
from clarion.playbook import Playbook, component_status_for
from clarion.statuspage.components import Catalogue, ComponentStatus
from clarion.statuspage.record import PublicIncident

DAYS = 90
SEVERITY_IMPACT = {"sev1": "critical", "sev2": "major"}
IMPACT_RANK = ("none", "maintenance", "minor", "major", "critical")
STATUS_IMPACT = {
    ComponentStatus.OPERATIONAL: "none",
    ComponentStatus.UNDER_MAINTENANCE: "maintenance",
    ComponentStatus.DEGRADED_PERFORMANCE: "minor",
    ComponentStatus.PARTIAL_OUTAGE: "major",
    ComponentStatus.MAJOR_OUTAGE: "critical",
}
DOWNTIME_WEIGHT = {ComponentStatus.MAJOR_OUTAGE: 1.0, ComponentStatus.PARTIAL_OUTAGE: 0.3}


class MaintenanceStatus(StrEnum):
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    VERIFYING = "verifying"
    COMPLETED = "completed"


def with_component_status(facts: Facts, playbook: Playbook) -> Facts:
    """The facts with a state for every component they name: the one given, else the playbook's
    for the severity. Stored with the update, so the page never needs the playbook to read it."""
    default = component_status_for(playbook, facts.severity)
    given = facts.impact.component_status
    filled = {c: given.get(c, default) for c in facts.impact.components}
    if filled == dict(given):
        return facts
    return facts.model_copy(update={"impact": facts.impact.model_copy(update={"component_status": filled})})


def maintenance_status(incident: PublicIncident, now: datetime) -> MaintenanceStatus:
    window = incident.window
    if incident.resolved:
        return MaintenanceStatus.COMPLETED
    if window is None or now < window.starts_at:
        return MaintenanceStatus.SCHEDULED
    if now < window.ends_at:
        return MaintenanceStatus.IN_PROGRESS
    return MaintenanceStatus.VERIFYING


def touching_now(incident: PublicIncident, now: datetime) -> dict[str, ComponentStatus]:
    """The component states ``incident`` gives at ``now`` (none once resolved, or before a window)."""
    if incident.resolved:
        return {}
    if incident.is_maintenance and maintenance_status(incident, now) is MaintenanceStatus.SCHEDULED:
        return {}
    return incident.latest.components


def component_states(
    catalogue: Catalogue, incidents: Iterable[PublicIncident], now: datetime
) -> dict[str, ComponentStatus]:
    """Every listed component's state at ``now`` (names the catalogue does not list are left out)."""
    states = {c.id: ComponentStatus.OPERATIONAL for c in catalogue.components}
    for incident in incidents:
        for component, state in touching_now(incident, now).items():
            if component in states and state.rank > states[component].rank:
                states[component] = state
    return states


def worst_impact(impacts: Iterable[str]) -> str:
    return max(impacts, key=IMPACT_RANK.index, default="none")


def impact_of(incident: PublicIncident) -> str:
    if incident.is_maintenance:
        return "maintenance"
    by_components = (STATUS_IMPACT[s] for s in incident.latest.components.values())
    return worst_impact([SEVERITY_IMPACT.get(incident.severity, "minor"), *by_components])


def indicator(
    open_incidents: Sequence[PublicIncident], states: dict[str, ComponentStatus], now: datetime
) -> str:
    """The page's indicator: none, maintenance, minor, major or critical."""
    impacts = [impact_of(i) for i in open_incidents if not i.is_maintenance]
    impacts += [STATUS_IMPACT[s] for s in states.values()]
    impacts += [
        "maintenance"
        for i in open_incidents
        if i.is_maintenance and maintenance_status(i, now) is not MaintenanceStatus.SCHEDULED
    ]
    return worst_impact(impacts)


def is_open(incident: PublicIncident) -> bool:
    return not incident.resolved


def changes_after(incidents: Iterable[PublicIncident], now: datetime) -> datetime:
    """The next moment a page built at ``now`` goes stale by time alone: a maintenance window opening
    or closing, or the day ending (the 90-day bars move)."""
    moments = [datetime.combine(now.astimezone(UTC).date() + timedelta(days=1), time(), UTC)]
    for incident in incidents:
        window = incident.window
        if window is not None and not incident.resolved:
            moments += [m for m in (window.starts_at, window.ends_at) if m > now]
    return min(moments)


# ── the 90-day bars ──────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Day:
    day: date
    state: ComponentStatus
    incidents: tuple[str, ...]
    """References of the incidents that touched the component that day."""


@dataclass(frozen=True)
class History:
    days: tuple[Day, ...]
    uptime: float
    """The share of the period the component was up (major outage down, partial outage 30 % down)."""


def _spans(
    incident: PublicIncident, now: datetime
) -> list[tuple[datetime, datetime, dict[str, ComponentStatus]]]:
    """(from, to, states) for each stretch of time one update of ``incident`` described."""
    if incident.is_maintenance:
        window = incident.window
        assert window is not None
        end = min(window.ends_at, incident.ended_at or now, now)
        states = next((u.components for u in reversed(incident.updates) if u.components), {})
        return [(window.starts_at, end, states)] if end > window.starts_at else []
    spans = []
    updates = incident.updates
    for index, update in enumerate(updates):
        if update.status.value == "resolved":
            break
        end = updates[index + 1].published_at if index + 1 < len(updates) else (incident.ended_at or now)
        spans.append((update.published_at, min(end, now), update.components))
    return spans


def component_history(
    catalogue: Catalogue, incidents: Iterable[PublicIncident], now: datetime, days: int = DAYS
) -> dict[str, History]:
    """Each listed component's last ``days`` days, oldest first, ending with today (UTC)."""
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    period_start = datetime.combine(first, time(), UTC)
    worst: dict[tuple[str, date], ComponentStatus] = {}
    refs: dict[tuple[str, date], list[str]] = {}
    down: dict[str, float] = {}
    known = {c.id for c in catalogue.components}
    for incident in incidents:
        for start, end, states in _spans(incident, now):
            start, end = max(start, period_start), min(end, now)
            if end <= start:
                continue
            for component, state in states.items():
                if component not in known:
                    continue
                down[component] = (
                    down.get(component, 0.0) + DOWNTIME_WEIGHT.get(state, 0.0) * (end - start).total_seconds()
                )
                day = start.astimezone(UTC).date()
                while day <= end.astimezone(UTC).date():
                    key = (component, day)
                    if key not in worst or state.rank > worst[key].rank:
                        worst[key] = state
                    if incident.reference not in refs.setdefault(key, []):
                        refs[key].append(incident.reference)
                    day += timedelta(days=1)
    total = max((now - period_start).total_seconds(), 1.0)
    out: dict[str, History] = {}
    for listed in catalogue.components:
        row = tuple(
            Day(
                d,
                worst.get((listed.id, d), ComponentStatus.OPERATIONAL),
                tuple(refs.get((listed.id, d), ())),
            )
            for d in (first + timedelta(days=i) for i in range(days))
        )
        out[listed.id] = History(row, max(0.0, 1.0 - down.get(listed.id, 0.0) / total))
    return out
