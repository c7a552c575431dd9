"""A confirmed subscription from its manage link or its phone: change, unsubscribe, STOP, START, HELP."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from clarion import store
from clarion.audiences import consent
from clarion.kinds import Channel, ConsentState
from clarion.models import AuditEvent, RecipientCreate, Subscriber, SubscriberState, utcnow
from clarion.outbox.notices import NoticeRenderer
from clarion.subscriptions.choices import Request
from clarion.subscriptions.manage import Keyword, change, keyword_of, sms_keyword, subscription, unsubscribe
from clarion.subscriptions.refusals import Reason, Refused
from clarion.subscriptions.requests import Confirmed, confirm, request_subscription
from tests.clarion.subscriptions.conftest import CLIENT

NUMBER = "+4915112345678"


def subscribe(engine: sa.Engine, key: bytes, render: NoticeRenderer, request: Request) -> Confirmed:
    with store.session_scope(engine) as session:
        asked = request_subscription(
            session=session, key=key, request=request, client=CLIENT, now=utcnow(), render=render
        )
    with store.session_scope(engine) as session:
        return confirm(
            session=session, key=key, confirmation_id=asked.confirmation_id, now=utcnow(), render=render
        )


@pytest.fixture
def ada(engine: sa.Engine, key: bytes, render: NoticeRenderer) -> Confirmed:
    return subscribe(engine, key, render, Request(Channel.EMAIL, "ada@example.com", ("api",), "en"))


@pytest.fixture
def phone(engine: sa.Engine, key: bytes, render: NoticeRenderer) -> Confirmed:
    return subscribe(engine, key, render, Request(Channel.SMS, NUMBER, (), "de"))


def state(engine: sa.Engine, subscriber_id: int) -> tuple[SubscriberState, list[str], int, str | None]:
    with Session(engine) as session:
        found = session.get(Subscriber, subscriber_id)
        assert found is not None
        return found.state, found.components, found.generation, found.ended_by


def refused(call: object) -> Reason:
    assert callable(call)
    with pytest.raises(Refused) as caught:
        call()
    return caught.value.reason


def test_components_change_and_the_change_is_audited(engine: sa.Engine, ada: Confirmed) -> None:
    with store.session_scope(engine) as session:
        change(
            session=session,
            subscriber_id=ada.subscriber_id,
            generation=1,
            components=("builds", "api"),
            now=utcnow(),
        )
    assert state(engine, ada.subscriber_id)[1] == ["builds", "api"]
    with Session(engine) as session:
        actions = [e.action for e in session.exec(select(AuditEvent))]
    assert actions[-1] == "subscription.changed"


def test_unsubscribing_ends_the_subscription_and_its_links(engine: sa.Engine, ada: Confirmed) -> None:
    with store.session_scope(engine) as session:
        unsubscribe(session=session, subscriber_id=ada.subscriber_id, generation=ada.generation, now=utcnow())

    assert state(engine, ada.subscriber_id) == (SubscriberState.UNSUBSCRIBED, ["api"], 2, "manage")
    with Session(engine) as session:
        for generation in (1, 2):  # the old link, and a guess at the next one
            assert (
                refused(
                    lambda g=generation: subscription(
                        session=session, subscriber_id=ada.subscriber_id, generation=g
                    )
                )
                is Reason.ENDED
            )
        assert (
            refused(lambda: subscription(session=session, subscriber_id=999, generation=1)) is Reason.UNKNOWN
        )


def test_a_new_confirmation_starts_a_new_subscription_with_new_links(
    engine: sa.Engine, key: bytes, render: NoticeRenderer, ada: Confirmed
) -> None:
    with store.session_scope(engine) as session:
        unsubscribe(session=session, subscriber_id=ada.subscriber_id, generation=ada.generation, now=utcnow())

    again = subscribe(engine, key, render, Request(Channel.EMAIL, "ada@example.com", (), "en"))

    assert (again.subscriber_id, again.generation) == (ada.subscriber_id, 3)
    assert state(engine, ada.subscriber_id)[0] is SubscriberState.CONFIRMED
    with Session(engine) as session:
        assert (
            refused(lambda: subscription(session=session, subscriber_id=ada.subscriber_id, generation=1))
            is Reason.ENDED
        )


def test_a_one_click_unsubscribe_of_an_update_ends_the_subscription_until_confirmed_again(
    engine: sa.Engine, key: bytes, render: NoticeRenderer, ada: Confirmed
) -> None:
    """The List-Unsubscribe link of an update's email withdraws the consent of the subscriber's recipient."""
    with store.session_scope(engine) as session:
        recipient = store.add_recipient(
            session=session,
            recipient_in=RecipientCreate(
                external_id=f"subscriber:{ada.subscriber_id}", email="ada@example.com"
            ),
        )
        assert recipient.id is not None
        consent.withdraw(
            session=session,
            recipient_id=recipient.id,
            channel=Channel.EMAIL,
            source="unsubscribe",
            at=utcnow(),
        )
    with Session(engine) as session:
        assert (
            refused(lambda: subscription(session=session, subscriber_id=ada.subscriber_id, generation=1))
            is Reason.ENDED
        )

    subscribe(engine, key, render, Request(Channel.EMAIL, "ada@example.com", ("api",), "en"))

    with Session(engine) as session:
        assert not consent.has_withdrawn(session=session, recipient_id=recipient.id, channel=Channel.EMAIL)


@pytest.mark.parametrize(
    ("body", "opt_out_type", "keyword"),
    [
        ("STOP", None, Keyword.STOP),
        (" stop ", None, Keyword.STOP),
        ("Unsubscribe", None, Keyword.STOP),
        ("stopall", None, Keyword.STOP),
        ("cancel", None, Keyword.STOP),
        ("start", None, Keyword.START),
        ("UNSTOP", None, Keyword.START),
        ("yes", None, Keyword.START),
        ("help", None, Keyword.HELP),
        ("INFO", None, Keyword.HELP),
        ("Stop texting me", None, None),
        ("hello", None, None),
        ("Arrêt", "STOP", Keyword.STOP),  # a keyword of Advanced Opt-Out, in Twilio's word
        ("stop", "SOMETHING", None),
    ],
)
def test_keywords_are_twilios(body: str, opt_out_type: str | None, keyword: Keyword | None) -> None:
    assert keyword_of(body, opt_out_type) is keyword


def _customer(engine: sa.Engine, external_id: str) -> int:
    with store.session_scope(engine) as session:
        recipient = store.add_recipient(
            session=session,
            recipient_in=RecipientCreate(external_id=external_id, phone_e164=NUMBER),
            consents={Channel.SMS: ConsentState.GRANTED},
        )
        assert recipient.id is not None
        return recipient.id


def _withdrawn(engine: sa.Engine, recipient_id: int) -> bool:
    with Session(engine) as session:
        return consent.has_withdrawn(session=session, recipient_id=recipient_id, channel=Channel.SMS)


def _text(engine: sa.Engine, keyword: Keyword, number: str = NUMBER) -> int:
    with store.session_scope(engine) as session:
        return sms_keyword(session=session, number=number, keyword=keyword, now=utcnow()).changed


def test_stop_ends_the_numbers_subscription_and_consent_and_start_undoes_it(
    engine: sa.Engine, phone: Confirmed
) -> None:
    customer = _customer(engine, "c1")

    assert _text(engine, Keyword.STOP) == 2
    assert state(engine, phone.subscriber_id)[0::3] == (SubscriberState.UNSUBSCRIBED, "sms-stop")
    assert _withdrawn(engine, customer)
    assert _text(engine, Keyword.STOP) == 0  # a repeated STOP changes nothing

    assert _text(engine, Keyword.START) == 2
    assert state(engine, phone.subscriber_id)[0] is SubscriberState.CONFIRMED
    assert not _withdrawn(engine, customer)


def test_start_undoes_only_what_stop_did(engine: sa.Engine, phone: Confirmed) -> None:
    customer = _customer(engine, "c1")
    with store.session_scope(engine) as session:
        unsubscribe(
            session=session, subscriber_id=phone.subscriber_id, generation=phone.generation, now=utcnow()
        )
        consent.withdraw(
            session=session, recipient_id=customer, channel=Channel.SMS, source="unsubscribe", at=utcnow()
        )

    assert _text(engine, Keyword.START) == 0

    assert state(engine, phone.subscriber_id)[0] is SubscriberState.UNSUBSCRIBED
    assert _withdrawn(engine, customer)


def test_help_changes_nothing_and_answers_in_the_numbers_language(
    engine: sa.Engine, phone: Confirmed
) -> None:
    with store.session_scope(engine) as session:
        outcome = sms_keyword(session=session, number=NUMBER, keyword=Keyword.HELP, now=utcnow())
        stranger = sms_keyword(session=session, number="+4915199999999", keyword=Keyword.HELP, now=utcnow())
    assert (outcome.changed, outcome.locale, stranger.locale) == (0, "de", "en")
    assert state(engine, phone.subscriber_id)[0] is SubscriberState.CONFIRMED


def test_stop_from_a_number_nobody_subscribed_with_changes_nothing(
    engine: sa.Engine, phone: Confirmed
) -> None:
    assert _text(engine, Keyword.STOP, "+4915199999999") == 0
    assert state(engine, phone.subscriber_id)[0] is SubscriberState.CONFIRMED
