"""The sandbox's delivery events: signed as the providers sign them (checked by clarion's own
verification code), posted to the configured URLs, with the configured bounce and failure rates."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from pydantic import ValidationError

from channels.sandbox import SandboxConfig, SandboxHandle
from channels.sandbox.config import TWILIO_SANDBOX_SID, TWILIO_SANDBOX_TOKEN
from channels.sandbox.events import SENDGRID_SANDBOX_EVENT_PUBLIC_KEY, sign_sendgrid, sign_twilio
from channels.signatures import (
    SENDGRID_SIGNATURE_HEADER,
    SENDGRID_TIMESTAMP_HEADER,
    TWILIO_SIGNATURE_HEADER,
    verify_sendgrid,
    verify_twilio,
)
from tests.faces.web.browser import serving
from tests.helpers import ROOT

VECTORS = json.loads((ROOT / "tests" / "fixtures" / "provider_test_vectors.json").read_text())


class Received:
    """What a loopback receiver was posted: (path, headers, raw body), in order."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, str], bytes]] = []
        self.lock = threading.Lock()

    def wait(self, n: int, timeout: float = 10.0) -> list[tuple[str, dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.posts) >= n:
                    return list(self.posts)
            time.sleep(0.02)
        raise AssertionError(f"expected {n} posts, got {len(self.posts)}")


@pytest.fixture
def receiver() -> Iterator[tuple[str, Received]]:
    received = Received()
    app = FastAPI()

    @app.post("/{path:path}")
    async def catch(path: str, request: Request) -> Response:
        body = await request.body()
        with received.lock:
            received.posts.append((f"/{path}", dict(request.headers), body))
        return Response(status_code=204)

    with serving(app) as url:
        yield url, received


def test_signatures_match_the_providers_test_vectors_and_clarions_verification() -> None:
    twilio = VECTORS["twilio_x_twilio_signature"]
    assert sign_twilio(twilio["auth_token"], twilio["url"], twilio["params"]) == twilio["expected"]
    body = b'[{"event":"bounce"}]\r\n'
    signature = sign_sendgrid("1600112502", body)
    assert verify_sendgrid(SENDGRID_SANDBOX_EVENT_PUBLIC_KEY, signature, "1600112502", body)
    assert not verify_sendgrid(SENDGRID_SANDBOX_EVENT_PUBLIC_KEY, signature, "1600112503", body)


def send_mail(sandbox: SandboxHandle, n: int) -> str:
    body = {
        "from": {"email": "incidents@example.com"},
        "subject": "Update",
        "content": [{"type": "text/plain", "value": "We are sorry."}],
        "personalizations": [
            {"to": [{"email": f"user{i}@example.com"}], "custom_args": {"delivery_id": str(i)}}
            for i in range(n)
        ],
    }
    answer = httpx.post(
        f"{sandbox.url}/v3/mail/send", json=body, headers={"Authorization": "Bearer SG.test"}, timeout=10
    )
    assert answer.status_code == 202
    return answer.headers["X-Message-Id"]


def test_sendgrid_events_are_posted_signed_with_the_configured_bounces(
    box: SandboxHandle, receiver: tuple[str, Received]
) -> None:
    url, received = receiver
    box.configure(sendgrid_event_url=f"{url}/events", event_delay_ms=10, bounce_rate=0.5, seed=3)
    message_id = send_mail(box, 40)
    [(path, headers, raw)] = received.wait(1)
    assert path == "/events" and raw.endswith(b"\r\n")
    signature, timestamp = (
        headers[SENDGRID_SIGNATURE_HEADER.lower()],
        headers[SENDGRID_TIMESTAMP_HEADER.lower()],
    )
    assert verify_sendgrid(SENDGRID_SANDBOX_EVENT_PUBLIC_KEY, signature, timestamp, raw)
    events: list[dict[str, Any]] = json.loads(raw)
    finals = {e["delivery_id"]: e["event"] for e in events if e["event"] != "processed"}
    assert len(finals) == 40 and set(finals.values()) == {"bounce", "delivered"}
    assert 8 <= list(finals.values()).count("bounce") <= 32  # half of 40, give or take the dice
    assert all(e["sg_message_id"].startswith(message_id + ".") and e["sg_event_id"] for e in events)


def test_twilio_status_callbacks_are_signed_for_the_callback_url(
    box: SandboxHandle, receiver: tuple[str, Received]
) -> None:
    url, received = receiver
    box.configure(event_delay_ms=10, sms_failure_rate=1.0)
    callback = f"{url}/webhooks/twilio/status?delivery_id=7"
    answer = httpx.post(
        f"{box.url}/2010-04-01/Accounts/{TWILIO_SANDBOX_SID}/Messages.json",
        data={"To": "+4915112345678", "From": "+15005550006", "Body": "Sorry", "StatusCallback": callback},
        auth=(TWILIO_SANDBOX_SID, TWILIO_SANDBOX_TOKEN),
        timeout=10,
    )
    assert answer.status_code == 201
    posts = received.wait(2)
    statuses = []
    for path, headers, raw in posts:
        params = dict(parse_qsl(raw.decode(), keep_blank_values=True))
        assert path == "/webhooks/twilio/status"
        assert verify_twilio(TWILIO_SANDBOX_TOKEN, callback, params, headers[TWILIO_SIGNATURE_HEADER.lower()])
        assert params["MessageSid"] == answer.json()["sid"]
        statuses.append((params["MessageStatus"], params.get("ErrorCode")))
    assert statuses == [("sent", None), ("failed", "30008")]


def test_rates_are_shares() -> None:
    with pytest.raises(ValidationError, match="at most 1"):
        SandboxConfig(sms_failure_rate=0.7, sms_undelivered_rate=0.5)
