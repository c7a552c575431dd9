"""One-click unsubscribe (RFC 8058): POST unsubscribes, GET only asks, forged tokens are refused."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlmodel import Session, select

from clarion import audit, consent, store
from clarion.kinds import Channel, ConsentState
from clarion.models import AuditEvent, RecipientCreate
from clarion.settings import Settings
from clarion.unsubscribe import make_token, secret_key
from faces.web.app import create_app

with warnings.catch_warnings():  # Starlette 1.x asks for "httpx2"; the httpx we have works the same
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`", UserWarning)
    from fastapi.testclient import TestClient

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = store.make_engine(f"sqlite:///{tmp_path}/store/clarion.db")
    store.migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home", public_url="https://status.example.com", secret_key=SecretStr("k" * 32)
    )


@pytest.fixture
def client(settings: Settings, engine: sa.Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=engine)) as client:
        yield client


@pytest.fixture
def recipient_id(engine: sa.Engine) -> int:
    with store.session_scope(engine) as session:
        recipient = store.add_recipient(
            session=session,
            recipient_in=RecipientCreate(
                external_id="c1", email="ada@example.com", phone_e164="+4915112345678"
            ),
            consents={Channel.EMAIL: ConsentState.GRANTED, Channel.SMS: ConsentState.GRANTED},
        )
        assert recipient.id is not None
        return recipient.id


def token(settings: Settings, recipient_id: int, channel: Channel = Channel.EMAIL) -> str:
    return make_token(secret_key(settings), recipient_id=recipient_id, channel=channel)


def withdrawn(engine: sa.Engine, recipient_id: int, channel: Channel = Channel.EMAIL) -> bool:
    with Session(engine) as session:
        return consent.has_withdrawn(session=session, recipient_id=recipient_id, channel=channel)


def audit_entries(engine: sa.Engine) -> list[AuditEvent]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEvent)))


def test_get_asks_and_does_not_unsubscribe(
    client: TestClient, settings: Settings, engine: sa.Engine, recipient_id: int
) -> None:
    for _scanner_visit in range(3):
        response = client.get(f"/unsubscribe/{token(settings, recipient_id)}")
        assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<form method="post">' in response.text
    assert 'name="List-Unsubscribe" value="One-Click"' in response.text
    assert "ada@example.com" not in response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert not withdrawn(engine, recipient_id)
    assert audit_entries(engine) == []


def test_one_click_post_unsubscribes_and_audits(
    client: TestClient, settings: Settings, engine: sa.Engine, recipient_id: int
) -> None:
    response = client.post(f"/unsubscribe/{token(settings, recipient_id)}", data=ONE_CLICK)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "unsubscribed" in response.text
    assert withdrawn(engine, recipient_id)
    assert not withdrawn(engine, recipient_id, Channel.SMS)
    [entry] = audit_entries(engine)
    assert (entry.actor, entry.action, entry.subject) == (
        "recipient",
        "consent.withdrawn",
        f"recipient:{recipient_id}",
    )
    assert entry.details == {"channel": "email", "source": "unsubscribe"}
    with Session(engine) as session:
        assert audit.verify(session=session).entries == 1


def test_multipart_one_click_and_repeats_are_idempotent(
    client: TestClient, settings: Settings, engine: sa.Engine, recipient_id: int
) -> None:
    url = f"/unsubscribe/{token(settings, recipient_id)}"
    first = client.post(url, files={"List-Unsubscribe": (None, "One-Click")})
    second = client.post(url, data=ONE_CLICK, headers={"Cookie": "session=ignored"})
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.text == second.text
    assert withdrawn(engine, recipient_id)
    assert len(audit_entries(engine)) == 1
    page = client.get(url)
    assert "You are unsubscribed" in page.text and "<form" not in page.text


def test_the_token_names_the_channel(
    client: TestClient, settings: Settings, engine: sa.Engine, recipient_id: int
) -> None:
    response = client.post(f"/unsubscribe/{token(settings, recipient_id, Channel.SMS)}", data=ONE_CLICK)
    assert response.status_code == 200
    assert withdrawn(engine, recipient_id, Channel.SMS)
    assert not withdrawn(engine, recipient_id, Channel.EMAIL)


def forgeries(good: str, recipient_id: int) -> list[str]:
    _, channel, mac = good.split(".")
    other_key = make_token(b"another key", recipient_id=recipient_id, channel=Channel.EMAIL)
    return [
        f"{recipient_id + 1}.{channel}.{mac}",  # someone else
        f"{recipient_id}.sms.{mac}",  # another channel
        f"{recipient_id}.{channel}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}",
        other_key,
        "garbage",
        f"{recipient_id}.{channel}.",
    ]


def test_forged_tokens_are_400_and_change_nothing(
    client: TestClient, settings: Settings, engine: sa.Engine, recipient_id: int
) -> None:
    for forged in forgeries(token(settings, recipient_id), recipient_id):
        assert client.post(f"/unsubscribe/{forged}", data=ONE_CLICK).status_code == 400, forged
        page = client.get(f"/unsubscribe/{forged}")
        assert page.status_code == 400 and "<form" not in page.text, forged
    assert not withdrawn(engine, recipient_id)
    assert not withdrawn(engine, recipient_id, Channel.SMS)
    assert audit_entries(engine) == []


def test_markup_in_the_url_is_never_echoed(client: TestClient) -> None:
    response = client.get("/unsubscribe/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E.email.x")
    assert response.status_code == 400
    assert "<img" not in response.text and "onerror" not in response.text


def test_a_valid_token_for_a_deleted_recipient_is_404(client: TestClient, settings: Settings) -> None:
    url = f"/unsubscribe/{token(settings, 4242)}"
    assert client.post(url, data=ONE_CLICK).status_code == 404
    assert client.get(url).status_code == 404
