"""Fallback for must-reach audiences: a bounce, a failure or a long silence sends the update on the
other channel, once, in the ledger; a status callback before its message id is kept, not lost."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from sqlmodel import Session, col, select

from channels.delivery import run_worker
from channels.email_events import apply_sendgrid_events
from channels.sandbox import SandboxConfig
from channels.sandbox.events import SENDGRID_SANDBOX_EVENT_PUBLIC_KEY
from channels.sandbox.runner import running_sandbox
from channels.sms_events import apply_twilio_status
from clarion import store
from clarion.audiences import consent
from clarion.audiences.sources import Source
from clarion.errors import PlaybookError
from clarion.facts import load_facts
from clarion.kinds import Channel, DeliveryState
from clarion.models import AuditEvent, Delivery, HeldEvent, Incident, Rendition, utcnow
from clarion.outbox import fallback
from clarion.outbox.events import EventSummary
from clarion.outbox.port import OutboundMessage, SendResult
from clarion.outbox.worker import Worker, WorkerConfig
from clarion.playbook import load_playbook
from clarion.review.figures import review
from clarion.settings import Settings
from clarion.updates.publish import stage_update
from faces.web.app import create_app
from tests.clarion.outbox.conftest import FakeSender, write_recipients
from tests.faces.web.browser import base_url, loopback_socket, serving
from tests.helpers import EXAMPLES, PLAYBOOKS

FAST = {"backoff_base": 0.001, "backoff_cap": 0.01, "idle_poll": 0.01, "in_flight": timedelta(0)}
T0 = 1_772_000_000


def must_reach_playbook(tmp_path: Path, channels: list[str], **audience: Any) -> Path:
    """The data-breach playbook whose affected customers hear on ``channels`` only, must-reach."""
    data = yaml.safe_load((PLAYBOOKS / "data-breach.yaml").read_text())
    data["audiences"]["affected-customers"].update({"channels": channels, **audience})
    path = tmp_path / "books" / "data-breach.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def staged(tmp_path: Path) -> Callable[..., None]:
    def _stage(engine: sa.Engine, channels: list[str], n: int = 4) -> None:
        playbook = load_playbook(must_reach_playbook(tmp_path, channels))
        settings = Settings(home=tmp_path / "home", playbooks_dir=PLAYBOOKS)
        facts = load_facts(EXAMPLES / "data-breach.yaml", playbook)
        stage_update(
            engine=engine,
            playbook=playbook,
            facts=facts,
            settings=settings,
            sources={"affected-customers": Source(csv=write_recipients(tmp_path / "affected.csv", n))},
        )

    return _stage


def send_all(engine: sa.Engine, channel: Channel, sender: FakeSender | None = None) -> None:
    sender = sender or FakeSender(channel)
    Worker(engine, {channel: sender}, WorkerConfig(name="w", threads=1, **FAST)).run()


def rows(engine: sa.Engine, channel: Channel) -> list[Delivery]:
    with Session(engine) as session:
        statement = select(Delivery).where(
            Delivery.channel == channel, col(Delivery.recipient_id).is_not(None)
        )
        return list(session.exec(statement.order_by(col(Delivery.id))))


def bounce(engine: sa.Engine, delivery_id: int | None, event: str = "bounce", n: int = 0) -> EventSummary:
    posted = {
        "email": "user@example.com",
        "event": event,
        "type": "bounce",
        "status": "5.1.1",
        "reason": "550 no such user",
        "timestamp": T0 + n,
        "sg_event_id": f"ev-{event}-{delivery_id}-{n}",
        "sg_message_id": f"msg-{delivery_id}.filter-{n}",
        "delivery_id": str(delivery_id),
    }
    with store.session_scope(engine) as session:
        return apply_sendgrid_events(session=session, events=[posted])


def twilio(engine: sa.Engine, sid: str, status: str, **extra: str) -> EventSummary:
    params = {"MessageSid": sid, "MessageStatus": status, **extra}
    with store.session_scope(engine) as session:
        return apply_twilio_status(session=session, params=params)


def audit_of(engine: sa.Engine, action: str) -> list[dict[str, Any]]:
    with Session(engine) as session:
        entries = session.exec(select(AuditEvent).where(AuditEvent.action == action))
        return [step for entry in entries for step in entry.details["steps"]]


def test_a_bounce_sends_the_update_by_sms_once_and_says_so_in_the_ledger(
    engine: sa.Engine, staged: Callable[..., None]
) -> None:
    staged(engine, ["email", "banner"])
    assert rows(engine, Channel.SMS) == []
    send_all(engine, Channel.EMAIL)
    email = rows(engine, Channel.EMAIL)[0]
    assert email.fallback_after == 7200

    assert bounce(engine, email.id).fallbacks == 1
    sms = rows(engine, Channel.SMS)
    assert [(s.fallback_of, s.recipient_id, s.state) for s in sms] == [
        (email.id, email.recipient_id, DeliveryState.PENDING)
    ]
    with Session(engine) as session:
        source, target = (
            session.get(Rendition, email.rendition_id),
            session.get(Rendition, sms[0].rendition_id),
        )
        assert source is not None and target is not None
        assert (target.channel, target.locale, target.time_zone) == (
            Channel.SMS,
            source.locale,
            source.time_zone,
        )
    assert audit_of(engine, "delivery.fallback") == [
        {"from": email.id, "to": sms[0].id, "channel": "sms", "why": "bounced"}
    ]

    again = bounce(engine, email.id)  # the provider's retry
    later = bounce(engine, email.id, event="dropped", n=1)  # another event of the same message
    assert (again.duplicates, later.applied, again.fallbacks + later.fallbacks) == (1, 1, 0)
    assert fallback.sweep(engine=engine, now=utcnow()).staged == 0  # the others are not due yet
    assert len(rows(engine, Channel.SMS)) == 1
    assert len(audit_of(engine, "delivery.fallback")) == 1

    send_all(engine, Channel.SMS)
    assert rows(engine, Channel.SMS)[0].state is DeliveryState.ACCEPTED
    assert rows(engine, Channel.SMS)[0].fallback_after is None  # a fallback has no fallback


def test_a_failed_sms_sends_the_update_by_email(engine: sa.Engine, staged: Callable[..., None]) -> None:
    staged(engine, ["sms"])
    send_all(engine, Channel.SMS)
    sms = rows(engine, Channel.SMS)[1]
    assert twilio(engine, str(sms.provider_id), "undelivered", ErrorCode="30003").fallbacks == 1
    email = rows(engine, Channel.EMAIL)
    assert [(e.fallback_of, e.recipient_id) for e in email] == [(sms.id, sms.recipient_id)]
    # the SMS row says why the audience is legally required, so its email bypasses unsubscribes too
    assert email[0].mandatory_reason is not None
    assert email[0].mandatory_reason == sms.mandatory_reason
    assert audit_of(engine, "delivery.fallback")[0]["why"] == "undelivered"


def test_a_legally_required_sms_falls_back_to_an_email_the_person_unsubscribed_from(
    sqlite_engine: sa.Engine, staged: Callable[..., None]
) -> None:
    staged(sqlite_engine, ["sms"])
    send_all(sqlite_engine, Channel.SMS)
    sms = rows(sqlite_engine, Channel.SMS)[0]
    assert sms.recipient_id is not None and sms.mandatory_reason  # a breach notice: GDPR Art. 34
    with store.session_scope(sqlite_engine) as session:
        consent.withdraw(
            session=session,
            recipient_id=sms.recipient_id,
            channel=Channel.EMAIL,
            source="unsubscribe",
            actor="t",
            at=utcnow(),
        )
    assert twilio(sqlite_engine, str(sms.provider_id), "failed", ErrorCode="30006").fallbacks == 1
    [email] = rows(sqlite_engine, Channel.EMAIL)
    assert (email.fallback_of, email.mandatory_reason) == (sms.id, sms.mandatory_reason)
    sender = FakeSender(Channel.EMAIL)
    send_all(sqlite_engine, Channel.EMAIL, sender)
    assert sender.sent[email.id] == 1
    assert rows(sqlite_engine, Channel.EMAIL)[0].state is DeliveryState.ACCEPTED


def test_no_fallback_to_a_phone_that_replied_stop(
    sqlite_engine: sa.Engine, staged: Callable[..., None]
) -> None:
    staged(sqlite_engine, ["email"])
    send_all(sqlite_engine, Channel.EMAIL)
    email = rows(sqlite_engine, Channel.EMAIL)[0]
    assert email.recipient_id is not None
    with store.session_scope(sqlite_engine) as session:
        consent.withdraw(
            session=session,
            recipient_id=email.recipient_id,
            channel=Channel.SMS,
            source="sms-stop",
            actor="t",
            at=utcnow(),
        )
    assert bounce(sqlite_engine, email.id).fallbacks == 0
    assert rows(sqlite_engine, Channel.SMS) == []
    skipped = audit_of(sqlite_engine, "delivery.fallback-skipped")
    assert skipped == [
        {"from": email.id, "channel": "sms", "why": "bounced", "skipped": "sms consent withdrawn"}
    ]


def test_a_person_who_has_the_other_channel_already_gets_no_second_message(
    sqlite_engine: sa.Engine, staged: Callable[..., None]
) -> None:
    staged(sqlite_engine, ["email", "sms"])
    send_all(sqlite_engine, Channel.EMAIL)
    before = len(rows(sqlite_engine, Channel.SMS))
    email = rows(sqlite_engine, Channel.EMAIL)[0]
    assert bounce(sqlite_engine, email.id).fallbacks == 0
    assert len(rows(sqlite_engine, Channel.SMS)) == before
    assert audit_of(sqlite_engine, "delivery.fallback-skipped")[0]["skipped"] == "already sent on sms"


def test_the_sweep_finds_messages_still_undelivered_after_fallback_after(
    engine: sa.Engine, staged: Callable[..., None]
) -> None:
    staged(engine, ["email"], n=4)
    send_all(engine, Channel.EMAIL)
    first, second, third, silent = rows(engine, Channel.EMAIL)
    reports = [
        {"event": "processed", "sg_event_id": f"p{d.id}", "delivery_id": str(d.id)}
        for d in (first, second, third)
    ]
    reports.append({"event": "delivered", "sg_event_id": "d1", "delivery_id": str(first.id)})
    with store.session_scope(engine) as session:
        apply_sendgrid_events(session=session, events=[e | {"timestamp": T0} for e in reports])
    now = utcnow()
    assert fallback.sweep(engine=engine, now=now + timedelta(hours=1)).staged == 0
    swept = fallback.sweep(engine=engine, now=now + timedelta(hours=2, minutes=1))
    assert swept.staged == 2  # neither the delivered one nor the one the provider never reported on
    assert {s.fallback_of for s in rows(engine, Channel.SMS)} == {second.id, third.id}
    assert audit_of(engine, "delivery.fallback")[0]["why"] == "not delivered 7200 s after acceptance"
    assert fallback.sweep(engine=engine, now=now + timedelta(hours=3)).staged == 0
    # a day later, nothing came of the silent one either: decided, without a message on a guess
    late = fallback.sweep(engine=engine, now=now + timedelta(hours=26, minutes=2))
    assert (late.staged, dict(late.skipped)) == (0, {"no delivery report from the provider": 1})
    assert audit_of(engine, "delivery.fallback-skipped")[-1]["from"] == silent.id
    assert len(rows(engine, Channel.SMS)) == 2


@pytest.mark.parametrize("status", ["delivered", "failed"])
def test_a_status_callback_before_its_message_id_is_kept_and_applied(
    engine: sa.Engine, staged: Callable[..., None], status: str
) -> None:
    """Twilio calls back while the worker has yet to record the SID it was given; the worker's later
    'accepted' does not move the message back below what the callback said."""
    staged(engine, ["sms"], n=1)
    early: list[EventSummary] = []

    def calls_back_first(message: OutboundMessage) -> SendResult:
        sid = f"SM{message.delivery_id:032d}"
        early.append(twilio(engine, sid, status))
        return SendResult(message.delivery_id, provider_id=sid, provider_status="queued")

    send_all(engine, Channel.SMS, FakeSender(Channel.SMS, behave=calls_back_first))
    assert [e.held for e in early] == [1]
    sms = rows(engine, Channel.SMS)[0]
    assert sms.state is (DeliveryState.DELIVERED if status == "delivered" else DeliveryState.FAILED)
    assert sms.provider_id == f"SM{sms.id:032d}"
    with Session(engine) as session:
        assert session.exec(select(HeldEvent)).all() == []
    assert twilio(engine, str(sms.provider_id), status).duplicates == 1
    assert len(rows(engine, Channel.EMAIL)) == (status == "failed")  # a held failure falls back too


def test_a_held_callback_the_record_missed_is_applied_by_the_sweep(
    engine: sa.Engine, staged: Callable[..., None]
) -> None:
    staged(engine, ["sms"], n=1)
    assert twilio(engine, "SM" + "7" * 32, "delivered").held == 1
    with store.session_scope(engine) as session:  # recorded by a worker that did not see it
        delivery = session.exec(select(Delivery).where(Delivery.channel == Channel.SMS)).one()
        delivery.state, delivery.provider_id, delivery.accepted_at = (
            DeliveryState.ACCEPTED,
            "SM" + "7" * 32,
            utcnow(),
        )
    early, _ = fallback.sweep_all(engine=engine, now=utcnow())
    assert early.applied == 1
    assert rows(engine, Channel.SMS)[0].state is DeliveryState.DELIVERED


def test_must_reach_is_validated_with_file_and_field(tmp_path: Path) -> None:
    with pytest.raises(PlaybookError, match=r"fallback_after is for a must_reach audience"):
        load_playbook(must_reach_playbook(tmp_path, ["email"], must_reach=False, fallback_after="2h"))
    with pytest.raises(PlaybookError, match=r"audiences.affected-customers.*neither"):
        load_playbook(must_reach_playbook(tmp_path, ["banner"], must_reach=True))
    with pytest.raises(PlaybookError, match=r"fallback_after"):
        load_playbook(must_reach_playbook(tmp_path, ["email"], must_reach=True, fallback_after="1m"))
    book = load_playbook(PLAYBOOKS / "data-breach.yaml")
    assert book.audiences["affected-customers"].fallback_after == timedelta(hours=2)


def wait_for(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the sandbox's events did not arrive"
        time.sleep(0.05)


def test_end_to_end_the_sandboxs_signed_bounces_fall_back_to_sms_and_the_report_counts_sms(
    sqlite_engine: sa.Engine, staged: Callable[..., None], tmp_path: Path
) -> None:
    """Over loopback: the worker sends through the sandbox, whose signed Event Webhook posts (every
    email bounces) reach clarion's web app, which verifies them with the sandbox's public key and
    stages the SMS fallbacks; the sandbox's signed status callbacks then mark those delivered."""
    sock = loopback_socket()
    public = base_url(sock)
    with running_sandbox(SandboxConfig(bounce_rate=1.0, event_delay_ms=10)) as box:
        box.configure(sendgrid_event_url=f"{public}/webhooks/sendgrid/events")
        settings = Settings(
            home=tmp_path / "home",
            playbooks_dir=PLAYBOOKS,
            public_url=public,
            sandbox_url=box.url,
            sendgrid_event_public_key=SENDGRID_SANDBOX_EVENT_PUBLIC_KEY,
        )
        with serving(create_app(settings, engine=sqlite_engine), sock):
            staged(sqlite_engine, ["email"], n=3)
            run_worker(settings, sqlite_engine, name="e2e", channels=[Channel.EMAIL], threads=1)
            wait_for(lambda: len(rows(sqlite_engine, Channel.SMS)) == 3)
            run_worker(settings, sqlite_engine, name="e2e", channels=[Channel.SMS], threads=1)
            wait_for(
                lambda: all(s.state is DeliveryState.DELIVERED for s in rows(sqlite_engine, Channel.SMS))
            )
    emails = rows(sqlite_engine, Channel.EMAIL)
    assert {e.state for e in emails} == {DeliveryState.BOUNCED}
    assert sorted(s.fallback_of or 0 for s in rows(sqlite_engine, Channel.SMS)) == sorted(
        e.id or 0 for e in emails
    )
    assert len(box.inbox("sms")) == 3  # once each
    with Session(sqlite_engine) as session:
        incident = session.exec(select(Incident)).one()
        reach = review(session=session, incident=incident, now=utcnow()).reach
    assert (reach.reached, reach.by_fallback) == (3, 3)
    assert {c.channel: c.counted for c in reach.channels if c.counted or c.audience} == {"email": 0, "sms": 3}
