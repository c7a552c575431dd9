"""What the status page's views say: the story as last told, what changed, promises, bars and pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from clarion import store
from clarion.kinds import IncidentStatus
from clarion.statuspage.components import ComponentStatus, catalogue_at
from clarion.statuspage.record import load_record
from clarion.statuspage.snapshot import PageInfo, Snapshot
from clarion.statuspage.state import MaintenanceStatus
from clarion.statuspage.views import (
    ENTRIES_PER_PAGE,
    MONTHS_PER_PAGE,
    history_view,
    home_view,
    incident_page,
    paginate,
)
from clarion.statuspage.wording import Wording
from tests.statuspage_world import COMPONENTS_FILE, T0, World

PAGE = PageInfo.of("https://status.acme.example", "UTC")
EN, DE = Wording("en"), Wording("de")


def snapshot(engine: sa.Engine, now: datetime) -> Snapshot:
    with store.reading(engine) as connection:
        record = load_record(connection)
    return Snapshot(record, catalogue_at(COMPONENTS_FILE), now, PAGE)


def test_each_update_says_what_changed_and_parts_not_repeated_stay_as_told(sqlite_engine: sa.Engine) -> None:
    world = World(sqlite_engine)
    outage = world.incident(
        "API errors", components={"api": "major_outage", "dashboard": "degraded_performance"}
    )
    world.tell(outage, "identified", at=T0 + timedelta(minutes=20), components={"api": "partial_outage"},
               cause="A bad deploy.")  # fmt: skip
    world.tell(outage, "monitoring", at=T0 + timedelta(minutes=50), components={"api": "partial_outage"},
               fix="We rolled back.")  # fmt: skip
    view = incident_page(snapshot(sqlite_engine, T0 + timedelta(hours=1)), outage.reference, EN)
    assert view is not None
    third, second, first = view.updates  # newest first
    assert first.changes is None
    assert second.changes is not None and second.changes.status == (
        IncidentStatus.INVESTIGATING, IncidentStatus.IDENTIFIED
    )  # fmt: skip
    assert [(c.name, c.before, c.after) for c in second.changes.components] == [
        ("Dashboard", ComponentStatus.DEGRADED_PERFORMANCE, ComponentStatus.OPERATIONAL),
        ("API", ComponentStatus.MAJOR_OUTAGE, ComponentStatus.PARTIAL_OUTAGE),
    ]
    assert (second.changes.new_parts, second.changes.changed_parts) == (("cause",), ("apology",))
    assert third.changes is not None and third.changes.new_parts == ("fix",) and not third.changes.components
    cause = {p.name: p for p in third.parts}["cause"]
    assert cause.paragraphs == ("A bad deploy.",) and cause.told_in == second.number
    assert cause.told_at == second.published
    assert {p.name: p.known for p in view.story} == {
        "apology": True, "cause": True, "fix": True, "prevention": False,
    }  # fmt: skip
    assert [c.name for c in view.components] == ["API"]  # what the latest update names, not the past


def test_nothing_new_is_said_as_such(sqlite_engine: sa.Engine) -> None:
    world = World(sqlite_engine)
    outage = world.incident("API errors", components={"api": "partial_outage"}, apology="Sorry.")
    world.tell(outage, "investigating", at=T0 + timedelta(hours=1), components={"api": "partial_outage"},
               apology="Sorry.")  # fmt: skip
    view = incident_page(snapshot(sqlite_engine, T0 + timedelta(hours=1)), outage.reference, EN)
    assert view is not None and view.latest.changes is not None
    assert not view.latest.changes.anything


def test_the_promise_is_the_latest_and_says_when_it_is_broken(sqlite_engine: sa.Engine) -> None:
    world = World(sqlite_engine)
    outage = world.incident("API errors", components={"api": "partial_outage"})  # next update by T0 + 1 h
    on_time = incident_page(snapshot(sqlite_engine, T0 + timedelta(minutes=59)), outage.reference, EN)
    late = incident_page(snapshot(sqlite_engine, T0 + timedelta(minutes=61)), outage.reference, EN)
    assert on_time is not None and on_time.promise is not None and not on_time.promise.late
    assert late is not None and late.promise is not None and late.promise.late
    assert late.promise.by.iso == "2026-11-20T10:30:00Z"
    assert late.promise.by.text == "20 Nov 2026, 10:30 UTC"
    world.resolve(outage, at=T0 + timedelta(hours=2))
    over = incident_page(snapshot(sqlite_engine, T0 + timedelta(hours=3)), outage.reference, EN)
    assert over is not None and over.promise is None and over.latest.promise is None
    assert over.ended is not None and over.ended.text == "20 Nov 2026, 11:30 UTC"
    assert [c.name for c in over.components] == ["API"]  # once over: what it touched


def test_contact_paths_become_links_only_when_safe(sqlite_engine: sa.Engine) -> None:
    world = World(sqlite_engine)
    outage = world.incident("API errors")
    view = incident_page(snapshot(sqlite_engine, T0), outage.reference, EN)
    assert view is not None
    assert (view.contact.phone, view.contact.tel) == ("+44 20 7946 0000", "tel:+442079460000")
    assert view.contact.email == "support@acme.example" and view.contact.url is None
    for given, shown in (
        ("javascript:alert(1)", None),
        ("https://acme.example/help", "https://acme.example/help"),
    ):
        world.tell(
            outage,
            "identified",
            at=T0 + timedelta(minutes=5),
            contact={"email": "a@acme.example", "url": given},
        )
        later = incident_page(snapshot(sqlite_engine, T0 + timedelta(minutes=6)), outage.reference, EN)
        assert later is not None and later.contact.url == shown and later.contact.phone is None


def test_home_lists_open_incidents_maintenance_and_each_components_days(sqlite_engine: sa.Engine) -> None:
    world = World(sqlite_engine)
    old = world.incident("Builds stuck", at=T0 - timedelta(days=10), components={"builds": "major_outage"})
    world.resolve(old, at=T0 - timedelta(days=10, hours=-6))
    world.incident("API errors", components={"api": "partial_outage"})
    world.maintenance("Database upgrade", starts=T0 + timedelta(days=2), components=["api"])
    world.maintenance("Disk swap", starts=T0 - timedelta(hours=1), hours=3, components=["runtime"])
    home = home_view(snapshot(sqlite_engine, T0 + timedelta(minutes=5)), EN)
    assert home.indicator == "major"
    assert [i.title for i in home.incidents] == ["API errors"]
    assert [(m.title, m.maintenance) for m in home.maintenance_now] == [
        ("Disk swap", MaintenanceStatus.IN_PROGRESS)
    ]
    assert [(m.title, m.maintenance) for m in home.maintenance_next] == [
        ("Database upgrade", MaintenanceStatus.SCHEDULED)
    ]
    rows = {row.id: row for section in home.sections for row in section.components}
    assert list(rows)[:3] == ["builds", "deploys", "runtime"]
    assert rows["api"].state is ComponentStatus.PARTIAL_OUTAGE
    assert rows["runtime"].state is ComponentStatus.UNDER_MAINTENANCE
    builds = rows["builds"]
    assert len(builds.days) == 90 and builds.days[-1].on.iso == "2026-11-20"
    [bad_day] = [d for d in builds.days if d.incidents]
    assert (bad_day.on.iso, bad_day.state) == ("2026-11-10", ComponentStatus.MAJOR_OUTAGE)
    assert [(link.reference, link.title, link.href) for link in bad_day.incidents] == [
        (old.reference, "Builds stuck", f"/incidents/{old.reference}")
    ]
    assert builds.uptime == "99.72%" and builds.troubled_days == 1  # 6 h down in 89 days and 9.5 h
    assert rows["deploys"].uptime == "100%"
    assert home.period is not None and home.period[0].text == "23 Aug 2026"
    assert home.recent == ()  # resolved ten days ago: in the history, not on the home page


def test_uptime_is_never_rounded_up_to_a_hundred() -> None:
    assert EN.percent(0.99999) == "99.99%"
    assert DE.percent(0.9987) == "99,87\u00a0%"
    assert EN.percent(1.0) == "100%"


def test_times_are_utc_in_both_languages() -> None:
    at = datetime(2026, 3, 1, 9, 5, 59, 999999, tzinfo=UTC)
    assert EN.moment(at).iso == DE.moment(at).iso == "2026-03-01T09:05:59Z"
    assert (EN.moment(at).text, DE.moment(at).text) == ("1 Mar 2026, 09:05 UTC", "1. März 2026, 09:05 UTC")
    assert DE.month(2026, 3) == "März 2026"


def test_pages_hold_whole_months() -> None:
    assert paginate([1] * 13) == [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11], [12]]
    assert paginate([3, 30, 2]) == [[0], [1], [2]]  # a big month is a page of its own
    assert paginate([ENTRIES_PER_PAGE, 1]) == [[0], [1]]
    assert paginate([ENTRIES_PER_PAGE, 0]) == [[0, 1]]  # an empty month fits anywhere
    assert paginate([0, 0]) == [[0, 1]]
    assert MONTHS_PER_PAGE == 6


def test_history_goes_back_month_by_month_with_empty_months_said(sqlite_engine: sa.Engine) -> None:
    world = World(sqlite_engine)
    for months_ago in (0, 2, 9):
        at = T0 - timedelta(days=31 * months_ago)
        done = world.incident(f"Outage {months_ago}", at=at, components={"api": "major_outage"})
        world.resolve(done, at=at + timedelta(hours=1))
    world.maintenance("Later work", starts=T0 + timedelta(days=40))  # scheduled: on the home page only
    page = snapshot(sqlite_engine, T0 + timedelta(days=1))
    first = history_view(page, 1, EN)
    assert first is not None and (first.number, first.count, first.newer, first.older) == (
        1,
        2,
        None,
        "/history/page/2",
    )
    assert [m.iso for m in first.months] == ["2026-11", "2026-10", "2026-09", "2026-08", "2026-07", "2026-06"]
    assert [[e.title for e in m.entries] for m in first.months][:3] == [["Outage 0"], [], ["Outage 2"]]
    entry = first.months[0].entries[0]
    assert (entry.label, entry.impact, entry.components) == ("status.resolved", "critical", ("API",))
    second = history_view(page, 2, DE)
    assert second is not None and second.newer == "/history" and second.older is None
    assert [m.label for m in second.months] == ["Mai 2026", "April 2026", "März 2026", "Februar 2026"]
    assert history_view(page, 3, EN) is None and history_view(page, 0, EN) is None


def test_an_empty_page_has_this_month_and_nothing_else(sqlite_engine: sa.Engine) -> None:
    page = snapshot(sqlite_engine, T0)
    view = history_view(page, 1, EN)
    assert view is not None and [(m.iso, m.entries) for m in view.months] == [("2026-11", ())]
    home = home_view(page, EN)
    assert (home.indicator, home.incidents, home.maintenance_next) == ("none", (), ())


@pytest.mark.parametrize("locale", ["en", "de"])
def test_a_story_told_in_german_is_shown_in_german(sqlite_engine: sa.Engine, locale: str) -> None:
    world = World(sqlite_engine)
    outage = world.incident(
        "API errors",
        locale_parts={"de": {"apology": "Die API ist gestört. Entschuldigung.", "cause": "Ein Fehler."}},
    )
    view = incident_page(snapshot(sqlite_engine, T0), outage.reference, Wording(locale))
    assert view is not None
    told = {p.name: p.paragraphs for p in view.story}
    expected = (
        "Die API ist gestört. Entschuldigung."
        if locale == "de"
        else "Some of you cannot use the API. We are sorry."
    )
    assert told["apology"] == (expected,)
    assert told["cause"] == ("Ein Fehler.",)  # told only in German: English readers get it too
    langs = {p.name: p.lang for p in view.story}
    assert (langs["apology"], langs["cause"]) == ((None, None) if locale == "de" else (None, "de"))
