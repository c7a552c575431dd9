"""The subscription pages through the real app: the whole email and SMS double opt-in, the same answer
for every address, and every bad input a clear page with its status code, storing and sending nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from clarion.models import Subscriber, SubscriberState, SubscriptionConfirmation, utcnow
from clarion.settings import Settings
from clarion.subscriptions.secrets import confirm_token, manage_token
from tests.faces.web.subscribe_helpers import (
    KEY,
    TestClient,
    client_for,
    code_of,
    counts,
    form_token,
    last_notice,
    link_in,
    make_settings,
)

ADA = "ada@example.com"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def client(settings: Settings, engine: sa.Engine) -> Iterator[TestClient]:
    with client_for(settings, engine) as client:
        yield client


def subscribe(client: TestClient, **fields: object) -> object:
    data = {"channel": "email", "email": ADA, "components": ["api"], "locale": "en"} | fields
    return client.post("/subscribe", data={"csrf": form_token(client), **data})


def subscriber(engine: sa.Engine) -> Subscriber:
    with Session(engine) as session:
        found = session.exec(select(Subscriber)).one()
        session.expunge(found)
        return found


def test_the_form_offers_both_channels_the_components_in_their_groups_and_the_languages(
    client: TestClient,
) -> None:
    page = client.get("/subscribe")

    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert "noindex" in page.headers["x-robots-tag"]
    assert "__Host-clarion-form=" in page.headers["set-cookie"] and "HttpOnly" in page.headers["set-cookie"]
    text = page.text
    for expected in (
        'name="channel" value="email"',
        'name="channel" value="sms"',
        'type="email" id="email"',
        'type="tel" id="phone"',
        "<legend>Platform</legend>",
        "<legend>Dashboard and API</legend>",
        'value="api" checked',
        '<option value="de" lang="de">Deutsch</option>',
    ):
        assert expected in text, expected
    assert "Statusmeldungen erhalten" in client.get("/subscribe?lang=de").text


def test_the_whole_email_subscription(client: TestClient, engine: sa.Engine, settings: Settings) -> None:
    answer = subscribe(client)
    assert (answer.status_code, answer.headers["location"]) == (303, "/subscribe/sent")  # type: ignore[attr-defined]
    assert "Check your inbox" in client.get("/subscribe/sent").text

    notice, text = last_notice(engine, settings)
    assert (notice.kind, notice.address) == ("subscription-confirm", ADA)
    confirm_path = link_in(text, "subscribe/confirm")
    page = client.get(confirm_path)
    assert page.status_code == 200 and "Confirm subscription" in page.text and "a•••@example.com" in page.text
    assert subscriber(engine).state is SubscriberState.PENDING  # opening the link confirms nothing

    done = client.post(confirm_path, data={"csrf": form_token(client, confirm_path)})
    assert done.status_code == 303
    manage_path = done.headers["location"]
    assert manage_path.startswith("/subscriptions/") and manage_path.endswith("?done=confirmed")
    assert subscriber(engine).state is SubscriberState.CONFIRMED
    welcome, words = last_notice(engine, settings)
    assert (
        welcome.kind == "subscription-welcome"
        and link_in(words, "subscriptions") == manage_path.split("?")[0]
    )

    manage = client.get(manage_path)
    assert manage.status_code == 200 and "Your subscription is confirmed" in manage.text
    assert 'value="api" checked' in manage.text and 'value="builds" checked' not in manage.text

    path = manage_path.split("?")[0]
    saved = client.post(
        path, data={"csrf": form_token(client, path), "action": "save", "components": ["api", "builds"]}
    )
    assert (saved.status_code, saved.headers["location"]) == (303, f"{path}?done=saved")
    assert subscriber(engine).components == ["builds", "api"]

    ended = client.post(path, data={"csrf": form_token(client, path), "action": "unsubscribe"})
    assert ended.status_code == 200 and "You are unsubscribed" in ended.text
    assert subscriber(engine).state is SubscriberState.UNSUBSCRIBED
    assert client.get(path).status_code == 410  # the link of an ended subscription


def test_the_whole_sms_subscription_with_a_code(
    client: TestClient, engine: sa.Engine, settings: Settings
) -> None:
    answer = subscribe(client, channel="sms", email="", phone="+49 151 12345678", components=["builds"])
    assert answer.status_code == 303  # type: ignore[attr-defined]
    code_path = answer.headers["location"]  # type: ignore[attr-defined]
    assert code_path.startswith("/subscribe/code/")
    notice, text = last_notice(engine, settings)
    assert (notice.kind, notice.address) == ("subscription-code", "+4915112345678")
    code = code_of(notice)
    assert code in text

    wrong = client.post(code_path, data={"csrf": form_token(client, code_path), "code": "not it"})
    assert wrong.status_code == 422 and "Tries left: 4" in wrong.text
    right = client.post(code_path, data={"csrf": form_token(client, code_path), "code": code})
    assert right.status_code == 303 and right.headers["location"].startswith("/subscriptions/")
    assert (subscriber(engine).state, subscriber(engine).components) == (
        SubscriberState.CONFIRMED,
        ["builds"],
    )
    assert last_notice(engine, settings)[0].kind == "subscription-welcome"


def test_a_known_address_gets_the_same_answer_as_an_unknown_one(
    client: TestClient, engine: sa.Engine, settings: Settings
) -> None:
    first = subscribe(client)
    path = link_in(last_notice(engine, settings)[1], "subscribe/confirm")
    client.post(path, data={"csrf": form_token(client, path)})

    known = subscribe(client)
    unknown = subscribe(client, email="grace@example.com")

    for answer in (first, known, unknown):
        assert (answer.status_code, answer.headers["location"]) == (303, "/subscribe/sent")  # type: ignore[attr-defined]
    assert subscriber_count(engine) == 2


def subscriber_count(engine: sa.Engine) -> int:
    with Session(engine) as session:
        return len(session.exec(select(Subscriber)).all())


# ── bad input: a clear page, the right status, nothing stored or sent ────────────────────────────


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"email": "ada@"}, "Enter an email address like name@example.com."),
        ({"email": ""}, "Enter your email address."),
        ({"channel": "sms", "email": "", "phone": "0151 1234567"}, "starting with +"),
        ({"channel": "sms", "email": "", "phone": "+49 12"}, "Enter a mobile number like"),
        ({"components": ["api", "no-such-component"]}, "is not on this page any more"),
        ({"components": []}, "Choose at least one component"),
        ({"locale": "xx"}, "Choose a language from the list."),
        ({"channel": "pigeon", "email": "", "phone": ""}, "Choose email or text message."),
    ],
)
def test_a_wrong_field_is_422_with_its_problem_and_stores_nothing(
    client: TestClient, engine: sa.Engine, fields: dict[str, object], message: str
) -> None:
    before = counts(engine)

    answer = subscribe(client, **fields)

    assert answer.status_code == 422  # type: ignore[attr-defined]
    assert message in answer.text  # type: ignore[attr-defined]
    assert 'class="error-summary"' in answer.text  # type: ignore[attr-defined]
    assert counts(engine) == before


@pytest.mark.parametrize("how", ["no token", "another cookie's token", "no cookie", "a forged token"])
def test_a_form_without_its_token_is_403_and_stores_nothing(
    client: TestClient, engine: sa.Engine, settings: Settings, how: str
) -> None:
    data = {"channel": "email", "email": ADA, "components": ["api"], "locale": "en"}
    token = form_token(client)
    if how == "another cookie's token":
        with client_for(settings, engine) as other:
            token = form_token(other)
    elif how == "no cookie":
        client.cookies.clear()
    elif how == "a forged token":
        token = token[:-4] + "AAAA"
    if how != "no token":
        data["csrf"] = token
    before = counts(engine)

    answer = client.post("/subscribe", data=data)

    assert answer.status_code == 403 and "This form has expired" in answer.text
    assert counts(engine) == before


def test_a_post_that_is_not_a_form_is_415(client: TestClient, engine: sa.Engine) -> None:
    before = counts(engine)
    answer = client.post("/subscribe", json={"email": ADA})
    assert answer.status_code == 415
    assert counts(engine) == before


def _confirmation(engine: sa.Engine) -> SubscriptionConfirmation:
    with Session(engine) as session:
        found = session.exec(
            select(SubscriptionConfirmation).order_by(SubscriptionConfirmation.id.desc())
        ).first()  # type: ignore[union-attr]
        assert found is not None
        session.expunge(found)
        return found


@pytest.mark.parametrize(
    ("which", "status", "heading"),
    [
        ("forged", 400, "This link is not valid"),
        ("garbled", 400, "This link is not valid"),
        ("unknown", 404, "Unknown link"),
        ("expired", 410, "This link has expired"),
        ("reused", 410, "This link was already used"),
    ],
)
def test_a_bad_confirmation_link_is_a_clear_page_and_confirms_nothing(
    client: TestClient, engine: sa.Engine, settings: Settings, which: str, status: int, heading: str
) -> None:
    subscribe(client)
    path = link_in(last_notice(engine, settings)[1], "subscribe/confirm")
    key = KEY.encode()
    if which == "forged":
        path = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    elif which == "garbled":
        path = "/subscribe/confirm/v2.not.a.token"
    elif which == "unknown":
        path = f"/subscribe/confirm/{confirm_token(key, 999, expires_at=utcnow() + timedelta(hours=1))}"
    elif which == "expired":
        path = f"/subscribe/confirm/{confirm_token(key, _confirmation(engine).id or 0, expires_at=utcnow())}"
    else:
        client.post(path, data={"csrf": form_token(client, path)})
    before = counts(engine)

    shown = client.get(path)
    pressed = client.post(path, data={"csrf": form_token(client, "/subscribe")})

    for answer in (shown, pressed):
        assert answer.status_code == status and f"<h1>{heading}</h1>" in answer.text
        assert answer.headers["cache-control"] == "no-store"
    assert counts(engine) == before
    assert subscriber(engine).state is (
        SubscriberState.CONFIRMED if which == "reused" else SubscriberState.PENDING
    )


def _confirmed_manage_path(client: TestClient, engine: sa.Engine, settings: Settings) -> str:
    subscribe(client)
    path = link_in(last_notice(engine, settings)[1], "subscribe/confirm")
    done = client.post(path, data={"csrf": form_token(client, path)})
    return str(done.headers["location"]).split("?")[0]


@pytest.mark.parametrize(
    ("which", "status", "heading"),
    [
        ("forged", 400, "This link is not valid"),
        ("unknown", 404, "Unknown link"),
        ("expired", 410, "This link has expired"),
        ("reused after unsubscribing", 410, "This subscription has ended"),
    ],
)
def test_a_bad_manage_link_is_a_clear_page_and_changes_nothing(
    client: TestClient, engine: sa.Engine, settings: Settings, which: str, status: int, heading: str
) -> None:
    path = _confirmed_manage_path(client, engine, settings)
    key = KEY.encode()
    soon = utcnow() + timedelta(days=1)
    if which == "forged":
        path = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    elif which == "unknown":
        path = f"/subscriptions/{manage_token(key, 999, 1, expires_at=soon)}"
    elif which == "expired":
        path = f"/subscriptions/{manage_token(key, subscriber(engine).id or 0, 1, expires_at=utcnow())}"
    else:
        client.post(path, data={"csrf": form_token(client, path), "action": "unsubscribe"})
    before = counts(engine)

    shown = client.get(path)
    saved = client.post(
        path, data={"csrf": form_token(client, "/subscribe"), "action": "save", "components": ["builds"]}
    )
    ended = client.post(path, data={"csrf": form_token(client, "/subscribe"), "action": "unsubscribe"})

    for answer in (shown, saved, ended):
        assert answer.status_code == status and f"<h1>{heading}</h1>" in answer.text
    assert counts(engine) == before
    assert subscriber(engine).components == ["api"]


def test_saving_no_component_or_an_unknown_one_is_422_and_changes_nothing(
    client: TestClient, engine: sa.Engine, settings: Settings
) -> None:
    path = _confirmed_manage_path(client, engine, settings)
    before = counts(engine)

    for components in ([], ["nope"]):
        answer = client.post(
            path, data={"csrf": form_token(client, path), "action": "save", "components": components}
        )
        assert answer.status_code == 422 and 'class="error-summary"' in answer.text

    assert counts(engine) == before and subscriber(engine).components == ["api"]


def test_a_manage_post_without_its_token_changes_nothing(
    client: TestClient, engine: sa.Engine, settings: Settings
) -> None:
    path = _confirmed_manage_path(client, engine, settings)
    answer = client.post(path, data={"action": "unsubscribe"})
    assert answer.status_code == 403
    assert subscriber(engine).state is SubscriberState.CONFIRMED


def test_a_flood_from_one_client_is_429_and_stores_nothing(client: TestClient, engine: sa.Engine) -> None:
    for n in range(10):
        assert subscribe(client, email=f"user{n}@example.com").status_code == 303  # type: ignore[attr-defined]
    before = counts(engine)

    answer = subscribe(client, email="one-more@example.com")

    assert answer.status_code == 429  # type: ignore[attr-defined]
    assert int(answer.headers["retry-after"]) > 0  # type: ignore[attr-defined]
    assert "Too many requests" in answer.text  # type: ignore[attr-defined]
    assert counts(engine) == before


def test_one_address_asked_for_from_many_clients_is_429_after_three(
    settings: Settings, engine: sa.Engine
) -> None:
    answers = []
    for n in range(4):
        with client_for(settings, engine, host=f"198.51.100.{n}") as client:
            answers.append(subscribe(client).status_code)  # type: ignore[attr-defined]
    assert answers == [303, 303, 303, 429]
    with Session(engine) as session:
        assert len(session.exec(select(SubscriptionConfirmation)).all()) == 3


def test_too_many_wrong_codes_spend_the_confirmation(
    client: TestClient, engine: sa.Engine, settings: Settings
) -> None:
    answer = subscribe(client, channel="sms", email="", phone="+4915112345678")
    path = answer.headers["location"]  # type: ignore[attr-defined]
    code = code_of(last_notice(engine, settings)[0])
    wrong = "000000" if code != "000000" else "111111"
    statuses = [
        client.post(path, data={"csrf": form_token(client, path), "code": wrong}).status_code
        for _ in range(5)
    ]
    assert statuses == [422, 422, 422, 422, 410]
    late = client.post(path, data={"csrf": form_token(client, "/subscribe"), "code": code})
    assert late.status_code == 410 and "Too many wrong codes" in late.text
    assert subscriber(engine).state is SubscriberState.PENDING


def test_every_page_speaks_german_when_asked(
    client: TestClient, engine: sa.Engine, settings: Settings
) -> None:
    token = form_token(client, "/subscribe?lang=de")
    answer = client.post(
        "/subscribe?lang=de",
        data={"csrf": token, "channel": "email", "email": ADA, "components": ["api"], "locale": "de"},
    )
    assert answer.headers["location"] == "/subscribe/sent?lang=de"
    assert "Sehen Sie in Ihr Postfach" in client.get(answer.headers["location"]).text
    assert "Abonnement bestätigen" in last_notice(engine, settings)[1]
    assert subscriber(engine).locale == "de"
