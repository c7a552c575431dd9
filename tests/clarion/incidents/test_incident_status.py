"""Where incidents stand, read from the store: the data behind ``clarion status``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from clarion import store
from clarion.errors import NotFound
from clarion.incidents.incident_status import DeliveryCounts, incident_report, list_incidents
from clarion.kinds import ApprovalDecision, Channel, DeliveryState, IncidentStatus, UpdateKind, UpdateState
from clarion.models import Approval, Delivery, IncidentCreate, UpdateCreate
from tests.helpers import PLAYBOOKS

DECLARED = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
_keys = count()


def add_incident(
    session: Session,
    reference: str,
    *,
    playbook: str = "data-breach",
    status: IncidentStatus = IncidentStatus.IDENTIFIED,
    commander: str | None = None,
) -> int:
    incident = store.create_incident(
        session=session,
        incident_in=IncidentCreate(
            reference=reference,
            playbook=playbook,
            severity="sev1",
            title="Customer contact details exposed",
            status=status,
            aware_at=DECLARED,
            commander=commander,
        ),
    )
    incident.declared_at = DECLARED
    session.add(incident)
    session.flush()
    assert incident.id is not None
    return incident.id


def add_update(
    session: Session,
    reference: str,
    *,
    kind: UpdateKind,
    state: UpdateState,
    status: IncidentStatus = IncidentStatus.IDENTIFIED,
    published_at: datetime | None = None,
    next_update_by: datetime = DECLARED + timedelta(hours=2),
) -> int:
    incident = store.get_incident(session=session, reference=reference)
    update = store.add_update(
        session=session,
        incident=incident,
        update_in=UpdateCreate(
            kind=kind,
            status=status,
            apology={"en": {"text": "We are sorry.", "short": "Sorry."}},
            next_update_by=next_update_by,
        ),
    )
    update.state, update.published_at = state, published_at
    session.add(update)
    session.flush()
    assert update.id is not None
    return update.id


def add_deliveries(session: Session, update_id: int, channel: Channel, state: DeliveryState, n: int) -> None:
    for _ in range(n):
        key = f"test-{next(_keys)}"
        session.add(Delivery(update_id=update_id, channel=channel, idempotency_key=key, state=state))
    session.flush()


def seed_breach(engine: sa.Engine, *, with_second: bool = True) -> None:
    """INC-0042 (data-breach): update 1 published and partly delivered; update 2 approved by legal only.

    INC-0043 (outage): resolved.
    """
    with store.session_scope(engine) as session:
        add_incident(session, "INC-0042", commander="ada@example.com")
        first = add_update(
            session,
            "INC-0042",
            kind=UpdateKind.INITIAL,
            state=UpdateState.PUBLISHED,
            published_at=DECLARED + timedelta(hours=1),
        )
        for channel, state, n in [
            (Channel.EMAIL, DeliveryState.ACCEPTED, 2),
            (Channel.EMAIL, DeliveryState.DELIVERED, 1),
            (Channel.EMAIL, DeliveryState.FAILED, 1),
            (Channel.EMAIL, DeliveryState.BOUNCED, 1),
            (Channel.EMAIL, DeliveryState.PENDING, 1),
            (Channel.EMAIL, DeliveryState.CLAIMED, 1),
            (Channel.EMAIL, DeliveryState.SUPPRESSED, 1),
            (Channel.SMS, DeliveryState.ACCEPTED, 3),
        ]:
            add_deliveries(session, first, channel, state, n)
        second = add_update(
            session,
            "INC-0042",
            kind=UpdateKind.UPDATE,
            state=UpdateState.PENDING_APPROVAL,
            next_update_by=DECLARED + timedelta(hours=3),
        )
        session.add(
            Approval(
                update_id=second,
                role="legal",
                approver="legal-on-call@example.com",
                decision=ApprovalDecision.APPROVED,
            )
        )
        if with_second:
            add_incident(session, "INC-0043", playbook="outage", status=IncidentStatus.RESOLVED)
            add_update(
                session,
                "INC-0043",
                kind=UpdateKind.RESOLUTION,
                state=UpdateState.PUBLISHED,
                status=IncidentStatus.RESOLVED,
                published_at=DECLARED + timedelta(hours=2),
            )


@pytest.fixture
def seeded(memory_engine: sa.Engine) -> sa.Engine:
    seed_breach(memory_engine)
    return memory_engine


def test_list_incidents_newest_first_with_promises_and_pending_approvals(seeded: sa.Engine) -> None:
    now = DECLARED + timedelta(hours=1, minutes=30)

    incidents = list_incidents(seeded, playbooks_dir=PLAYBOOKS, now=now)

    assert [i.reference for i in incidents] == ["INC-0043", "INC-0042"]
    resolved, breach = incidents
    assert (breach.playbook, breach.severity, breach.status) == (
        "data-breach",
        "sev1",
        IncidentStatus.IDENTIFIED,
    )
    assert breach.updates == 2
    assert breach.last_published_at == DECLARED + timedelta(hours=1)
    assert breach.next_update_by == DECLARED + timedelta(hours=2)  # the published promise, not the draft's
    assert breach.due_in == timedelta(minutes=30)
    assert breach.pending_approvals == ("dpo",)  # legal has approved update 2
    assert resolved.next_update_by is None and resolved.due_in is None  # nothing more is promised
    assert resolved.pending_approvals == ()


def test_a_lapsed_promise_is_negative_time_left(seeded: sa.Engine) -> None:
    now = DECLARED + timedelta(hours=2, minutes=5)

    breach = incident_report(seeded, reference="INC-0042", playbooks_dir=PLAYBOOKS, now=now).summary

    assert breach.due_in == timedelta(minutes=-5)


def test_time_left_runs_on_the_incidents_clock(seeded: sa.Engine) -> None:
    """With time_scale 360 an incident hour passes in 10 s: 15 s after declaring, 1.5 h have passed."""
    now = DECLARED + timedelta(seconds=15)

    breach = incident_report(
        seeded, reference="INC-0042", playbooks_dir=PLAYBOOKS, time_scale=360, now=now
    ).summary

    assert breach.due_in == timedelta(minutes=30)


def test_incident_report_lists_updates_and_groups_the_latest_published_deliveries(seeded: sa.Engine) -> None:
    report = incident_report(seeded, reference="INC-0042", playbooks_dir=PLAYBOOKS)

    assert report.commander == "ada@example.com"
    assert report.declared_at == DECLARED
    assert [(u.number, u.kind, u.state) for u in report.updates] == [
        (1, UpdateKind.INITIAL, UpdateState.PUBLISHED),
        (2, UpdateKind.UPDATE, UpdateState.PENDING_APPROVAL),
    ]
    assert report.updates[0].published_at == DECLARED + timedelta(hours=1)
    assert report.updates[1].next_update_by == DECLARED + timedelta(hours=3)
    assert report.published_update == 1
    assert dict(report.deliveries) == {
        Channel.EMAIL: DeliveryCounts(accepted=3, failed=2, pending=2, suppressed=1),
        Channel.SMS: DeliveryCounts(accepted=3),
    }
    assert report.deliveries[Channel.EMAIL].total == 8


def test_an_unknown_incident_is_not_found(seeded: sa.Engine) -> None:
    with pytest.raises(NotFound, match="INC-0099"):
        incident_report(seeded, reference="INC-0099", playbooks_dir=PLAYBOOKS)


def test_an_incident_whose_playbook_is_gone_shows_its_approvals_as_unknown(memory_engine: sa.Engine) -> None:
    with store.session_scope(memory_engine) as session:
        add_incident(session, "INC-0007", playbook="no-such-playbook")
        add_update(session, "INC-0007", kind=UpdateKind.INITIAL, state=UpdateState.PENDING_APPROVAL)

    [incident] = list_incidents(memory_engine, playbooks_dir=PLAYBOOKS)

    assert incident.pending_approvals is None
    assert incident.last_published_at is None and incident.next_update_by is None


def test_no_incidents_is_an_empty_list(memory_engine: sa.Engine) -> None:
    assert list_incidents(memory_engine, playbooks_dir=PLAYBOOKS) == []
