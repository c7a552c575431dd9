"""Double opt-in: a request stores a pending subscriber and a confirmation and puts its notice in the
outbox; nothing changes for the address until its owner confirms, once, in time."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from clarion import store
from clarion.errors import TemplateError
from clarion.kinds import Channel, DeliveryState
from clarion.models import (
    AuditEvent,
    ConfirmationMethod,
    Delivery,
    Notice,
    Subscriber,
    SubscriberState,
    SubscriptionConfirmation,
    utcnow,
)
from clarion.outbox.notices import NoticeData, NoticeRenderer
from clarion.subscriptions.choices import Request
from clarion.subscriptions.refusals import Reason, Refused
from clarion.subscriptions.requests import Confirmed, check_code, confirm, request_subscription
from clarion.subscriptions.secrets import MAX_CODE_ATTEMPTS, sms_code
from tests.clarion.subscriptions.conftest import CLIENT, counts
from tests.helpers import TEMPLATES

ADA = Request(Channel.EMAIL, "ada@example.com", ("api",), "en")
PHONE = Request(Channel.SMS, "+4915112345678", (), "de")


def ask(engine: sa.Engine, key: bytes, render: NoticeRenderer, request: Request = ADA, **kw: object) -> int:
    with store.session_scope(engine) as session:
        done = request_subscription(
            session=session,
            key=key,
            request=request,
            client=CLIENT,
            now=kw.get("now", utcnow()),
            render=render,  # type: ignore[arg-type]
        )
        return done.confirmation_id


def confirmed(engine: sa.Engine, key: bytes, render: NoticeRenderer, confirmation_id: int) -> Confirmed:
    with store.session_scope(engine) as session:
        return confirm(session=session, key=key, confirmation_id=confirmation_id, now=utcnow(), render=render)


def subscriber(engine: sa.Engine) -> Subscriber:
    with Session(engine) as session:
        found = session.exec(select(Subscriber)).one()
        session.expunge(found)
        return found


def test_a_request_stores_a_pending_subscriber_and_puts_its_link_in_the_outbox(
    engine: sa.Engine, key: bytes, render: NoticeRenderer
) -> None:
    confirmation_id = ask(engine, key, render)

    with Session(engine) as session:
        pending = session.exec(select(Subscriber)).one()
        confirmation = session.get(SubscriptionConfirmation, confirmation_id)
        notice = session.exec(select(Notice)).one()
        delivery = session.exec(select(Delivery)).one()
    assert (pending.state, pending.address, pending.components) == (
        SubscriberState.PENDING,
        ADA.address,
        ["api"],
    )
    assert confirmation is not None and confirmation.method is ConfirmationMethod.LINK
    assert confirmation.expires_at - utcnow() > timedelta(hours=23)
    assert (notice.kind, notice.channel, notice.address) == (
        "subscription-confirm",
        Channel.EMAIL,
        ADA.address,
    )
    assert notice.params["confirmation"] == confirmation_id
    assert (delivery.notice_id, delivery.update_id, delivery.state) == (
        notice.id,
        None,
        DeliveryState.PENDING,
    )


def test_what_is_stored_and_audited_holds_no_secret_and_the_audit_no_address(
    engine: sa.Engine, key: bytes, render: NoticeRenderer
) -> None:
    confirmation_id = ask(engine, key, render)
    link = render(_data(engine)).text
    token = link.split("/subscribe/confirm/")[1].split()[0]

    with engine.connect() as connection:
        rows = [
            list(map(str, row))
            for model in (Notice, SubscriptionConfirmation, Delivery, AuditEvent)
            for row in connection.execute(sa.select(model.__table__))  # type: ignore[attr-defined]
        ]
    dump = json.dumps(rows)
    assert token not in dump
    with Session(engine) as session:
        entry = session.exec(select(AuditEvent)).one()
    assert (entry.action, entry.subject) == ("subscription.requested", "subscriber:1")
    assert "ada" not in json.dumps(entry.details)
    assert confirmation_id == 1


def _data(engine: sa.Engine) -> NoticeData:
    with Session(engine) as session:
        notice = session.exec(select(Notice).order_by(Notice.id.desc())).first()  # type: ignore[union-attr]
        assert notice is not None and notice.id is not None
        return NoticeData(
            notice.id, notice.kind, notice.channel, notice.locale, notice.address, notice.about, notice.params
        )


def test_a_request_for_a_subscribed_address_changes_nothing_until_confirmed(
    engine: sa.Engine, key: bytes, render: NoticeRenderer
) -> None:
    confirmed(engine, key, render, ask(engine, key, render))
    before = subscriber(engine)

    again = ask(engine, key, render, Request(Channel.EMAIL, "ada@example.com", ("builds",), "de"))

    after = subscriber(engine)
    assert (after.components, after.locale, after.state, after.generation) == (
        before.components,
        before.locale,
        SubscriberState.CONFIRMED,
        before.generation,
    )
    confirmed(engine, key, render, again)  # the owner confirms: now it changes
    assert (subscriber(engine).components, subscriber(engine).locale) == (["builds"], "de")


def test_confirming_subscribes_with_what_was_asked_and_sends_the_manage_link(
    engine: sa.Engine, key: bytes, render: NoticeRenderer
) -> None:
    done = confirmed(engine, key, render, ask(engine, key, render))

    found = subscriber(engine)
    assert (found.state, found.components, found.generation) == (SubscriberState.CONFIRMED, ["api"], 1)
    assert (done.subscriber_id, done.generation, done.channel) == (found.id, 1, Channel.EMAIL)
    welcome = _data(engine)
    assert welcome.kind == "subscription-welcome"
    assert "/subscriptions/v2." in render(welcome).text


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("twice", Reason.USED),
        ("expired", Reason.EXPIRED),
        ("unknown", Reason.UNKNOWN),
    ],
)
def test_a_confirmation_works_once_in_time_and_only_if_it_exists(
    engine: sa.Engine, key: bytes, render: NoticeRenderer, change: str, reason: Reason
) -> None:
    confirmation_id = ask(engine, key, render)
    if change == "twice":
        confirmed(engine, key, render, confirmation_id)
    elif change == "expired":
        with store.session_scope(engine) as session:
            row = session.get(SubscriptionConfirmation, confirmation_id)
            assert row is not None
            row.expires_at = utcnow() - timedelta(seconds=1)
            session.add(row)
    else:
        confirmation_id += 41
    before = counts(engine)

    with pytest.raises(Refused) as caught:
        confirmed(engine, key, render, confirmation_id)

    assert caught.value.reason is reason
    assert counts(engine) == before


def test_a_code_confirms_and_wrong_codes_are_counted_until_spent(
    engine: sa.Engine, key: bytes, render: NoticeRenderer
) -> None:
    first = ask(engine, key, render, PHONE)
    right = sms_code(key, first)
    wrong = "000000" if right != "000000" else "111111"

    def typed(confirmation_id: int, code: str) -> Confirmed | Refused:
        with store.session_scope(engine) as session:
            return check_code(
                session=session,
                key=key,
                confirmation_id=confirmation_id,
                code=code,
                now=utcnow(),
                render=render,
            )

    answer = typed(first, wrong)
    assert isinstance(answer, Refused) and (answer.reason, answer.left) == (Reason.WRONG_CODE, 4)
    assert isinstance(typed(first, right), Confirmed)
    assert subscriber(engine).state is SubscriberState.CONFIRMED

    second = ask(engine, key, render, PHONE)
    answers = [typed(second, wrong) for _ in range(MAX_CODE_ATTEMPTS)]
    assert [a.reason for a in answers if isinstance(a, Refused)] == [Reason.WRONG_CODE] * 4 + [Reason.SPENT]
    with pytest.raises(Refused) as caught:
        typed(second, sms_code(key, second))  # the right code, too late
    assert caught.value.reason is Reason.SPENT


def test_a_notice_that_cannot_be_rendered_stores_nothing(engine: sa.Engine, key: bytes) -> None:
    broken = NoticeRenderer(TEMPLATES, {})  # the shipped templates, but it knows no kind of notice

    with pytest.raises(TemplateError):
        ask(engine, key, broken)

    assert counts(engine) == dict.fromkeys(counts(engine), 0)
