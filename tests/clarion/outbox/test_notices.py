"""Notices in the outbox: rows written before any network call, claimed before updates' messages,
rendered as they are claimed by the same workers, and recorded in the same ledger."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from clarion import store
from clarion.kinds import Channel, DeliveryState
from clarion.models import Delivery, IncidentCreate, Notice, UpdateCreate, utcnow
from clarion.outbox import ledger
from clarion.outbox.notices import NoticeRenderer, stage_notice
from clarion.outbox.port import OutboundMessage
from clarion.outbox.worker import Worker, WorkerConfig
from clarion.settings import Settings
from clarion.subscriptions.notices import renderer
from clarion.subscriptions.secrets import sms_code
from clarion.updates.publish import Staged
from tests.clarion.outbox.conftest import FakeSender
from tests.helpers import PLAYBOOKS, TEMPLATES

KEY = "Zq3-vF8_kP2wLx9RtB7nYc4HmJ6sDa1E"
FAST = {"backoff_base": 0.001, "backoff_cap": 0.01, "idle_poll": 0.01, "in_flight": timedelta(0)}
EXPIRES = int(datetime(2030, 1, 1, tzinfo=UTC).timestamp())


@pytest.fixture
def render(tmp_path: Path) -> NoticeRenderer:
    settings = Settings(
        home=tmp_path / "home",
        public_url="https://status.example.com",
        secret_key=SecretStr(KEY),
        templates_dir=TEMPLATES,
        playbooks_dir=PLAYBOOKS,
    )
    return renderer(settings, KEY.encode())


def code_notice(
    engine: sa.Engine,
    render: NoticeRenderer | None,
    *,
    confirmation: int = 7,
    kind: str = "subscription-code",
) -> int:
    with store.session_scope(engine) as session:
        notice = stage_notice(
            session=session,
            kind=kind,
            channel=Channel.SMS,
            locale="en",
            address="+4915112345678",
            about="subscriber:1",
            params={"confirmation": confirmation, "expires": EXPIRES},
            check=render,
        )
        delivery = session.exec(select(Delivery).where(Delivery.notice_id == notice.id)).one()
        assert delivery.id is not None
        return delivery.id


def state_of(engine: sa.Engine, delivery_id: int) -> Delivery:
    with Session(engine) as session:
        found = session.get(Delivery, delivery_id)
        assert found is not None
        session.expunge(found)
        return found


def test_a_notice_is_an_outbox_row_before_any_network_call(engine: sa.Engine, render: NoticeRenderer) -> None:
    delivery_id = code_notice(engine, render)

    row = state_of(engine, delivery_id)
    assert (row.state, row.update_id, row.rendition_id, row.recipient_id) == (
        DeliveryState.PENDING,
        None,
        None,
        None,
    )
    assert row.idempotency_key == f"n{row.notice_id}.sms"


@pytest.mark.parametrize("both", [True, False])
def test_a_delivery_carries_exactly_one_of_an_update_and_a_notice(
    engine: sa.Engine, incident_in: IncidentCreate, update_in: UpdateCreate, both: bool
) -> None:
    with store.session_scope(engine) as session:
        incident = store.create_incident(session=session, incident_in=incident_in)
        update = store.add_update(session=session, incident=incident, update_in=update_in)
        notice = Notice(kind="k", channel=Channel.SMS, locale="en", address="+4915112345678", about="x")
        session.add(notice)
    refused = r"(?i)ck_delivery_update_or_notice|CHECK constraint failed"
    with pytest.raises(IntegrityError, match=refused), store.session_scope(engine) as session:
        session.add(
            Delivery(
                update_id=update.id if both else None,
                notice_id=notice.id if both else None,
                channel=Channel.SMS,
                idempotency_key="k1",
                next_attempt_at=utcnow(),
            )
        )


def test_the_worker_sends_a_notice_with_its_words_rendered_as_it_is_claimed(
    sqlite_engine: sa.Engine, render: NoticeRenderer
) -> None:
    delivery_id = code_notice(sqlite_engine, render)
    seen: list[OutboundMessage] = []
    sender = FakeSender(Channel.SMS)
    original = sender.send
    sender.send = lambda messages: (seen.extend(messages), original(messages))[1]  # type: ignore[method-assign]

    stats = Worker(
        sqlite_engine, {Channel.SMS: sender}, WorkerConfig(name="w", threads=1, **FAST), notices=render
    ).run()

    assert stats.accepted == 1
    (message,) = seen
    assert message.notice == "subscription-code"
    assert message.address == "+4915112345678"
    assert sms_code(KEY.encode(), 7) in message.content.text
    assert (message.incident_reference, message.update_id, message.recipient_id) == ("", None, None)
    assert state_of(sqlite_engine, delivery_id).state is DeliveryState.ACCEPTED


def test_notices_go_before_a_fan_out_that_was_staged_first(
    sqlite_engine: sa.Engine, render: NoticeRenderer, stage: Callable[..., Staged]
) -> None:
    stage(sqlite_engine, 30)
    delivery_id = code_notice(sqlite_engine, render)

    claimed = ledger.claim(
        sqlite_engine, worker="w", channel=Channel.SMS, limit=50, now=utcnow(), notices=render
    )

    assert [c.message.delivery_id for c in claimed] == [delivery_id]
    again = ledger.claim(
        sqlite_engine, worker="w", channel=Channel.SMS, limit=50, now=utcnow(), notices=render
    )
    assert again and all(c.message.notice is None for c in again)


def test_a_notice_that_cannot_be_rendered_is_failed_with_the_reason_and_never_sent(
    sqlite_engine: sa.Engine, render: NoticeRenderer
) -> None:
    delivery_id = code_notice(sqlite_engine, None, kind="no-such-kind")
    sender = FakeSender(Channel.SMS)

    Worker(
        sqlite_engine, {Channel.SMS: sender}, WorkerConfig(name="w", threads=1, **FAST), notices=render
    ).run()

    row = state_of(sqlite_engine, delivery_id)
    assert (row.state, row.error_code) == (DeliveryState.FAILED, "notice-unrenderable")
    assert "no such kind of notice" in (row.error_detail or "")
    assert not sender.sent


def test_a_worker_that_cannot_render_notices_stops_before_claiming_one(
    sqlite_engine: sa.Engine, render: NoticeRenderer
) -> None:
    delivery_id = code_notice(sqlite_engine, render)

    with pytest.raises(LookupError, match="no way to render them"):
        Worker(
            sqlite_engine, {Channel.SMS: FakeSender(Channel.SMS)}, WorkerConfig(name="w", threads=1, **FAST)
        ).run()

    assert state_of(sqlite_engine, delivery_id).state is DeliveryState.PENDING


def test_a_notice_taken_back_after_a_crash_says_the_same_words(
    sqlite_engine: sa.Engine, render: NoticeRenderer
) -> None:
    """The SMS adapter finds an earlier attempt by its body: the resend must render identically."""
    code_notice(sqlite_engine, render)
    first = ledger.claim(
        sqlite_engine, worker="dead", channel=Channel.SMS, limit=5, now=utcnow(), notices=render
    )
    ledger.release_stale(
        sqlite_engine, lease=timedelta(0), now=utcnow() + timedelta(seconds=1), restarted="dead"
    )

    again = ledger.claim(
        sqlite_engine,
        worker="w",
        channel=Channel.SMS,
        limit=5,
        now=utcnow() + timedelta(seconds=2),
        notices=render,
    )

    assert [c.in_doubt for c in again] == [True]
    assert again[0].message.content == first[0].message.content


def test_notices_staged_in_bulk_are_the_rows_one_at_a_time_would_be(engine: sa.Engine) -> None:
    from clarion.outbox.notices import NoticeData, NoticeIn, idempotency_key, stage_notices

    rendered: list[NoticeData] = []

    def check(data: NoticeData) -> Any:
        rendered.append(data)

    notices = [
        NoticeIn(
            "survey-invite", Channel.EMAIL, "en", f"p{n}@acme.example", f"survey-invite:{n}", {"invite": n}
        )
        for n in range(3)
    ] + [NoticeIn("survey-invite", Channel.SMS, "de", "+4915112345678", "survey-invite:9", {"invite": 9})]
    with Session(engine) as session:
        stage_notices(session=session, notices=notices, check=check)
        stage_notices(session=session, notices=[], check=check)
        session.commit()
        rows = session.exec(select(Notice).order_by(col(Notice.id))).all()
        deliveries = {d.notice_id: d for d in session.exec(select(Delivery))}
    assert [(r.address, r.about, r.params) for r in rows] == [(n.address, n.about, n.params) for n in notices]
    for row in rows:
        assert row.id is not None
        delivery = deliveries[row.id]
        assert (delivery.channel, delivery.state, delivery.idempotency_key) == (
            row.channel,
            DeliveryState.PENDING,
            idempotency_key(row.id, row.channel),
        )
        assert delivery.update_id is None and delivery.next_attempt_at is not None
    assert [(d.channel, d.locale) for d in rendered] == [
        (Channel.EMAIL, "en"),
        (Channel.SMS, "de"),
    ]  # one per shape
    with Session(engine) as session, pytest.raises(ValueError, match="not banner"):
        stage_notices(session=session, notices=[NoticeIn("x", Channel.BANNER, "en", "a", "b", {})])
