"""The banner adapter: the database is the provider."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import select

from channels.banner import BannerAdapter
from clarion import banner as banners
from clarion import store
from clarion.errors import PermanentChannelError, TransientChannelError
from clarion.kinds import Channel, IncidentStatus
from clarion.models import Banner, IncidentCreate, UpdateCreate
from clarion.outbox.port import Content, OutboundMessage, Presence
from clarion.settings import get_settings

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = store.make_engine(f"sqlite:///{tmp_path}/clarion.db")
    store.migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def ids(engine: sa.Engine) -> tuple[int, list[int]]:
    """An incident with two updates: (incident id, [update ids])."""
    with store.session_scope(engine) as session:
        incident = store.create_incident(
            session=session,
            incident_in=IncidentCreate(playbook="outage", severity="sev1", title="Checkout", aware_at=NOW),
        )
        update_in = UpdateCreate(
            status=IncidentStatus.INVESTIGATING,
            apology={"en": {"text": "Sorry.", "short": "Sorry."}},
            next_update_by=NOW + timedelta(hours=1),
        )
        updates = [store.add_update(session=session, incident=incident, update_in=update_in) for _ in "ab"]
    assert incident.id is not None
    return incident.id, [u.id for u in updates if u.id is not None]


def message(
    ids: tuple[int, list[int]], delivery_id: int = 1, *, n: int = 0, **changes: object
) -> OutboundMessage:
    incident_id, update_ids = ids
    built = OutboundMessage(
        delivery_id=delivery_id,
        idempotency_key=f"banner-{delivery_id}",
        channel=Channel.BANNER,
        content=Content(
            rendition_id=None,
            locale="en",
            text=f"INC-0001 · Investigating: checkout fails (update {n + 1}).",
            link="https://status.example.com/incidents/INC-0001",
        ),
        incident_reference="INC-0001",
        severity="sev1",
        status="investigating",
        created_at=NOW,
        audience="customers",
        incident_id=incident_id,
        update_id=update_ids[n],
    )
    return replace(built, **changes)  # type: ignore[arg-type]


def rows(engine: sa.Engine) -> list[tuple[str, str, int, str]]:
    with store.session_scope(engine) as session:
        found = session.exec(select(Banner).order_by(Banner.id)).all()  # type: ignore[arg-type]
        return [(b.audience, b.locale, b.revision, b.text) for b in found]


def test_each_message_is_one_audience_and_locale_banner(
    engine: sa.Engine, ids: tuple[int, list[int]]
) -> None:
    adapter = BannerAdapter.from_settings(get_settings(), engine=engine)
    german = message(ids, 2)
    german = replace(
        german, audience="partners", content=replace(german.content, locale="de", text="Störung.")
    )

    results = adapter.send([message(ids, 1), german])

    assert [r.accepted for r in results] == [True, True]
    assert [r.provider_id for r in results] == ["banner:1:r1", "banner:2:r1"]
    assert {r.provider_status for r in results} == {"published"}
    assert rows(engine) == [
        ("customers", "en", 1, "INC-0001 · Investigating: checkout fails (update 1)."),
        ("partners", "de", 1, "Störung."),
    ]
    with store.session_scope(engine) as session:
        shown = banners.active_banners(session=session, now=datetime.now(UTC), audience="customers")
    assert [(b.link, b.severity, b.status) for b in shown] == [
        ("https://status.example.com/incidents/INC-0001", "sev1", "investigating")
    ]


def test_a_resend_does_not_bump_the_revision(engine: sa.Engine, ids: tuple[int, list[int]]) -> None:
    adapter = BannerAdapter(engine=engine)

    first = adapter.send([message(ids)])
    again = adapter.send([message(ids)])

    assert first[0].provider_id == again[0].provider_id == "banner:1:r1"
    assert rows(engine)[0][2] == 1


def test_the_next_update_bumps_the_revision(engine: sa.Engine, ids: tuple[int, list[int]]) -> None:
    adapter = BannerAdapter(engine=engine)
    adapter.send([message(ids, 1)])

    results = adapter.send([message(ids, 2, n=1, status="identified")])

    assert results[0].provider_id == "banner:1:r2"
    assert rows(engine) == [("customers", "en", 2, "INC-0001 · Investigating: checkout fails (update 2).")]


def test_a_late_older_update_is_accepted_as_superseded(engine: sa.Engine, ids: tuple[int, list[int]]) -> None:
    adapter = BannerAdapter(engine=engine)
    adapter.send([message(ids, 2, n=1)])

    late = adapter.send([message(ids, 1, n=0)])

    assert (late[0].accepted, late[0].provider_status, late[0].provider_id) == (
        True,
        "superseded",
        "banner:1:r1",
    )
    assert rows(engine)[0][3].endswith("(update 2).")


def test_reconcile_tells_present_from_absent(engine: sa.Engine, ids: tuple[int, list[int]]) -> None:
    adapter = BannerAdapter(engine=engine)
    adapter.send([message(ids, 1)])

    answers = adapter.reconcile([message(ids, 1), message(ids, 2, n=1), message(ids, 3, audience="partners")])

    assert [(a.delivery_id, a.presence, a.provider_id) for a in answers] == [
        (1, Presence.PRESENT, "banner:1:r1"),
        (2, Presence.ABSENT, None),
        (3, Presence.ABSENT, None),
    ]
    assert BannerAdapter.no_duplicates is True


def test_a_bad_message_fails_alone(engine: sa.Engine, ids: tuple[int, list[int]]) -> None:
    adapter = BannerAdapter(engine=engine)

    results = adapter.send(
        [message(ids, 1, update_id=None), message(ids, 2, update_id=10_000), message(ids, 3, audience="x")]
    )

    assert isinstance(results[0].error, PermanentChannelError)
    assert "lacks update_id" in str(results[0].error)
    assert isinstance(results[1].error, PermanentChannelError)
    assert "IntegrityError" in str(results[1].error)
    assert results[2].accepted
    assert rows(engine) == [("x", "en", 1, "INC-0001 · Investigating: checkout fails (update 1).")]


def test_an_unreachable_database_is_a_transient_batch_error(
    tmp_path: Path, ids: tuple[int, list[int]]
) -> None:
    unmigrated = store.make_engine(f"sqlite:///{tmp_path}/empty/clarion.db")
    adapter = BannerAdapter(engine=unmigrated)

    with pytest.raises(TransientChannelError, match=r"banner: database error \(OperationalError\)"):
        adapter.send([message(ids)])
    unmigrated.dispose()


def test_batches_are_checked_and_repr_hides_nothing_secret(
    engine: sa.Engine, ids: tuple[int, list[int]]
) -> None:
    adapter = BannerAdapter(engine=engine)

    with pytest.raises(ValueError, match="at most 500"):
        adapter.send([message(ids, i) for i in range(501)])
    with pytest.raises(ValueError, match="handed sms messages"):
        adapter.send([message(ids, channel=Channel.SMS)])
    pg = BannerAdapter(engine=store.make_engine("postgresql://clarion:hunter2@db.example/clarion"))
    assert "hunter2" not in repr(pg)
    assert "db.example" in repr(pg)
