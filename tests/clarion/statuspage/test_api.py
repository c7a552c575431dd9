"""The Statuspage-compatible documents, built from snapshots of a published world."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import sqlalchemy as sa

from clarion import store
from clarion.kinds import IncidentStatus, UpdateKind
from clarion.statuspage import api
from clarion.statuspage.components import catalogue_at
from clarion.statuspage.record import PublicIncident, PublishedUpdate, Record, load_record
from clarion.statuspage.snapshot import PageInfo, Snapshot
from tests.statuspage_world import COMPONENTS_FILE, T0, World

PAGE = PageInfo.of("https://status.acme.example", "Europe/Berlin")
MINUTE = timedelta(minutes=1)


def snapshot(engine: sa.Engine, now: datetime) -> Snapshot:
    with store.reading(engine) as connection:
        record = load_record(connection)
    return Snapshot(record, catalogue_at(COMPONENTS_FILE), now, PAGE)


def test_an_empty_page_lists_its_components_all_operational(engine: sa.Engine) -> None:
    page = snapshot(engine, T0)

    summary = api.summary_document(page)

    assert summary["page"] == {
        "id": PAGE.id,
        "name": "status.acme.example",
        "url": "https://status.acme.example",
        "time_zone": "Europe/Berlin",
        "updated_at": None,
    }
    assert summary["status"] == {"indicator": "none", "description": "All Systems Operational"}
    assert (summary["incidents"], summary["scheduled_maintenances"]) == ([], [])
    listed = summary["components"]
    assert [(c["id"], c["group"], c["position"]) for c in listed][:5] == [
        ("platform", True, 1),
        ("builds", False, 2),
        ("deploys", False, 3),
        ("runtime", False, 4),
        ("interfaces", True, 5),
    ]
    assert listed[0]["components"] == ["builds", "deploys", "runtime"]
    assert listed[-1] | {"page_id": "…"} == {
        "id": "status-notifications",
        "name": "Notifications",
        "status": "operational",
        "created_at": None,  # nothing was ever published: no honest moment to give
        "updated_at": None,
        "position": 11,
        "description": "Alert emails, SMS and webhooks about your applications.",
        "showcase": True,
        "start_date": None,
        "group_id": None,
        "page_id": "…",
        "group": False,
        "only_show_if_degraded": False,
    }
    assert {c["status"] for c in listed} == {"operational"}
    assert "components" not in listed[1]


def test_an_incident_in_statuspage_shape(engine: sa.Engine) -> None:
    world = World(engine)
    outage = world.incident("API errors", components={"api": "partial_outage"}, severity="sev3")
    world.tell(
        outage,
        "identified",
        at=T0 + 20 * MINUTE,
        components={"api": "major_outage", "dashboard": "degraded_performance"},
        cause="A bad deploy.",
        fix="We are rolling it back.\nRetry failed calls.",
    )
    world.tell(outage, "monitoring", at=T0 + 40 * MINUTE, components={"api": "degraded_performance"})
    world.draft(outage, at=T0 + 50 * MINUTE)

    page = snapshot(engine, T0 + 55 * MINUTE)
    (incident,) = api.unresolved_document(page)["incidents"]

    updates = incident.pop("incident_updates")
    affected = incident.pop("components")
    assert incident == {
        "id": outage.reference,
        "name": "API errors",
        "status": "monitoring",
        "created_at": "2026-11-20T09:30:00.000Z",
        "updated_at": "2026-11-20T10:10:00.000Z",
        "monitoring_at": "2026-11-20T10:10:00.000Z",
        "resolved_at": None,
        "impact": "minor",  # sev3, and its latest update says the API is only degraded
        "shortlink": f"https://status.acme.example/incidents/{outage.reference}",
        "started_at": "2026-11-20T09:30:00.000Z",
        "page_id": PAGE.id,
    }
    assert [(u["status"], u["created_at"]) for u in updates] == [
        ("monitoring", "2026-11-20T10:10:00.000Z"),
        ("identified", "2026-11-20T09:50:00.000Z"),
        ("investigating", "2026-11-20T09:30:00.000Z"),
    ]  # newest first; the draft is not among them
    assert updates[1]["body"] == (
        "We are sorry for the trouble.\n\nA bad deploy.\n\nWe are rolling it back.\nRetry failed calls."
    )
    assert updates[2]["body"] == "Some of you cannot use the API. We are sorry."  # known parts only
    assert updates[1]["affected_components"] == [
        {"code": "api", "name": "API", "old_status": "partial_outage", "new_status": "major_outage"},
        {
            "code": "dashboard",
            "name": "Dashboard",
            "old_status": "operational",
            "new_status": "degraded_performance",
        },
    ]
    assert updates[0]["affected_components"] == [
        {"code": "api", "name": "API", "old_status": "major_outage", "new_status": "degraded_performance"},
        {
            "code": "dashboard",
            "name": "Dashboard",
            "old_status": "degraded_performance",
            "new_status": "operational",
        },
    ]
    assert {u["incident_id"] for u in updates} == {outage.reference}
    assert all(u["display_at"] == u["created_at"] == u["updated_at"] for u in updates)
    assert [(c["id"], c["status"]) for c in affected] == [
        ("dashboard", "operational"),
        ("api", "degraded_performance"),
    ]


def test_a_resolved_incident_leaves_the_unresolved_list_and_moves_its_components(engine: sa.Engine) -> None:
    world = World(engine)
    outage = world.incident("API errors", components={"api": "major_outage"}, severity="sev1")
    world.incident(
        "Slow builds", components={"builds": "degraded_performance"}, at=T0 + 5 * MINUTE, severity="sev3"
    )
    world.resolve(outage, at=T0 + 60 * MINUTE)

    page = snapshot(engine, T0 + 90 * MINUTE)
    listed = api.incidents_document(page)["incidents"]
    components = {c["id"]: c for c in api.components_document(page)["components"]}

    assert [(i["name"], i["status"], i["resolved_at"]) for i in listed] == [
        ("Slow builds", "investigating", None),
        ("API errors", "resolved", "2026-11-20T10:30:00.000Z"),
    ]
    assert listed[1]["impact"] == "critical"
    assert [i["name"] for i in api.unresolved_document(page)["incidents"]] == ["Slow builds"]
    assert api.status_document(page)["status"] == {
        "indicator": "minor",
        "description": "Minor Service Outage",
    }
    assert components["api"]["status"] == "operational"
    assert components["api"]["updated_at"] == "2026-11-20T10:30:00.000Z"  # its incident was resolved
    assert components["builds"]["updated_at"] == "2026-11-20T09:35:00.000Z"
    assert (
        components["deploys"]["updated_at"] == "2026-11-20T10:30:00.000Z"
    )  # untouched: the page's last change
    assert {c["created_at"] for c in components.values()} == {"2026-11-20T09:30:00.000Z"}
    assert (components["platform"]["status"], components["platform"]["updated_at"]) == (
        "degraded_performance",
        "2026-11-20T09:35:00.000Z",
    )  # a group is as bad as its worst member


def test_bodies_and_names_follow_the_locale(engine: sa.Engine) -> None:
    world = World(engine)
    world.incident(
        "API errors",
        cause="A bad deploy.",
        locale_parts={
            "de": {"apology": "Die API ist gestört. Entschuldigung.", "cause": "Ein fehlerhaftes Deployment."}
        },
    )
    page = snapshot(engine, T0 + MINUTE)

    def body(locale: str) -> str:
        document = json.loads(api.render_document(page, "incidents.json", locale))
        return str(document["incidents"][0]["incident_updates"][0]["body"])

    assert body("de") == "Die API ist gestört. Entschuldigung.\n\nEin fehlerhaftes Deployment."
    assert body("en") == "Some of you cannot use the API. We are sorry.\n\nA bad deploy."
    assert api.render_document(page, "summary.json", "fr") == api.render_document(page, "summary.json", "en")
    assert api.locale_of("de") == "de" and api.locale_of("xx-evil") == api.locale_of(None) == "en"


def test_maintenance_from_scheduled_to_completed(engine: sa.Engine) -> None:
    world = World(engine)
    starts = T0 + timedelta(days=2)
    work = world.maintenance("Database upgrade", starts=starts, hours=2, components=["api"])

    before = snapshot(engine, starts - timedelta(hours=1))
    (upcoming,) = api.upcoming_document(before)["scheduled_maintenances"]
    assert upcoming | {"incident_updates": [], "components": []} == {
        "id": work.reference,
        "name": "Database upgrade",
        "status": "scheduled",
        "created_at": "2026-11-15T09:30:00.000Z",
        "updated_at": "2026-11-15T09:30:00.000Z",
        "monitoring_at": None,
        "resolved_at": None,
        "impact": "maintenance",
        "shortlink": f"https://status.acme.example/incidents/{work.reference}",
        "started_at": "2026-11-15T09:30:00.000Z",
        "page_id": PAGE.id,
        "incident_updates": [],
        "components": [],
        "scheduled_for": "2026-11-22T09:30:00.000Z",
        "scheduled_until": "2026-11-22T11:30:00.000Z",
    }
    assert [c["id"] for c in upcoming["components"]] == ["api"]
    assert api.active_document(before)["scheduled_maintenances"] == []
    assert api.summary_document(before)["scheduled_maintenances"] == [upcoming]
    assert api.incidents_document(before)["incidents"] == []  # maintenance has lists of its own

    during = snapshot(engine, starts + 30 * MINUTE)
    (active,) = api.active_document(during)["scheduled_maintenances"]
    assert active["status"] == "in_progress"
    assert [c["status"] for c in active["components"]] == ["under_maintenance"]
    assert api.status_document(during)["status"]["indicator"] == "maintenance"
    assert api.upcoming_document(during)["scheduled_maintenances"] == []

    world.tell(work, "monitoring", at=starts + 150 * MINUTE, components={"api": "under_maintenance"})
    world.resolve(work, at=starts + 3 * 60 * MINUTE)
    done = snapshot(engine, starts + timedelta(days=1))
    (completed,) = api.maintenances_document(done)["scheduled_maintenances"]
    assert completed["status"] == "completed"
    assert completed["resolved_at"] == "2026-11-22T12:30:00.000Z"
    updates = completed["incident_updates"]
    assert [u["status"] for u in updates] == ["completed", "verifying", "scheduled"]
    assert [u["affected_components"] for u in updates] == [
        [{"code": "api", "name": "API", "old_status": "under_maintenance", "new_status": "operational"}],
        [{"code": "api", "name": "API", "old_status": "operational", "new_status": "under_maintenance"}],
        None,  # announcing a window changes nothing until it opens
    ]
    assert api.summary_document(done)["scheduled_maintenances"] == []


def told(number: int, *, maintenance: bool = False) -> PublicIncident:
    """A published incident made in memory (for lists too long to publish one by one)."""
    at = T0 + number * MINUTE
    facts = (
        {"maintenance": {"starts_at": at.isoformat(), "ends_at": (at + MINUTE).isoformat()}}
        if maintenance
        else {}
    )
    update = PublishedUpdate(
        id=number,
        number=1,
        kind=UpdateKind.INITIAL,
        status=IncidentStatus.INVESTIGATING,
        published_at=at,
        next_update_by=at + timedelta(hours=1),
        parts={"apology": {"en": {"text": f"Sorry ({number}).", "short": None}}},
        facts=facts,
    )
    return PublicIncident(
        id=number,
        reference=f"INC-{number:04d}",
        title=f"Incident {number}",
        playbook="outage",
        severity="sev3",
        declared_at=at,
        started_at=None,
        resolved_at=None,
        time_zone="UTC",
        updates=(update,),
    )


def test_lists_hold_the_fifty_most_recent() -> None:
    record = Record(tuple(told(n, maintenance=n % 2 == 0) for n in range(130, 0, -1)))
    page = Snapshot(record, catalogue_at(COMPONENTS_FILE), T0 + timedelta(days=1), PAGE)

    incidents = api.incidents_document(page)["incidents"]
    maintenances = api.maintenances_document(page)["scheduled_maintenances"]

    assert [i["id"] for i in incidents] == [f"INC-{n:04d}" for n in range(129, 29, -2)]
    assert [m["id"] for m in maintenances] == [f"INC-{n:04d}" for n in range(130, 30, -2)]
    assert len(api.unresolved_document(page)["incidents"]) == 65  # unresolved is never cut


def test_every_path_has_a_document() -> None:
    assert sorted(api.DOCUMENTS) == [
        "components.json",
        "incidents.json",
        "incidents/unresolved.json",
        "scheduled-maintenances.json",
        "scheduled-maintenances/active.json",
        "scheduled-maintenances/upcoming.json",
        "status.json",
        "summary.json",
    ]
