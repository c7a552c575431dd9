"""Request bodies are bounded per route before any route reads them; JSON is parsed with bounded nesting."""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import AsyncIterator, Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlmodel import Session, select

with warnings.catch_warnings():  # Starlette 1.x asks for "httpx2"; the httpx we have works the same
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`", UserWarning)
    from fastapi.testclient import TestClient

from channels.signatures import twilio_signature
from clarion import store
from clarion.audiences import consent
from clarion.audiences.unsubscribe import secret_key, unsubscribe_url
from clarion.errors import InputError
from clarion.files.boundedjson import nested_deeper_than
from clarion.kinds import Channel, ConsentState, DeliveryState, IncidentStatus
from clarion.models import (
    AuditEvent,
    Delivery,
    IncidentCreate,
    ProviderEvent,
    RecipientCreate,
    UpdateCreate,
    utcnow,
)
from clarion.settings import Settings
from faces.web.app import create_app
from faces.web.limits import (
    MAX_JSON_DEPTH,
    SENDGRID_EVENTS_MAX_BYTES,
    TWILIO_STATUS_MAX_BYTES,
    UNSUBSCRIBE_MAX_BYTES,
    load_json,
)
from faces.web.webhooks import TWILIO_MAX_FIELDS

PUBLIC = "https://status.example.com"
TWILIO_TOKEN = "twilio-test-token"
SENDGRID_PATH = "/webhooks/sendgrid/events"
STATUS_PATH = "/webhooks/twilio/status"
SID = "SM" + "ab" * 16
JSON = {"Content-Type": "application/json"}
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """SendGrid in sandbox mode (events accepted unsigned), Twilio with a known token."""
    return Settings(
        home=tmp_path / "home",
        public_url=PUBLIC,
        twilio_account_sid="AC" + "1" * 32,
        twilio_auth_token=SecretStr(TWILIO_TOKEN),
    )


@pytest.fixture
def client(settings: Settings, engine: sa.Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=engine)) as client:
        yield client


@dataclass(frozen=True)
class Fixture:
    email: int
    sms: int
    recipient: int


@pytest.fixture
def rows(engine: sa.Engine) -> Fixture:
    """An email and an SMS delivery, both accepted by their provider, to one consenting recipient."""
    with store.session_scope(engine) as session:
        incident = store.create_incident(
            session=session,
            incident_in=IncidentCreate(playbook="outage", severity="sev1", title="Down", aware_at=utcnow()),
        )
        update = store.add_update(
            session=session,
            incident=incident,
            update_in=UpdateCreate(
                status=IncidentStatus.INVESTIGATING,
                apology={"en": {"text": "Sorry.", "short": None}},
                next_update_by=utcnow(),
            ),
        )
        recipient = store.add_recipient(
            session=session,
            recipient_in=RecipientCreate(
                external_id="c1", email="ada@example.com", phone_e164="+4915112345678"
            ),
            consents={Channel.EMAIL: ConsentState.GRANTED, Channel.SMS: ConsentState.GRANTED},
        )
        made = [
            Delivery(
                update_id=update.id or 0,
                recipient_id=recipient.id,
                channel=channel,
                idempotency_key=f"k-{channel}",
                state=DeliveryState.ACCEPTED,
                provider_id=provider_id,
            )
            for channel, provider_id in ((Channel.EMAIL, "sg-msg-1"), (Channel.SMS, SID))
        ]
        session.add_all(made)
        session.flush()
        return Fixture(email=made[0].id or 0, sms=made[1].id or 0, recipient=recipient.id or 0)


def written(engine: sa.Engine) -> dict[str, Any]:
    """Everything a webhook or an unsubscribe could write."""
    with Session(engine) as session:
        return {
            "deliveries": sorted((d.id, d.state, d.provider_status) for d in session.exec(select(Delivery))),
            "events": len(session.exec(select(ProviderEvent)).all()),
            "audit": len(session.exec(select(AuditEvent)).all()),
            "withdrawn": [
                channel
                for channel in (Channel.EMAIL, Channel.SMS)
                for recipient_id in session.exec(select(Delivery.recipient_id))
                if recipient_id is not None
                and consent.has_withdrawn(session=session, recipient_id=recipient_id, channel=channel)
            ],
        }


# ── what each route would act on, padded past its limit ───────────────────────────────────────────


@dataclass(frozen=True)
class Post:
    path: str
    body: bytes
    headers: dict[str, str]


def sendgrid_post(rows: Fixture, size: int) -> Post:
    """Unsigned events the sandbox-mode webhook applies, padded with JSON whitespace to ``size`` bytes."""
    events = [{"event": "bounce", "sg_event_id": "ev-1", "delivery_id": str(rows.email), "timestamp": 1}]
    body = json.dumps(events).encode()
    return Post(SENDGRID_PATH, body + b" " * (size - len(body)), JSON)


def twilio_post(rows: Fixture, size: int) -> Post:
    """A genuinely signed status callback whose extra parameter makes it ``size`` bytes."""
    form = {"MessageSid": SID, "MessageStatus": "failed", "ErrorCode": "21610", "Pad": ""}
    form["Pad"] = "x" * (size - len(urlencode(form)))
    signature = twilio_signature(TWILIO_TOKEN, PUBLIC + STATUS_PATH, form)
    return Post(
        STATUS_PATH, urlencode(form).encode(), {"Content-Type": FORM, "X-Twilio-Signature": signature}
    )


def unsubscribe_post(settings: Settings, rows: Fixture, size: int) -> Post:
    """A one-click POST with a valid link, its body padded to ``size`` bytes."""
    url = unsubscribe_url(settings, secret_key(settings), recipient_id=rows.recipient, channel=Channel.EMAIL)
    body = b"List-Unsubscribe=One-Click&pad="
    return Post(urlsplit(url).path, body + b"x" * (size - len(body)), {"Content-Type": FORM})


LIMITS = {
    "sendgrid": SENDGRID_EVENTS_MAX_BYTES,
    "twilio": TWILIO_STATUS_MAX_BYTES,
    "unsubscribe": UNSUBSCRIBE_MAX_BYTES,
}


def make_post(route: str, settings: Settings, rows: Fixture, size: int) -> Post:
    if route == "sendgrid":
        return sendgrid_post(rows, size)
    if route == "twilio":
        return twilio_post(rows, size)
    return unsubscribe_post(settings, rows, size)


async def stream_through_the_app(app: Any, post: Post, chunk: int, total: int) -> tuple[int, int]:
    """POST ``total`` bytes in ``chunk``-sized pieces without a Content-Length: (status, bytes pulled)."""
    pulled = 0

    async def pieces() -> AsyncIterator[bytes]:
        nonlocal pulled
        body = post.body + b" " * (total - len(post.body))
        for start in range(0, total, chunk):
            pulled += len(body[start : start + chunk])
            yield body[start : start + chunk]

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post(post.path, content=pieces(), headers=post.headers)
    return response.status_code, pulled


@pytest.mark.parametrize("route", ["sendgrid", "twilio", "unsubscribe"])
def test_request_bodies_are_limited_before_reading(
    route: str, settings: Settings, engine: sa.Engine, rows: Fixture, client: TestClient
) -> None:
    limit = LIMITS[route]
    before = written(engine)

    # Content-Length over the limit: refused at once, without a byte of the body being read.
    over = make_post(route, settings, rows, limit + 1)
    response = client.post(over.path, content=over.body, headers=over.headers)
    assert response.status_code == 413, response.text
    assert f"at most {limit} bytes" in response.text

    app = create_app(settings, engine=engine)
    reads: list[str] = []

    async def receive() -> dict[str, Any]:
        reads.append("read")
        return {"type": "http.request", "body": over.body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            reads.append(f"status {message['status']}")

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": over.path, "raw_path": over.path.encode(), "root_path": "",
        "query_string": b"", "headers": [(b"content-length", str(len(over.body)).encode())],
        "client": ("127.0.0.1", 1), "server": ("test", 80),
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    assert reads == ["status 413"]

    # No Content-Length: counted as it streams, and cut off at the limit.
    def chunks() -> Iterator[bytes]:
        yield over.body[: limit // 2]
        yield over.body[limit // 2 :]

    response = client.post(over.path, content=chunks(), headers=over.headers)
    assert response.status_code == 413
    status, pulled = asyncio.run(stream_through_the_app(app, over, chunk=1024, total=3 * limit))
    assert status == 413
    assert pulled <= limit + 1024  # the limit and one chunk, never the whole body

    assert written(engine) == before

    # Within the limit the same request does what it is for.
    fits = make_post(route, settings, rows, limit)
    assert client.post(fits.path, content=fits.body, headers=fits.headers).status_code in (200, 204)
    assert written(engine) != before


def test_a_full_sendgrid_batch_fits_the_limit(client: TestClient, engine: sa.Engine, rows: Fixture) -> None:
    """SendGrid posts a batch when it reaches 768 KB: one of those (and more) is read and applied."""
    event = {
        "email": "someone.with.a.long.address@example.com", "event": "open", "timestamp": 1772000000,
        "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>", "sg_event_id": "P0onudGCXGlIhfAoy831Nw==",
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0", "category": ["incident"],
        "useragent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36", "ip": "203.0.113.7",
        "delivery_id": "999999",
    }  # fmt: skip
    batch = [event] * (1024 * 1024 // len(json.dumps(event)))
    batch.append(
        {"event": "delivered", "sg_event_id": "ev-last", "delivery_id": str(rows.email), "timestamp": 2}
    )
    body = json.dumps(batch).encode()
    assert len(body) > 1024 * 1024
    response = client.post(SENDGRID_PATH, content=body, headers=JSON)
    assert response.status_code == 200
    assert response.json()["applied"] == 1
    assert written(engine)["deliveries"][0][1] is DeliveryState.DELIVERED


# ── JSON nesting ──────────────────────────────────────────────────────────────────────────────────


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


@pytest.mark.parametrize(
    "body",
    [
        nested(100_000),
        "[" * 100_000,
        '[{"event": "delivered", "data": ' + nested(MAX_JSON_DEPTH) + "}]",
        '[{"event": "delivered", "a": ' + '{"a": ' * 5_000 + "1" + "}" * 5_000 + "}]",
    ],
    ids=["deep-array", "unclosed", "one-level-too-deep", "deep-objects"],
)
def test_deeply_nested_json_is_refused_cleanly(
    client: TestClient, engine: sa.Engine, rows: Fixture, body: str
) -> None:
    before = written(engine)
    response = client.post(SENDGRID_PATH, content=body.encode(), headers=JSON)
    assert response.status_code == 400
    assert f"nested deeper than {MAX_JSON_DEPTH} levels" in response.text
    assert written(engine) == before


def test_json_nesting_is_counted_outside_strings_only() -> None:
    assert not nested_deeper_than(nested(MAX_JSON_DEPTH).encode(), MAX_JSON_DEPTH)
    assert nested_deeper_than(nested(MAX_JSON_DEPTH + 1).encode(), MAX_JSON_DEPTH)
    brackets_in_strings = '[{"reason": "' + "[{" * 1000 + '\\"]]", "x": "\\\\"}]'
    assert load_json(brackets_in_strings.encode()) == [{"reason": "[{" * 1000 + '"]]', "x": "\\"}]
    hidden = '["\\"' + "[" * 100 + '"]'  # an escaped quote does not end the string
    assert not nested_deeper_than(hidden.encode(), 2)
    for garbage in (b'["unterminated', b'"\\', b"]]][[[", b"[}"):
        with pytest.raises(InputError):
            load_json(garbage)
    with pytest.raises(InputError, match="not UTF-8"):
        load_json('["caf\u00e9"]'.encode("utf-16"))
    with pytest.raises(InputError, match="not JSON"):
        load_json(b"[" + b"9" * 5000 + b"]")


def test_entries_that_are_not_objects_are_ignored_and_the_rest_applied(
    client: TestClient, engine: sa.Engine, rows: Fixture
) -> None:
    events = [
        1,
        "x",
        None,
        [],
        [{"event": "delivered"}],
        {"event": "delivered", "delivery_id": str(rows.email)},
    ]
    response = client.post(SENDGRID_PATH, content=json.dumps(events).encode(), headers=JSON)
    assert response.status_code == 200
    assert response.json() == {
        **{"applied": 1, "duplicates": 0, "unknown": 0, "ignored": 5, "withdrawn": 0},
        **{"held": 0, "fallbacks": 0},
    }
    for not_an_array in (b"{}", b'"events"', b"null"):
        assert client.post(SENDGRID_PATH, content=not_an_array, headers=JSON).status_code == 400


def test_twilio_forms_with_too_many_parameters_are_refused(
    client: TestClient, engine: sa.Engine, rows: Fixture
) -> None:
    form = {"MessageSid": SID, "MessageStatus": "delivered"}
    form |= {f"Extra{n}": "1" for n in range(TWILIO_MAX_FIELDS - 1)}
    signature = twilio_signature(TWILIO_TOKEN, PUBLIC + STATUS_PATH, form)
    headers = {"Content-Type": FORM, "X-Twilio-Signature": signature}
    before = written(engine)
    response = client.post(STATUS_PATH, content=urlencode(form), headers=headers)
    assert response.status_code == 400
    assert f"at most {TWILIO_MAX_FIELDS} parameters" in response.text
    assert written(engine) == before
    del form["Extra0"]
    signature = twilio_signature(TWILIO_TOKEN, PUBLIC + STATUS_PATH, form)
    headers["X-Twilio-Signature"] = signature
    assert client.post(STATUS_PATH, content=urlencode(form), headers=headers).status_code == 204
