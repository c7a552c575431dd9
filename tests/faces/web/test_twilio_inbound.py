"""Messages people text us, through the real app: signed by Twilio or refused; STOP, START and HELP as
Twilio means them; every other message ignored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlmodel import Session, select

from channels.signatures import twilio_signature
from clarion import store
from clarion.audiences import consent
from clarion.kinds import Channel, ConsentState
from clarion.models import RecipientCreate, Subscriber, SubscriberState, utcnow
from clarion.settings import Settings
from clarion.subscriptions.choices import Request
from clarion.subscriptions.notices import renderer
from clarion.subscriptions.requests import confirm, request_subscription
from tests.faces.web.subscribe_helpers import KEY, PUBLIC, TestClient, client_for, make_settings

TOKEN = "twilio-test-token"
PATH = "/webhooks/twilio/inbound"
NUMBER = "+4915112345678"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path).model_copy(
        update={"twilio_account_sid": "AC" + "1" * 32, "twilio_auth_token": SecretStr(TOKEN)}
    )


@pytest.fixture
def client(settings: Settings, engine: sa.Engine) -> Iterator[TestClient]:
    with client_for(settings, engine) as client:
        yield client


@pytest.fixture
def subscribed(engine: sa.Engine, settings: Settings) -> int:
    """A German SMS subscriber, and a customer with the same number who agreed to SMS."""
    render = renderer(settings, KEY.encode())
    with store.session_scope(engine) as session:
        asked = request_subscription(
            session=session,
            key=KEY.encode(),
            request=Request(Channel.SMS, NUMBER, (), "de"),
            client="c",
            now=utcnow(),
            render=render,
        )
        done = confirm(
            session=session,
            key=KEY.encode(),
            confirmation_id=asked.confirmation_id,
            now=utcnow(),
            render=render,
        )
        store.add_recipient(
            session=session,
            recipient_in=RecipientCreate(external_id="c1", phone_e164=NUMBER),
            consents={Channel.SMS: ConsentState.GRANTED},
        )
    return done.subscriber_id


def text(client: TestClient, body: str, *, sign: bool = True, **extra: str) -> object:
    params = {
        "MessageSid": "SM" + "a" * 32,
        "AccountSid": "AC" + "1" * 32,
        "From": NUMBER,
        "To": "+15005550006",
        "Body": body,
    } | extra
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if sign:
        headers["X-Twilio-Signature"] = twilio_signature(TOKEN, PUBLIC + PATH, params)
    return client.post(PATH, content=urlencode(params), headers=headers)


def state(engine: sa.Engine, subscriber_id: int) -> SubscriberState:
    with Session(engine) as session:
        found = session.get(Subscriber, subscriber_id)
        assert found is not None
        return found.state


def customer_withdrawn(engine: sa.Engine) -> bool:
    with Session(engine) as session:
        customer = store.get_recipient(session=session, external_id="c1")
        assert customer.id is not None
        return consent.has_withdrawn(session=session, recipient_id=customer.id, channel=Channel.SMS)


def test_stop_ends_the_subscription_and_the_consent_and_start_brings_both_back(
    client: TestClient, engine: sa.Engine, subscribed: int
) -> None:
    stopped = text(client, "Stop")
    assert stopped.status_code == 200  # type: ignore[attr-defined]
    assert stopped.headers["content-type"].startswith("application/xml")  # type: ignore[attr-defined]
    assert "<Message>" not in stopped.text  # type: ignore[attr-defined]  # Twilio confirms STOP itself
    assert state(engine, subscribed) is SubscriberState.UNSUBSCRIBED
    assert customer_withdrawn(engine)

    assert text(client, "START").status_code == 200  # type: ignore[attr-defined]
    assert state(engine, subscribed) is SubscriberState.CONFIRMED
    assert not customer_withdrawn(engine)


def test_help_is_answered_in_the_numbers_language_with_who_we_are_and_how_to_stop(
    client: TestClient, engine: sa.Engine, subscribed: int
) -> None:
    answer = text(client, "help")
    assert answer.status_code == 200  # type: ignore[attr-defined]
    reply = answer.text  # type: ignore[attr-defined]
    assert (
        "<Response><Message>" in reply and "STOP zum Beenden" in reply and "incidents@acme.example" in reply
    )
    assert state(engine, subscribed) is SubscriberState.CONFIRMED


def test_advanced_opt_out_keywords_are_honoured_and_not_answered_twice(
    client: TestClient, engine: sa.Engine, subscribed: int
) -> None:
    assert "<Message>" not in text(client, "AIUTO", OptOutType="HELP").text  # type: ignore[attr-defined]
    text(client, "ARRET", OptOutType="STOP")
    assert state(engine, subscribed) is SubscriberState.UNSUBSCRIBED


def test_any_other_message_changes_nothing(client: TestClient, engine: sa.Engine, subscribed: int) -> None:
    for body in ("stop texting me please", "hello", ""):
        answer = text(client, body)
        assert answer.status_code == 200 and "<Message>" not in answer.text  # type: ignore[attr-defined]
    assert state(engine, subscribed) is SubscriberState.CONFIRMED


@pytest.mark.parametrize("how", ["unsigned", "signed for another body"])
def test_a_message_twilio_did_not_sign_is_403_and_changes_nothing(
    client: TestClient, engine: sa.Engine, subscribed: int, how: str
) -> None:
    if how == "unsigned":
        answer = text(client, "STOP", sign=False)
    else:
        params = {"From": NUMBER, "Body": "HELP"}
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": twilio_signature(TOKEN, PUBLIC + PATH, params),
        }
        answer = client.post(PATH, content=urlencode({"From": NUMBER, "Body": "STOP"}), headers=headers)
    assert answer.status_code == 403  # type: ignore[attr-defined]
    assert state(engine, subscribed) is SubscriberState.CONFIRMED
    assert not customer_withdrawn(engine)
    with Session(engine) as session:
        assert len(session.exec(select(Subscriber)).all()) == 1
