"""The banner store: idempotent publish, revisions, clearing, expiry and filters (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from clarion import banner as banners
from clarion import store
from clarion.kinds import IncidentStatus
from clarion.models import Banner, IncidentCreate, UpdateCreate

LATER = timedelta(hours=1)


@dataclass
class Story:
    incident_id: int
    update_ids: list[int]


@pytest.fixture
def story(engine: sa.Engine, incident_in: IncidentCreate, update_in: UpdateCreate) -> Story:
    """One incident with three updates."""
    with store.session_scope(engine) as session:
        incident = store.create_incident(session=session, incident_in=incident_in)
        updates = [
            store.add_update(session=session, incident=incident, update_in=update_in) for _ in range(3)
        ]
    assert incident.id is not None
    return Story(incident.id, [u.id for u in updates if u.id is not None])


def publish(session: Session, story: Story, n: int = 0, **overrides: object) -> Banner:
    fields: dict[str, object] = {
        "incident_id": story.incident_id,
        "update_id": story.update_ids[n],
        "audience": "customers",
        "locale": "en",
        "severity": "sev1",
        "status": "investigating",
        "text": f"Checkout is failing (update {n + 1}).",
        "link": "https://status.example.com/incidents/INC-0001",
    } | overrides
    return banners.publish_banner(session=session, **fields)  # type: ignore[arg-type]


def showing(engine: sa.Engine, **filters: object) -> list[tuple[str, str, int]]:
    with store.session_scope(engine) as session:
        rows = banners.active_banners(session=session, now=datetime.now(UTC), **filters)  # type: ignore[arg-type]
        return [(b.audience, b.locale, b.revision) for b in rows]


def test_first_publish_shows_revision_1(engine: sa.Engine, story: Story) -> None:
    with store.session_scope(engine) as session:
        row = publish(session, story)

    assert (row.revision, row.update_id, row.cleared_at) == (1, story.update_ids[0], None)
    assert row.updated_at.tzinfo is not None
    assert showing(engine) == [("customers", "en", 1)]


def test_republishing_the_same_update_changes_nothing(engine: sa.Engine, story: Story) -> None:
    with store.session_scope(engine) as session:
        first = publish(session, story)
    with store.session_scope(engine) as session:
        again = publish(session, story, text="a retried delivery")

    assert (again.id, again.revision, again.updated_at) == (first.id, 1, first.updated_at)
    assert again.text == first.text


def test_a_newer_update_bumps_revision_and_replaces_the_content(engine: sa.Engine, story: Story) -> None:
    with store.session_scope(engine) as session:
        first = publish(session, story)
    with store.session_scope(engine) as session:
        second = publish(session, story, 1, status="identified", severity="sev2", link=None)

    assert second.id == first.id
    assert (second.revision, second.status, second.severity, second.link) == (2, "identified", "sev2", None)
    assert second.updated_at > first.updated_at
    assert second.starts_at == first.starts_at


def test_an_older_update_arriving_late_is_ignored(engine: sa.Engine, story: Story) -> None:
    with store.session_scope(engine) as session:
        publish(session, story, 2)
    with store.session_scope(engine) as session:
        late = publish(session, story, 0)

    assert (late.update_id, late.revision) == (story.update_ids[2], 1)


def test_clear_takes_every_banner_of_the_incident_down(engine: sa.Engine, story: Story) -> None:
    with store.session_scope(engine) as session:
        publish(session, story, audience="customers")
        publish(session, story, audience="partners", locale="de")
    at = datetime.now(UTC)
    with store.session_scope(engine) as session:
        cleared = banners.clear_banners(session=session, incident_id=story.incident_id, at=at)
    with store.session_scope(engine) as session:
        again = banners.clear_banners(session=session, incident_id=story.incident_id, at=at)
        row = banners.get_banner(
            session=session, incident_id=story.incident_id, audience="partners", locale="de"
        )

    assert (cleared, again) == (2, 0)
    assert showing(engine) == []
    assert row is not None
    assert row.cleared_at == at


def test_a_retry_after_clear_does_not_bring_the_banner_back(engine: sa.Engine, story: Story) -> None:
    with store.session_scope(engine) as session:
        publish(session, story)
        banners.clear_banners(session=session, incident_id=story.incident_id, at=datetime.now(UTC))
    with store.session_scope(engine) as session:
        publish(session, story)

    assert showing(engine) == []


def test_a_newer_update_reopens_a_cleared_banner_of_an_open_incident(engine: sa.Engine, story: Story) -> None:
    with store.session_scope(engine) as session:
        publish(session, story)
        banners.clear_banners(session=session, incident_id=story.incident_id, at=datetime.now(UTC))
    with store.session_scope(engine) as session:
        publish(session, story, 1)

    assert showing(engine) == [("customers", "en", 2)]


def test_a_resolved_update_is_stored_but_not_shown(engine: sa.Engine, story: Story) -> None:
    with store.session_scope(engine) as session:
        publish(session, story)
    with store.session_scope(engine) as session:
        row = publish(session, story, 1, status=IncidentStatus.RESOLVED.value, text="All fixed.")

    assert (row.revision, row.text) == (2, "All fixed.")
    assert row.cleared_at is not None
    assert showing(engine) == []


def test_a_late_update_of_a_resolved_incident_stays_cleared(engine: sa.Engine, story: Story) -> None:
    with store.session_scope(engine) as session:
        publish(session, story)
        banners.clear_banners(session=session, incident_id=story.incident_id, at=datetime.now(UTC))
        session.execute(
            sa.text("UPDATE incident SET status = 'resolved', resolved_at = :at WHERE id = :id"),
            {"at": datetime.now(UTC).replace(tzinfo=None), "id": story.incident_id},
        )
    with store.session_scope(engine) as session:
        publish(session, story, 1)

    assert showing(engine) == []


def test_expired_and_future_banners_are_not_showing(engine: sa.Engine, story: Story) -> None:
    now = datetime.now(UTC)
    with store.session_scope(engine) as session:
        publish(session, story, audience="gone", expires_at=now - timedelta(seconds=1))
        publish(session, story, audience="soon-gone", expires_at=now + LATER)
        later = publish(session, story, audience="later")
        later.starts_at = now + LATER
        session.add(later)

    assert showing(engine) == [("soon-gone", "en", 1)]
    with store.session_scope(engine) as session:
        in_two_hours = banners.active_banners(session=session, now=now + 2 * LATER)
    assert [b.audience for b in in_two_hours] == ["later"]


def test_filters_and_newest_first(engine: sa.Engine, story: Story) -> None:
    with store.session_scope(engine) as session:
        publish(session, story, audience="customers", locale="en")
    with store.session_scope(engine) as session:
        publish(session, story, audience="customers", locale="de")
    with store.session_scope(engine) as session:
        publish(session, story, audience="partners", locale="en")

    assert showing(engine) == [("partners", "en", 1), ("customers", "de", 1), ("customers", "en", 1)]
    assert showing(engine, audience="customers") == [("customers", "de", 1), ("customers", "en", 1)]
    assert showing(engine, locale="en") == [("partners", "en", 1), ("customers", "en", 1)]
    assert showing(engine, audience="customers", locale="en") == [("customers", "en", 1)]
    assert showing(engine, audience="nobody") == []


def test_an_unknown_update_is_refused(engine: sa.Engine, story: Story) -> None:
    with pytest.raises(IntegrityError), store.session_scope(engine) as session:
        publish(session, story, update_id=10_000)


def test_an_unknown_update_leaves_the_rest_of_the_transaction_usable(engine: sa.Engine, story: Story) -> None:
    with store.session_scope(engine) as session:
        with pytest.raises(IntegrityError), session.begin_nested():
            publish(session, story, update_id=10_000)
        publish(session, story, audience="partners")

    assert showing(engine) == [("partners", "en", 1)]


@pytest.mark.postgres
def test_concurrent_first_publishes_make_one_row(pg_engine: sa.Engine, story_pg: Story) -> None:
    """Two workers insert the same banner at once: the loser finds the winner's row and keeps it."""
    inserted, done = threading.Event(), threading.Event()
    results: dict[str, Banner] = {}

    def winner() -> None:
        with store.session_scope(pg_engine) as session:
            results["winner"] = publish(session, story_pg, 1)
            inserted.set()
            done.wait(timeout=2)  # keep the transaction open while the loser inserts

    thread = threading.Thread(target=winner)
    thread.start()
    assert inserted.wait(timeout=10)
    with store.session_scope(pg_engine) as session:
        timer = threading.Timer(0.3, done.set)
        timer.start()
        # blocks on the unique index until the winner commits, then finds the winner's row
        results["loser"] = publish(session, story_pg, 1)
    thread.join(timeout=10)
    timer.cancel()

    assert results["loser"].id == results["winner"].id
    assert results["loser"].revision == 1
    assert showing(pg_engine) == [("customers", "en", 1)]


@pytest.fixture
def story_pg(pg_engine: sa.Engine, incident_in: IncidentCreate, update_in: UpdateCreate) -> Story:
    with store.session_scope(pg_engine) as session:
        incident = store.create_incident(session=session, incident_in=incident_in)
        updates = [
            store.add_update(session=session, incident=incident, update_in=update_in) for _ in range(2)
        ]
    assert incident.id is not None
    return Story(incident.id, [u.id for u in updates if u.id is not None])
