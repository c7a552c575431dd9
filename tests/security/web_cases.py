"""Web app cases: the app in one of its set-ups over the seeded store, requests to make, and the check.

The app (``faces.web.app.create_app``) runs over a copy of the seeded store, in one of these set-ups:

* ``sandbox``: no provider credentials (the zero-account demo): SendGrid events are taken unsigned,
  Twilio callbacks are checked against the sandbox's token;
* ``signed``: a SendGrid verification key and Twilio credentials, as in production;
* ``unverifiable``: a SendGrid API key but no verification key (every event post is a 503);
* ``half-twilio``: a Twilio account without its token (every callback is a 503);
* ``unusable-key``: a SendGrid verification key that is not a key (every event post is a 503).

A few cases are rightly answered 2xx (events about deliveries clarion never made, a page that only
asks): for them too the store must be unchanged. Every answer is checked for a traceback and for raw
control characters.
"""

from __future__ import annotations

import base64
import json
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr

from channels.signatures import twilio_signature
from channels.sms import SANDBOX_AUTH_TOKEN
from clarion import store
from clarion.audiences.signing import sign
from clarion.audiences.unsubscribe import make_token
from clarion.files.text import first_unsafe
from clarion.kinds import Channel
from clarion.models import utcnow
from clarion.settings import Settings
from faces.web.app import create_app
from tests.security.cases import case
from tests.security.conftest import World

with warnings.catch_warnings():  # Starlette 1.x asks for "httpx2"; the httpx we have works the same
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`", UserWarning)
    from fastapi.testclient import TestClient

PUBLIC = "https://status.example.com"
KEY = "Zq3-vF8_kP2wLx9RtB7nYc4HmJ6sDa1E"
TWILIO_TOKEN = "twilio-test-token"
SENDGRID = "/webhooks/sendgrid/events"
TWILIO = "/webhooks/twilio/status"
FORM = "application/x-www-form-urlencoded"
PRIVATE = ec.generate_private_key(ec.SECP256R1())
RECIPIENT = 1
"""A recipient of the seeded store (the outage's audience)."""


def _public_b64(key: ec.EllipticCurvePrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


SETUPS: dict[str, dict[str, Any]] = {
    "sandbox": {},
    "signed": {
        "sendgrid_api_key": SecretStr("SG.real"),
        "sendgrid_event_public_key": _public_b64(PRIVATE),
        "twilio_account_sid": "AC" + "1" * 32,
        "twilio_auth_token": SecretStr(TWILIO_TOKEN),
    },
    "unverifiable": {"sendgrid_api_key": SecretStr("SG.real")},
    "half-twilio": {"twilio_account_sid": "AC" + "1" * 32},
    "unusable-key": {"sendgrid_event_public_key": "bm90IGEga2V5"},
}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    content: bytes | Iterator[bytes] | None = None
    headers: dict[str, str] | None = None


Make = Callable[[], Request]


def signed_events(
    body: bytes, *, key: ec.EllipticCurvePrivateKey = PRIVATE, timestamp: str = "1772000100"
) -> dict[str, str]:
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "Content-Type": "application/json",
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    }


def events(*items: object) -> bytes:
    return json.dumps(list(items)).encode()


EVENT = {"event": "delivered", "sg_event_id": "ev-1", "timestamp": 1772000000, "delivery_id": "1"}
DEEP = b"[" * 100_000 + b"]" * 100_000
JSON = {"Content-Type": "application/json"}


def post(path: str, content: bytes, headers: dict[str, str] | None = None) -> Make:
    return lambda: Request("POST", path, content, headers)


def sendgrid_signed(content: bytes, **kwargs: Any) -> Make:
    return lambda: Request("POST", SENDGRID, content, signed_events(content, **kwargs))


def chunked(size: int) -> Make:
    def chunks() -> Iterator[bytes]:
        for _ in range(size // 65536 + 1):
            yield b" " * 65536

    return lambda: Request("POST", SENDGRID, chunks(), JSON)


def status_form(status: str = "delivered", sid: str = "SM" + "0" * 32, **extra: str) -> dict[str, str]:
    return {"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC" + "1" * 32, **extra}


def twilio(
    form: dict[str, str],
    *,
    token: str = SANDBOX_AUTH_TOKEN,
    content_type: str = FORM,
    signature: str | None = None,
) -> Make:
    body = urlencode(form).encode()
    signed = twilio_signature(token, PUBLIC + TWILIO, form) if signature is None else signature
    return post(TWILIO, body, {"Content-Type": content_type, "X-Twilio-Signature": signed})


def token(*, key: bytes = KEY.encode(), recipient_id: int = RECIPIENT, now: datetime | None = None) -> str:
    """An email unsubscribe token made at ``now`` (the present by default)."""
    return make_token(key, recipient_id=recipient_id, channel=Channel.EMAIL, now=now or utcnow())


def signed_link(purpose: str, *fields: str) -> str:
    return sign(KEY.encode(), purpose, list(fields), expires_at=utcnow() + timedelta(days=1))


def legacy_token() -> str:
    import hashlib
    import hmac

    mac = hmac.new(b"", f"{RECIPIENT}.email".encode(), hashlib.sha256).hexdigest()[:32]
    return f"{RECIPIENT}.email.{mac}"


def unsubscribe(made: Callable[[], str], method: str = "POST") -> Make:
    return lambda: Request(
        method,
        f"/unsubscribe/{made()}",
        b"List-Unsubscribe=One-Click" if method == "POST" else None,
        {"Content-Type": FORM} if method == "POST" else None,
    )


def get(path: str, content: bytes | None = None) -> Make:
    return lambda: Request("GET", path, content)


def http(id: str, setup: str, make: Make, status: int, *, fails: str | None = None) -> object:
    return case(id, setup, make, status, fails=fails)


def answers_without_change(world: World, setup: str, make: Make, status: int) -> None:
    """The request ``make`` builds, to the app in ``setup``: ``status``, no traceback, no raw control
    character, and the store, home and sandbox as they were."""
    world.seed()
    engine = store.make_engine(f"sqlite:///{world.store_path}")
    settings = Settings(
        _env_file=None, home=world.home, public_url=PUBLIC, secret_key=SecretStr(KEY), **SETUPS[setup]
    )
    request = make()
    before = world.snapshot()
    try:
        with TestClient(create_app(settings, engine=engine), raise_server_exceptions=False) as client:
            response = client.request(
                request.method, request.path, content=request.content, headers=request.headers
            )
    finally:
        engine.dispose()

    shown = f"HTTP {response.status_code}: {response.text[:500]}"
    assert response.status_code == status, shown
    assert "Traceback" not in response.text, shown
    assert first_unsafe(response.text) is None, shown
    assert world.snapshot().changes_from(before) == []
