"""The delivery ledger's events: monotonic, deduplicated, consent-aware, cheap in batches."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from channels.email_events import apply_sendgrid_events
from channels.sms_events import apply_twilio_status
from clarion import store
from clarion.audiences import consent
from clarion.kinds import Channel, ConsentState, DeliveryState
from clarion.models import AuditEvent, Delivery, IncidentCreate, ProviderEvent, RecipientCreate, UpdateCreate
from clarion.outbox.events import MAX_KEY_CHARS, EventSummary

T0 = 1_772_000_000


@pytest.fixture
def update_id(sqlite_engine: sa.Engine, incident_in: IncidentCreate, update_in: UpdateCreate) -> int:
    with store.session_scope(sqlite_engine) as session:
        incident = store.create_incident(session=session, incident_in=incident_in)
        update = store.add_update(session=session, incident=incident, update_in=update_in)
        assert update.id is not None
        return update.id


def add_delivery(
    engine: sa.Engine,
    update_id: int,
    *,
    channel: Channel = Channel.EMAIL,
    state: DeliveryState = DeliveryState.ACCEPTED,
    provider_id: str | None = None,
    with_recipient: bool = False,
    **fields: Any,
) -> int:
    with store.session_scope(engine) as session:
        recipient_id = None
        if with_recipient:
            recipient = store.add_recipient(
                session=session,
                recipient_in=RecipientCreate(
                    external_id=f"c-{channel}-{provider_id}", email="ada@example.com"
                ),
                consents={channel: ConsentState.GRANTED},
            )
            recipient_id = recipient.id
        delivery = Delivery(
            update_id=update_id,
            recipient_id=recipient_id,
            channel=channel,
            idempotency_key=f"{channel}-{provider_id}-{state}-{len(fields)}-{datetime.now(UTC).timestamp()}",
            state=state,
            provider_id=provider_id,
            **fields,
        )
        session.add(delivery)
        session.flush()
        assert delivery.id is not None
        return delivery.id


def sg(event: str, delivery_id: int | str, n: int = 0, **extra: Any) -> dict[str, Any]:
    """A SendGrid event as the Event Webhook posts it (custom args as top-level keys)."""
    return {
        "email": "ada@example.com",
        "event": event,
        "timestamp": T0 + n,
        "sg_event_id": f"ev-{event}-{delivery_id}-{n}",
        "sg_message_id": f"msg-{delivery_id}.filterdrecv-1",
        "smtp-id": "<x@sendgrid.net>",
        "category": ["incident"],
        "delivery_id": str(delivery_id),
        "idempotency_key": "k",
        **extra,
    }


def post(engine: sa.Engine, *events: dict[str, Any]) -> EventSummary:
    with store.session_scope(engine) as session:
        return apply_sendgrid_events(session=session, events=list(events))


def twilio(engine: sa.Engine, sid: str, status: str, token: str | None = None, **extra: str) -> EventSummary:
    params = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "To": "+4915112345678", **extra}
    with store.session_scope(engine) as session:
        return apply_twilio_status(session=session, params=params, idempotency_token=token)


def get(engine: sa.Engine, delivery_id: int) -> Delivery:
    with Session(engine) as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        return delivery


def stored_keys(engine: sa.Engine) -> list[str]:
    with Session(engine) as session:
        return sorted(session.exec(select(ProviderEvent.event_key)))


# ── the lattice ───────────────────────────────────────────────────────────────────────────────────


def test_processed_then_delivered(sqlite_engine: sa.Engine, update_id: int) -> None:
    did = add_delivery(sqlite_engine, update_id, state=DeliveryState.CLAIMED)
    assert post(sqlite_engine, sg("processed", did)).applied == 1
    delivery = get(sqlite_engine, did)
    assert (delivery.state, delivery.provider_status) == (DeliveryState.ACCEPTED, "processed")
    assert delivery.accepted_at == datetime.fromtimestamp(T0, UTC)
    post(sqlite_engine, sg("deferred", did, 1, attempt="1", response="421 try later"))
    assert get(sqlite_engine, did).provider_status == "deferred"
    post(sqlite_engine, sg("delivered", did, 2))
    assert (get(sqlite_engine, did).state, get(sqlite_engine, did).provider_status) == (
        DeliveryState.DELIVERED,
        "delivered",
    )


def test_never_moves_backwards(sqlite_engine: sa.Engine, update_id: int) -> None:
    did = add_delivery(sqlite_engine, update_id)
    summary = post(sqlite_engine, sg("delivered", did, 5), sg("processed", did, 1), sg("deferred", did, 2))
    assert summary.applied == 3
    delivery = get(sqlite_engine, did)
    assert (delivery.state, delivery.provider_status) == (DeliveryState.DELIVERED, "delivered")


def test_a_late_delivered_does_not_resurrect_a_bounce(sqlite_engine: sa.Engine, update_id: int) -> None:
    did = add_delivery(sqlite_engine, update_id)
    post(sqlite_engine, sg("bounce", did, 1, type="bounce", status="5.1.1", reason="550 5.1.1 no such user"))
    post(sqlite_engine, sg("delivered", did, 2))
    delivery = get(sqlite_engine, did)
    assert (delivery.state, delivery.provider_status) == (DeliveryState.BOUNCED, "bounce")
    assert (delivery.error_code, delivery.error_detail) == ("5.1.1", "550 5.1.1 no such user")


def test_a_confirmed_doubtful_send_is_not_in_doubt_any_more(sqlite_engine: sa.Engine, update_id: int) -> None:
    did = add_delivery(sqlite_engine, update_id, state=DeliveryState.PENDING, in_doubt=True)
    post(sqlite_engine, sg("delivered", did))
    delivery = get(sqlite_engine, did)
    assert (delivery.state, delivery.in_doubt) == (DeliveryState.DELIVERED, False)
    assert delivery.accepted_at is not None


def test_suppressed_deliveries_stay_suppressed(sqlite_engine: sa.Engine, update_id: int) -> None:
    did = add_delivery(sqlite_engine, update_id, state=DeliveryState.SUPPRESSED)
    post(sqlite_engine, sg("delivered", did))
    assert get(sqlite_engine, did).state is DeliveryState.SUPPRESSED


def test_twilio_statuses_are_ordered_inside_accepted(sqlite_engine: sa.Engine, update_id: int) -> None:
    did = add_delivery(
        sqlite_engine, update_id, channel=Channel.SMS, provider_id="SM1", provider_status="queued"
    )
    twilio(sqlite_engine, "SM1", "sent")
    twilio(sqlite_engine, "SM1", "sending")  # arrives late
    delivery = get(sqlite_engine, did)
    assert (delivery.state, delivery.provider_status) == (DeliveryState.ACCEPTED, "sent")
    twilio(sqlite_engine, "SM1", "delivered")
    assert get(sqlite_engine, did).state is DeliveryState.DELIVERED


def test_twilio_failure_keeps_the_error_code(sqlite_engine: sa.Engine, update_id: int) -> None:
    did = add_delivery(sqlite_engine, update_id, channel=Channel.SMS, provider_id="SM2")
    twilio(sqlite_engine, "SM2", "undelivered", ErrorCode="30003")
    delivery = get(sqlite_engine, did)
    assert (delivery.state, delivery.provider_status, delivery.error_code) == (
        DeliveryState.FAILED,
        "undelivered",
        "30003",
    )


# ── duplicates and strangers ──────────────────────────────────────────────────────────────────────


def test_duplicates_by_sg_event_id_are_applied_once(sqlite_engine: sa.Engine, update_id: int) -> None:
    did = add_delivery(sqlite_engine, update_id)
    event = sg("delivered", did)
    first = post(sqlite_engine, event, dict(event))
    assert (first.applied, first.duplicates) == (1, 1)
    again = post(sqlite_engine, event)
    assert (again.applied, again.duplicates) == (0, 1)
    assert stored_keys(sqlite_engine) == [
        f"id:ev-delivered-{did}-0",
        f"msg:msg-{did}.filterdrecv-1|delivered|{T0}",
    ]


def test_duplicates_with_a_new_sg_event_id_are_caught_by_the_secondary_key(
    sqlite_engine: sa.Engine, update_id: int
) -> None:
    did = add_delivery(sqlite_engine, update_id)
    post(sqlite_engine, sg("delivered", did))
    twin = sg("delivered", did, sg_event_id="a-different-id")
    assert post(sqlite_engine, twin).duplicates == 1
    later = sg("delivered", did, 1, sg_event_id="a-later-id")  # another second: not a duplicate
    assert post(sqlite_engine, later).applied == 1


def test_events_without_any_id_are_deduplicated_by_digest(sqlite_engine: sa.Engine, update_id: int) -> None:
    did = add_delivery(sqlite_engine, update_id)
    event = sg("bounce", did, type="blocked", reason="blocked")
    del event["sg_event_id"], event["sg_message_id"]
    assert post(sqlite_engine, event).applied == 1
    assert post(sqlite_engine, event).duplicates == 1


def test_twilio_duplicates_by_token_and_by_status(sqlite_engine: sa.Engine, update_id: int) -> None:
    add_delivery(sqlite_engine, update_id, channel=Channel.SMS, provider_id="SM3")
    assert twilio(sqlite_engine, "SM3", "sent", token="tok-1").applied == 1
    assert twilio(sqlite_engine, "SM3", "sent", token="tok-1").duplicates == 1  # a retry
    assert twilio(sqlite_engine, "SM3", "sent").duplicates == 1  # no header: (sid, status)
    assert twilio(sqlite_engine, "SM3", "delivered").applied == 1


def test_unknown_deliveries_are_reported_not_stored(sqlite_engine: sa.Engine, update_id: int) -> None:
    sms = add_delivery(sqlite_engine, update_id, channel=Channel.SMS, provider_id="SM4")
    no_arg = sg("delivered", 1, 1)
    del no_arg["delivery_id"]
    summary = post(
        sqlite_engine,
        sg("delivered", 99999),
        sg("delivered", "not-a-number"),
        sg("delivered", "9" * 40),
        sg("delivered", "²"),
        no_arg,
        sg("delivered", sms, 2),
    )
    assert summary == EventSummary(unknown=6)
    assert stored_keys(sqlite_engine) == []
    assert twilio(sqlite_engine, "SM-nobody", "delivered").held == 1  # its SID may not be recorded yet
    assert get(sqlite_engine, sms).state is DeliveryState.ACCEPTED


MB = 1024 * 1024


@pytest.mark.parametrize(
    "field", ["sg_event_id", "sg_message_id", "timestamp", "delivery_id", "MessageSid", "token"]
)
def test_oversized_event_identifiers_are_not_stored(
    sqlite_engine: sa.Engine, update_id: int, field: str
) -> None:
    email = add_delivery(sqlite_engine, update_id)
    absurd = "A" * MB
    sms_id = "SM" + "c" * 32
    sms = add_delivery(sqlite_engine, update_id, channel=Channel.SMS, provider_id=sms_id)
    if field == "MessageSid":
        add_delivery(sqlite_engine, update_id, channel=Channel.SMS, provider_id=absurd)
        summary = twilio(sqlite_engine, absurd, "delivered")
    elif field == "token":
        summary = twilio(sqlite_engine, sms_id, "delivered", token=absurd)
    else:
        summary = post(sqlite_engine, sg("delivered", email) | {field: absurd})
    assert summary == EventSummary(ignored=1)
    assert stored_keys(sqlite_engine) == []
    assert get(sqlite_engine, email).state is get(sqlite_engine, sms).state is DeliveryState.ACCEPTED

    # Ids as long as the providers' own are stored, and their duplicates still recognised.
    longest = "e" * 100  # SendGrid documents sg_event_id as at most 100 characters
    event = sg("delivered", email, sg_event_id=longest, sg_message_id="m" * 100)
    assert post(sqlite_engine, event).applied == 1
    assert post(sqlite_engine, event).duplicates == 1
    assert twilio(sqlite_engine, sms_id, "delivered", token="t" * 100).applied == 1
    assert twilio(sqlite_engine, sms_id, "delivered", token="t" * 100).duplicates == 1
    assert all(len(key) <= MAX_KEY_CHARS for key in stored_keys(sqlite_engine))


def test_engagement_and_garbage_are_ignored(sqlite_engine: sa.Engine, update_id: int) -> None:
    did = add_delivery(sqlite_engine, update_id)
    with store.session_scope(sqlite_engine) as session:
        summary = apply_sendgrid_events(
            session=session, events=[sg("open", did), sg("click", did, url="https://x"), "junk", 7, {}]
        )
    assert summary == EventSummary(ignored=5)
    assert twilio(sqlite_engine, "SM5", "received").ignored == 1


# ── consent ───────────────────────────────────────────────────────────────────────────────────────


def recipient_of(engine: sa.Engine, delivery_id: int) -> int:
    recipient_id = get(engine, delivery_id).recipient_id
    assert recipient_id is not None
    return recipient_id


def withdrawn(engine: sa.Engine, recipient_id: int, channel: Channel) -> bool:
    with Session(engine) as session:
        return consent.has_withdrawn(session=session, recipient_id=recipient_id, channel=channel)


def audit_log(engine: sa.Engine) -> list[tuple[str, str, str, dict[str, Any]]]:
    with Session(engine) as session:
        return [(e.actor, e.action, e.subject, e.details) for e in session.exec(select(AuditEvent))]


@pytest.mark.parametrize("kind", ["unsubscribe", "group_unsubscribe", "spamreport"])
def test_sendgrid_opt_outs_withdraw_email_consent(
    sqlite_engine: sa.Engine, update_id: int, kind: str
) -> None:
    did = add_delivery(sqlite_engine, update_id, with_recipient=True, provider_status="delivered")
    rid = recipient_of(sqlite_engine, did)
    summary = post(sqlite_engine, sg(kind, did, asm_group_id=1))
    assert (summary.applied, summary.withdrawn) == (1, 1)
    assert withdrawn(sqlite_engine, rid, Channel.EMAIL)
    assert get(sqlite_engine, did).state is DeliveryState.ACCEPTED  # says nothing about delivery
    assert audit_log(sqlite_engine) == [
        (
            "sendgrid",
            "consent.withdrawn",
            f"recipient:{rid}",
            {"channel": "email", "source": f"sendgrid-{kind}"},
        )
    ]
    assert post(sqlite_engine, sg(kind, did, 1)).withdrawn == 0  # already withdrawn: no second entry
    assert len(audit_log(sqlite_engine)) == 1


def test_dropped_unsubscribed_address_bounces_and_withdraws(sqlite_engine: sa.Engine, update_id: int) -> None:
    did = add_delivery(sqlite_engine, update_id, with_recipient=True)
    post(sqlite_engine, sg("dropped", did, reason="Unsubscribed Address"))
    delivery = get(sqlite_engine, did)
    assert (delivery.state, delivery.error_code, delivery.error_detail) == (
        DeliveryState.BOUNCED,
        "dropped",
        "Unsubscribed Address",
    )
    assert withdrawn(sqlite_engine, recipient_of(sqlite_engine, did), Channel.EMAIL)


def test_dropped_bounced_address_does_not_touch_consent(sqlite_engine: sa.Engine, update_id: int) -> None:
    did = add_delivery(sqlite_engine, update_id, with_recipient=True)
    post(sqlite_engine, sg("dropped", did, reason="Bounced Address"))
    assert get(sqlite_engine, did).state is DeliveryState.BOUNCED
    assert not withdrawn(sqlite_engine, recipient_of(sqlite_engine, did), Channel.EMAIL)
    assert audit_log(sqlite_engine) == []


def test_twilio_21610_withdraws_sms_consent(sqlite_engine: sa.Engine, update_id: int) -> None:
    did = add_delivery(sqlite_engine, update_id, channel=Channel.SMS, provider_id="SM6", with_recipient=True)
    rid = recipient_of(sqlite_engine, did)
    summary = twilio(sqlite_engine, "SM6", "failed", ErrorCode="21610")
    assert (summary.applied, summary.withdrawn) == (1, 1)
    assert (get(sqlite_engine, did).state, get(sqlite_engine, did).error_code) == (
        DeliveryState.FAILED,
        "21610",
    )
    assert withdrawn(sqlite_engine, rid, Channel.SMS)
    assert not withdrawn(sqlite_engine, rid, Channel.EMAIL)
    assert audit_log(sqlite_engine) == [
        ("twilio", "consent.withdrawn", f"recipient:{rid}", {"channel": "sms", "source": "sms-stop"})
    ]


def test_other_twilio_errors_leave_consent_alone(sqlite_engine: sa.Engine, update_id: int) -> None:
    did = add_delivery(sqlite_engine, update_id, channel=Channel.SMS, provider_id="SM7", with_recipient=True)
    twilio(sqlite_engine, "SM7", "failed", ErrorCode="30006")
    assert not withdrawn(sqlite_engine, recipient_of(sqlite_engine, did), Channel.SMS)


# ── batches ───────────────────────────────────────────────────────────────────────────────────────


@pytest.fixture
def statements(sqlite_engine: sa.Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    sa.event.listen(sqlite_engine, "before_cursor_execute", count)
    yield seen
    sa.event.remove(sqlite_engine, "before_cursor_execute", count)


def test_a_batch_of_5000_events_takes_a_bounded_number_of_statements(
    sqlite_engine: sa.Engine, update_id: int, statements: list[str]
) -> None:
    n = 5000
    with sqlite_engine.begin() as connection:
        connection.execute(
            sa.insert(Delivery),
            [
                {
                    "update_id": update_id,
                    "channel": Channel.EMAIL,
                    "idempotency_key": f"k{i}",
                    "state": DeliveryState.ACCEPTED,
                    "attempts": 1,
                    "in_doubt": False,
                    "uncertain_sends": 0,
                    "created_at": datetime.now(UTC),
                    "updated_at": datetime.now(UTC),
                }
                for i in range(n)
            ],
        )
        ids = list(connection.execute(sa.text("SELECT id FROM delivery ORDER BY id")).scalars())
    events = [sg("delivered", did) for did in ids]
    events += [sg("delivered", did) for did in ids[:100]]  # SendGrid's duplicates
    statements.clear()
    summary = post(sqlite_engine, *events)
    assert (summary.applied, summary.duplicates) == (n, 100)
    # 1 BEGIN + 10 key look-ups + 5 delivery look-ups (chunks of 1000) + 1 UPDATE + 1 INSERT
    assert len(statements) <= 25, f"{len(statements)} statements for {len(events)} events"
    with Session(sqlite_engine) as session:
        states = set(session.exec(select(Delivery.state)))
        assert states == {DeliveryState.DELIVERED}
    assert len(stored_keys(sqlite_engine)) == 2 * n
    statements.clear()
    again = post(sqlite_engine, *events)
    assert (again.applied, again.duplicates) == (0, n + 100)
    assert len(statements) <= 20


def test_email_copies_are_what_the_provider_reported_and_at_most_the_rest(
    sqlite_engine: sa.Engine, update_id: int
) -> None:
    """Issue 12: the ledger counted 1 000–8 394 uncertain resends where the provider received 0–2 000
    extra. The events SendGrid sends name the request (X-Message-Id) each copy came from."""
    from clarion.outbox.counts import Copies, email_copies

    twice = add_delivery(sqlite_engine, update_id, provider_id="X2", uncertain_sends=1)
    once = add_delivery(sqlite_engine, update_id, provider_id="X3", uncertain_sends=1)
    unreported = add_delivery(sqlite_engine, update_id, provider_id="X4", uncertain_sends=2)
    uncounted = add_delivery(sqlite_engine, update_id, provider_id="X6")  # a duplicate nobody counted

    def processed(delivery: int, request: str) -> dict[str, Any]:
        return {
            "event": "processed",
            "sg_message_id": f"{request}.filterdrecv-5645d9c87f-2xnpp-1-6578F4C6-1.0",
            "sg_event_id": f"ev-{delivery}-{request}",
            "timestamp": T0,
            "delivery_id": str(delivery),
        }

    events = [processed(twice, "X1"), processed(twice, "X2"), processed(once, "X3")]
    events += [processed(uncounted, "X5"), processed(uncounted, "X6"), processed(uncounted, "X6")]
    with store.session_scope(sqlite_engine) as session:
        apply_sendgrid_events(session=session, events=events)

    assert unreported  # no events yet: its two blind resends may each be a copy
    assert email_copies(sqlite_engine) == Copies(blind_resends=4, confirmed=2, at_most=3)
    assert email_copies(sqlite_engine, update_id=update_id + 1) == Copies(0, 0, 0)
