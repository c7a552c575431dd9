"""One-click unsubscribe (RFC 8058): POST unsubscribes, GET only asks, forged, old and expired tokens
are refused, and the app neither starts nor verifies with a missing, empty or weak signing key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlmodel import Session, select

from clarion import audit, store
from clarion.audiences import consent
from clarion.audiences.unsubscribe import UNSUBSCRIBE_TTL, make_token, secret_key
from clarion.errors import ConfigError
from clarion.kinds import Channel, ConsentState
from clarion.models import AuditEvent, RecipientCreate, utcnow
from clarion.settings import Settings
from faces.web.app import create_app

with warnings.catch_warnings():  # Starlette 1.x asks for "httpx2"; the httpx we have works the same
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`", UserWarning)
    from fastapi.testclient import TestClient

ONE_CLICK = {"List-Unsubscribe": "One-Click"}
KEY = "Zq3-vF8_kP2wLx9RtB7nYc4HmJ6sDa1E"  # 32 characters, as random as a test needs


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        public_url="https://status.example.com",
        secret_key=SecretStr(KEY),
        email_from="incidents@acme.example",
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


def token(
    settings: Settings, recipient_id: int, channel: Channel = Channel.EMAIL, *, made: datetime | None = None
) -> str:
    return make_token(secret_key(settings), recipient_id=recipient_id, channel=channel, now=made or utcnow())


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
    version, _, channel, expires, mac = good.split(".")
    other_key = make_token(
        b"another-key-that-is-32-characters-long",
        recipient_id=recipient_id,
        channel=Channel.EMAIL,
        now=utcnow(),
    )
    return [
        f"{version}.{recipient_id + 1}.{channel}.{expires}.{mac}",  # someone else
        f"{version}.{recipient_id}.sms.{expires}.{mac}",  # another channel
        f"{version}.{recipient_id}.{channel}.{int(expires) + 86400 * 365}.{mac}",  # a longer life
        f"{version}.{recipient_id}.{channel}.{expires}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}",
        f"v3.{recipient_id}.{channel}.{expires}.{mac}",
        f"{version}.{recipient_id}.{channel}.{expires}.{mac}.{mac}",
        f"{version}.{recipient_id}.{channel}.{mac}",
        other_key,
        "garbage",
        f"{version}.{recipient_id}.{channel}.{expires}.",
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


# ── expiry, old tokens and the signing key ───────────────────────────────────────────────────────


def test_signed_links_expire(
    client: TestClient, settings: Settings, engine: sa.Engine, recipient_id: int
) -> None:
    old = utcnow() - UNSUBSCRIBE_TTL - timedelta(minutes=1)
    expired = token(settings, recipient_id, made=old)

    page = client.get(f"/unsubscribe/{expired}")
    assert page.status_code == 410
    assert "expired" in page.text and "<form" not in page.text
    assert "reply to one of the messages" in page.text and "incidents@acme.example" in page.text
    assert page.headers["cache-control"] == "no-store"
    posted = client.post(f"/unsubscribe/{expired}", data=ONE_CLICK)
    assert posted.status_code == 410 and "expired" in posted.text
    assert not withdrawn(engine, recipient_id)
    assert audit_entries(engine) == []

    version, recipient, channel, expires, mac = expired.split(".")
    prolonged = f"{version}.{recipient}.{channel}.{int(expires) + 2 * 86400 * 90}.{mac}"
    assert client.post(f"/unsubscribe/{prolonged}", data=ONE_CLICK).status_code == 400
    assert not withdrawn(engine, recipient_id)

    nearly = token(settings, recipient_id, made=utcnow() - UNSUBSCRIBE_TTL + timedelta(minutes=5))
    assert client.post(f"/unsubscribe/{nearly}", data=ONE_CLICK).status_code == 200
    assert withdrawn(engine, recipient_id)


def legacy_token(key: bytes, recipient_id: int, channel: str = "email") -> str:
    """The unversioned form clarion made before expiring links: ``<recipient>.<channel>.<mac>``."""
    payload = f"{recipient_id}.{channel}"
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()[:16]
    return f"{payload}.{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"


def test_legacy_unversioned_tokens_are_refused(
    client: TestClient, settings: Settings, engine: sa.Engine, recipient_id: int
) -> None:
    for key in (b"", secret_key(settings)):  # the empty key's links unsubscribed anyone
        old = legacy_token(key, recipient_id)
        assert client.post(f"/unsubscribe/{old}", data=ONE_CLICK).status_code == 400, key
        page = client.get(f"/unsubscribe/{old}")
        assert page.status_code == 400 and "<form" not in page.text
        assert "incidents@acme.example" in page.text  # how to unsubscribe instead
    assert not withdrawn(engine, recipient_id)
    assert audit_entries(engine) == []


@pytest.mark.parametrize("configured", ["", "   ", "k" * 31, "k" * 64, "abcabcabc" * 4])
def test_missing_empty_or_short_secret_keys_are_refused(
    tmp_path: Path, engine: sa.Engine, configured: str
) -> None:
    settings = Settings(home=tmp_path / "home", secret_key=SecretStr(configured))

    with pytest.raises(ConfigError, match=r"CLARION_SECRET_KEY is set but .*: use at least 32"):
        create_app(settings, engine=engine)


@pytest.mark.parametrize("stored", ["", "\n", "short-key\n", "Zq3-vF8_kP2wLx9RtB7nYc4HmJ6sDa1"])
def test_a_short_key_file_stops_the_app_at_start(tmp_path: Path, engine: sa.Engine, stored: str) -> None:
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "secret.key").write_text(stored)

    with pytest.raises(ConfigError, match=r"secret\.key: the signing key in this file is"):
        create_app(Settings(home=tmp_path / "home"), engine=engine)


def test_a_key_file_cut_short_after_the_start_refuses_every_link(
    tmp_path: Path, engine: sa.Engine, recipient_id: int
) -> None:
    settings = Settings(home=tmp_path / "home", email_from="incidents@acme.example")
    with TestClient(create_app(settings, engine=engine)) as client:
        genuine = token(settings, recipient_id)
        (tmp_path / "home" / "secret.key").write_text("")
        signed = f"v2.{recipient_id}.email.{int(utcnow().timestamp()) + 3600}"
        mac = hmac.new(b"", f"clarion unsubscribe\x00{signed}".encode(), hashlib.sha256).digest()[:16]
        with_empty_key = f"{signed}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
        for link in (genuine, with_empty_key):
            for response in (
                client.post(f"/unsubscribe/{link}", data=ONE_CLICK),
                client.get(f"/unsubscribe/{link}"),
            ):
                assert response.status_code == 503
                assert "incidents@acme.example" in response.text
    assert not withdrawn(engine, recipient_id)
