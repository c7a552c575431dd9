"""The post-incident report's figures, every one checked against an incident with known timings
(:mod:`tests.clarion.review.review_world`), on SQLite and on PostgreSQL; its JSON read back whole."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from clarion import store
from clarion.incidents.clock import IncidentClock
from clarion.kinds import Channel, DeliveryState, IncidentStatus, UpdateKind, UpdateState
from clarion.models import Delivery, Update
from clarion.review.figures import (
    ChannelFirst,
    ChannelReach,
    Commitments,
    Promise,
    Review,
    RoleApprovals,
    StageOutcome,
    SurveyFigures,
    promises_of,
    review,
)
from clarion.review.jsonform import from_json, to_json
from tests.clarion.review.review_world import NOW, at, known_incident
from tests.clarion.surveys.answer_world import SurveyRows


def review_of(engine: sa.Engine, reference: str = "INC-0042", now: timedelta | None = None) -> Review:
    with Session(engine) as session:
        incident = store.get_incident(session=session, reference=reference)
        return review(session=session, incident=incident, now=NOW if now is None else NOW + now)


@pytest.fixture
def reviewed(engine: sa.Engine) -> Review:
    known_incident(engine)
    return review_of(engine)


def test_time_to_first_word_overall_and_per_channel(reviewed: Review) -> None:
    first = reviewed.first_word
    assert (first.first_at, first.after) == (at(minutes=40), timedelta(minutes=40))
    assert first.channels == [
        ChannelFirst("email", at(minutes=40), timedelta(minutes=40), served=False),
        ChannelFirst("sms", at(minutes=42), timedelta(minutes=42), served=False),
        ChannelFirst("banner", at(minutes=40), timedelta(minutes=40), served=True),
        ChannelFirst("statuspage", at(minutes=40), timedelta(minutes=40), served=True),
    ]


def test_promises_kept_and_the_worst_lateness(reviewed: Review) -> None:
    promises = reviewed.promises
    assert (promises.due, promises.kept, promises.worst_late_by) == (3, 2, timedelta(minutes=25))
    assert promises.share == pytest.approx(2 / 3)
    assert promises.promises == [
        Promise(1, at(hours=2), False, at(hours=2, minutes=25), timedelta(minutes=25)),
        Promise(2, at(hours=3, minutes=25), True, at(hours=3, minutes=20), None),
        Promise(3, at(hours=4, minutes=20), True, at(hours=4), None),
    ]  # the resolution's own promise (+5:00) is nobody's to wait for


def test_reach_overall_and_per_channel(reviewed: Review) -> None:
    reach = reviewed.reach
    assert (reach.audience, reach.reached, reach.share) == (5, 2, 0.4)
    assert reach.channels == [
        ChannelReach(
            "email",
            audience=4,
            reached=2,
            accepted=1,
            delivered=2,
            bounced=1,
            failed=0,
            suppressed=1,
            pending=0,
            counted=2,
        ),
        ChannelReach(
            "sms",
            audience=2,
            reached=1,
            accepted=1,
            delivered=0,
            bounced=0,
            failed=1,
            suppressed=0,
            pending=0,
            counted=0,  # ada's email was delivered: she is counted there
        ),
    ]
    assert reach.by_fallback == 0


def test_reach_counts_a_person_once_by_the_channel_that_reached_them(engine: sa.Engine) -> None:
    """cy's email bounced and its SMS fallback was delivered; bob's email was only ever accepted and
    so was its fallback: both count for SMS, ada (email delivered, SMS accepted) for email."""
    known_incident(engine)
    with store.session_scope(engine) as session:
        emails = {
            d.recipient_id: d
            for d in session.exec(
                select(Delivery).where(col(Delivery.idempotency_key).like("INC-0042/1/email/%"))
            )
        }
        for name, state in (("cy", DeliveryState.DELIVERED), ("bob", DeliveryState.ACCEPTED)):
            source = next(d for d in emails.values() if d.idempotency_key.endswith(f"/{name}"))
            session.add(
                Delivery(
                    update_id=source.update_id,
                    recipient_id=source.recipient_id,
                    channel=Channel.SMS,
                    idempotency_key=f"fallback/{name}",
                    state=state,
                    accepted_at=at(hours=3),
                    fallback_of=source.id,
                )
            )
    reach = review_of(engine).reach
    assert (reach.audience, reach.reached, reach.by_fallback) == (5, 3, 2)
    assert {c.channel: c.counted for c in reach.channels} == {"email": 1, "sms": 2}
    assert sum(c.counted for c in reach.channels) == reach.reached


def test_approvals_per_role(reviewed: Review) -> None:
    assert reviewed.approvals == [
        RoleApprovals("dpo", 2, median=timedelta(minutes=14), longest=timedelta(minutes=20)),
        RoleApprovals("legal", 2, median=timedelta(minutes=7, seconds=30), longest=timedelta(minutes=10)),
    ]


def test_regulatory_stages_with_their_margins(reviewed: Review) -> None:
    assert reviewed.stages == [
        StageOutcome(
            "gdpr-art33", "initial", "supervisory authority", at(72), at(75), "late", -timedelta(hours=3)
        ),
        StageOutcome(
            "gdpr-art34", "communication", "supervisory authority", at(72), at(24), "met", timedelta(hours=48)
        ),
    ]
    assert reviewed.stage_counts() == {"met": 1, "late": 1, "waived": 0, "missed": 0, "open": 0}


def test_commitments_shipped_on_time_and_overdue(reviewed: Review) -> None:
    assert reviewed.commitments == Commitments(
        total=2, shipped_on_time=1, shipped_late=0, dropped=0, open=1, overdue=1
    )


def test_the_incident_itself(reviewed: Review) -> None:
    assert (reviewed.reference, reviewed.status, reviewed.updates) == ("INC-0042", "resolved", 4)
    assert (reviewed.aware_at, reviewed.declared_at, reviewed.resolved_at) == (at(), at(minutes=5), at(4))
    assert reviewed.survey is None  # no survey ran


def test_survey_figures_where_a_survey_ran(engine: sa.Engine) -> None:
    known_incident(engine)
    with Session(engine) as session:
        incident = store.get_incident(session=session, reference="INC-0042")
    rows = SurveyRows(engine, incident, opened_at=at(24 * 3))
    rows.open_survey(invited=3)
    for name, informed, trust in (("ann", 5, 4), ("ben", 2, 1)):
        rows.ask(name, email=f"{name}@example.com")
        rows.answer(name, informed=informed, trust=trust)
    rows.ask("cat", email="cat@example.com")

    assert review_of(engine).survey == SurveyFigures(
        invited=3, answered=2, informed_mean=3.5, trust_mean=2.5, positive=1, negative=1, ratio=1.0
    )


def test_an_open_incident_counts_only_the_promises_that_came_due(engine: sa.Engine) -> None:
    """Before the second update: the first promise is broken once its time has passed, not before."""
    known_incident(engine)
    with store.session_scope(engine) as session:
        for update in session.exec(select(Update).where(col(Update.number) > 1)):
            update.state, update.published_at = UpdateState.DRAFT, None  # not published yet
            session.add(update)
        incident = store.get_incident(session=session, reference="INC-0042")
        incident.resolved_at = None
        session.add(incident)
    with Session(engine) as session:
        incident = store.get_incident(session=session, reference="INC-0042")
        early = review(session=session, incident=incident, now=at(hours=1))
        late = review(session=session, incident=incident, now=at(hours=2, minutes=10))
    assert (early.promises.due, early.promises.worst_late_by) == (0, None)
    assert (late.promises.due, late.promises.kept) == (1, 0)
    assert late.promises.worst_late_by == timedelta(minutes=10)  # and counting


def test_the_json_round_trips(reviewed: Review) -> None:
    data = json.loads(json.dumps(to_json(reviewed)))
    assert from_json(Review, data) == reviewed
    assert data["first_word"]["after"] == 2400.0  # durations in seconds
    assert data["aware_at"] == "2026-03-02T08:00:00+00:00"


def test_promises_on_a_sped_up_clock_are_compared_at_their_wall_clock_moment() -> None:
    """The demo's clock runs 120x: an update promised one incident-hour after it, answered 40 wall
    seconds later, was late by 10 s of wall clock (20 incident-minutes), not early by 59 minutes."""
    declared = datetime(2026, 12, 6, 22, 0, tzinfo=UTC)
    clock = IncidentClock(declared, 120.0)
    first = Update(
        incident_id=1, number=1, kind=UpdateKind.INITIAL, status=IncidentStatus.IDENTIFIED,
        published_at=declared, next_update_by=declared + timedelta(minutes=40),  # 20 s of wall clock
    )  # fmt: skip
    second = Update(
        incident_id=1, number=2, kind=UpdateKind.UPDATE, status=IncidentStatus.IDENTIFIED,
        published_at=declared + timedelta(seconds=30), next_update_by=declared + timedelta(hours=3),
    )  # fmt: skip
    now = declared + timedelta(minutes=70)  # incident time: 35 s of wall clock

    scaled = promises_of([first, second], resolved_at=None, now=now, wall=clock.wall)
    unscaled = promises_of([first, second], resolved_at=None, now=now)

    assert (scaled.due, scaled.kept, scaled.worst_late_by) == (1, 0, timedelta(seconds=10))
    assert (unscaled.due, unscaled.kept) == (1, 1)  # what comparing the two clocks directly claimed
