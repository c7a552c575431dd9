"""The public record and the states derived from it: components, maintenance, indicator, 90 days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from clarion import store
from clarion.statuspage.components import ComponentStatus, catalogue_at
from clarion.statuspage.record import generation, load_record
from clarion.statuspage.snapshot import PageInfo, Snapshot
from clarion.statuspage.state import MaintenanceStatus
from tests.statuspage_world import COMPONENTS_FILE, T0, World

PAGE = PageInfo.of("https://status.acme.example", "UTC")


def snapshot(engine: sa.Engine, now: datetime) -> Snapshot:
    with store.reading(engine) as connection:
        record = load_record(connection)
    return Snapshot(record, catalogue_at(COMPONENTS_FILE), now, PAGE)


def test_nothing_published_is_all_operational(engine: sa.Engine) -> None:
    page = snapshot(engine, T0)
    assert page.indicator == "none" and page.description == "All Systems Operational"
    assert set(page.states.values()) == {ComponentStatus.OPERATIONAL}
    assert [c.id for c in page.catalogue.components][:3] == ["builds", "deploys", "runtime"]


def test_a_draft_is_never_public(engine: sa.Engine) -> None:
    world = World(engine)
    incident = world.incident("API errors", components={"api": "major_outage"})
    world.draft(incident, at=T0 + timedelta(minutes=5))
    page = snapshot(engine, T0 + timedelta(minutes=10))
    (shown,) = page.incidents
    assert [u.number for u in shown.updates] == [1]
    assert "DRAFT" not in str(shown.latest.parts)


def test_component_state_is_the_worst_open_incident_gives(engine: sa.Engine) -> None:
    world = World(engine)
    world.incident(
        "Slow API", components={"api": "degraded_performance", "dashboard": "degraded_performance"}
    )
    second = world.incident("API down", components={"api": "major_outage"}, at=T0 + timedelta(minutes=3))
    page = snapshot(engine, T0 + timedelta(minutes=10))
    assert page.states["api"] is ComponentStatus.MAJOR_OUTAGE
    assert page.states["dashboard"] is ComponentStatus.DEGRADED_PERFORMANCE
    assert page.states["builds"] is ComponentStatus.OPERATIONAL
    assert page.indicator == "critical"
    world.resolve(second, at=T0 + timedelta(minutes=30))
    later = snapshot(engine, T0 + timedelta(minutes=31))
    assert later.states["api"] is ComponentStatus.DEGRADED_PERFORMANCE
    assert later.indicator == "major"  # sev2 of the open incident outranks its degraded components


def test_maintenance_moves_through_its_window(engine: sa.Engine) -> None:
    world = World(engine)
    starts = T0 + timedelta(days=2)
    work = world.maintenance("Database upgrade", starts=starts, hours=2, components=["api"])
    before = snapshot(engine, starts - timedelta(hours=1))
    (upcoming,) = before.upcoming_maintenances
    assert before.maintenance_status(upcoming) is MaintenanceStatus.SCHEDULED
    assert before.states["api"] is ComponentStatus.OPERATIONAL and before.indicator == "none"
    assert before.valid_until == starts  # the page goes stale when the window opens
    during = snapshot(engine, starts + timedelta(minutes=5))
    assert during.maintenance_status(during.maintenances[0]) is MaintenanceStatus.IN_PROGRESS
    assert during.states["api"] is ComponentStatus.UNDER_MAINTENANCE
    assert during.indicator == "maintenance"
    after = snapshot(engine, starts + timedelta(hours=3))
    assert after.maintenance_status(after.maintenances[0]) is MaintenanceStatus.VERIFYING
    world.resolve(work, at=starts + timedelta(hours=3))
    done = snapshot(engine, starts + timedelta(hours=4))
    assert done.maintenance_status(done.maintenances[0]) is MaintenanceStatus.COMPLETED
    assert done.states["api"] is ComponentStatus.OPERATIONAL and done.indicator == "none"


def test_ninety_days_and_uptime(engine: sa.Engine) -> None:
    world = World(engine)
    outage = world.incident("API down", components={"api": "major_outage"}, at=T0)
    world.tell(outage, "monitoring", at=T0 + timedelta(hours=6), components={"api": "degraded_performance"})
    world.resolve(outage, at=T0 + timedelta(hours=30))
    now = T0 + timedelta(days=10)
    page = snapshot(engine, now)
    api = page.histories["api"]
    assert len(api.days) == 90 and api.days[-1].day == now.date()
    by_day = {d.day: d for d in api.days}
    assert by_day[T0.date()].state is ComponentStatus.MAJOR_OUTAGE
    assert by_day[T0.date()].incidents == (outage.reference,)
    assert by_day[(T0 + timedelta(days=1)).date()].state is ComponentStatus.DEGRADED_PERFORMANCE
    assert by_day[(T0 + timedelta(days=2)).date()].state is ComponentStatus.OPERATIONAL
    total = (now - datetime.combine(api.days[0].day, datetime.min.time(), UTC)).total_seconds()
    assert api.uptime == pytest.approx(1 - 6 * 3600 / total)  # degraded counts as up
    assert page.histories["dashboard"].uptime == 1.0


def test_generation_changes_when_something_is_published_or_resolved(engine: sa.Engine) -> None:
    world = World(engine)

    def mark() -> tuple[object, ...]:
        with store.reading(engine) as connection:
            return generation(connection)

    empty = mark()
    incident = world.incident("API errors", components={"api": "partial_outage"})
    first = mark()
    world.draft(incident, at=T0 + timedelta(minutes=1))
    assert mark() == first != empty  # a draft changes nothing public
    world.resolve(incident, at=T0 + timedelta(minutes=9))
    assert mark() != first


def test_a_completed_maintenance_keeps_its_window_in_the_days(engine: sa.Engine) -> None:
    world = World(engine)
    starts = T0 + timedelta(days=1)
    work = world.maintenance("Database upgrade", starts=starts, hours=2, components=["api"])
    world.resolve(work, at=starts + timedelta(hours=2))
    page = snapshot(engine, starts + timedelta(days=1))
    day = {d.day: d for d in page.histories["api"].days}[starts.date()]
    assert (day.state, day.incidents) == (ComponentStatus.UNDER_MAINTENANCE, (work.reference,))
    assert page.histories["api"].uptime == 1.0  # maintenance is not downtime
