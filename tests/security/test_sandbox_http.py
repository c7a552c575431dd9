"""Garbage to the provider sandbox: its control endpoints and its provider APIs answer 4xx, never 500,
accept nothing into the inbox, and keep their configuration.

The sandbox is the session's (``running_sandbox``, over real loopback HTTP), the one every other case
points ``CLARION_SANDBOX_URL`` at; each case runs with the default configuration.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from channels.sandbox import (
    BLUESKY_SANDBOX_HANDLE,
    MASTODON_SANDBOX_TOKEN,
    TWILIO_SANDBOX_SID,
    TWILIO_SANDBOX_TOKEN,
)
from clarion.files.text import first_unsafe
from tests.security.cases import case
from tests.security.conftest import World

MESSAGES = f"/2010-04-01/Accounts/{TWILIO_SANDBOX_SID}/Messages.json"
SENDGRID = {"Authorization": "Bearer SG.test-key", "Content-Type": "application/json"}
JSON = {"Content-Type": "application/json"}
DEEP = b"[" * 100_000 + b"]" * 100_000
MAIL = {
    "from": {"email": "incidents@example.com"},
    "subject": "Payments outage",
    "content": [{"type": "text/plain", "value": "We are investigating."}],
    "personalizations": [{"to": [{"email": "ada@example.com"}]}],
}
UNSAFE_CONFIG = "POST /_sandbox/config accepts "
DEEP_500 = "the sandbox's {} answers a 100 000-deep JSON array with a 500 (RecursionError in json.loads)"


def req(
    id: str,
    method: str,
    path: str,
    status: int | tuple[int, ...],
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    fails: str | None = None,
) -> object:
    content = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    sent = {
        "headers": headers if headers is not None else (JSON if content is not None else {}),
        "auth": auth,
    }
    return case(
        id, method, path, content, sent, status if isinstance(status, tuple) else (status,), fails=fails
    )


def config(id: str, body: Any, *, fails: str | None = None) -> object:
    return req(id, "POST", "/_sandbox/config", 422, body, fails=fails)


CONTROL = [
    config("config-not-json", b"fault_rate=1"),
    config("config-a-list", []),
    config("config-fault-rate-2", {"fault_rate": 2}),
    config("config-fault-rate-nan", b'{"fault_rate": NaN}'),
    config("config-unknown-key", {"explode": True}),
    config("config-negative-latency", {"latency_ms": -1}),
    config("config-no-fault-kinds", {"fault_kinds": []}),
    config("config-unknown-fault-kind", {"fault_kinds": ["explode"]}),
    config("config-rate-of-an-unknown-provider", {"rate_limit": {"fax": 1}}),
    config("config-account-sid-garbage", {"twilio_account_sid": "garbage"}),
    config("config-seed-text", {"seed": "seven"}),
    config(
        "config-rate-0",
        {"rate_limit": {"sendgrid": 0}},
    ),
    config(
        "config-rate-negative",
        {"rate_limit": {"twilio": -1}},
    ),
    config(
        "config-latency-1e308",
        {"latency_ms": 1e308},
    ),
    config(
        "config-hang-1e308",
        {"hang_seconds": 1e308},
    ),
    config(
        "config-deep-json",
        DEEP,
    ),
    req("stop-without-a-number", "POST", "/_sandbox/twilio/stop", 422, {}),
    req("stop-number-not-text", "POST", "/_sandbox/twilio/stop", 422, {"number": 5}),
    req("stop-not-json", "POST", "/_sandbox/twilio/stop", 422, b"number=+4915112345678"),
    req(
        "stop-deep-json",
        "POST",
        "/_sandbox/twilio/stop",
        422,
        DEEP,
    ),
    req(
        "stop-not-a-phone-number",
        "POST",
        "/_sandbox/twilio/stop",
        422,
        {"number": "x" * 1000},
    ),
    req(
        "start-garbage",
        "POST",
        "/_sandbox/twilio/start",
        422,
        b"garbage",
    ),
    req("inbox-unknown-channel", "GET", "/_sandbox/inbox?channel=fax", 422),
    req("inbox-escape-channel", "GET", "/_sandbox/inbox?channel=%1B%5B2J", 422),
    req("inbox-limit-text", "GET", "/_sandbox/inbox?limit=many", 422),
    req("inbox-offset-text", "GET", "/_sandbox/inbox?offset=last", 422),
    req("unknown-control-route", "GET", "/_sandbox/secrets", 404),
    req("delete-the-config", "DELETE", "/_sandbox/config", 405),
    req("get-reset", "GET", "/_sandbox/reset", 405),
]

PROVIDERS = [
    req("sendgrid-without-auth", "POST", "/v3/mail/send", 401, MAIL),
    req(
        "sendgrid-not-a-key",
        "POST",
        "/v3/mail/send",
        (401, 403),
        MAIL,
        headers={**JSON, "Authorization": "Bearer nope"},
    ),
    req("sendgrid-not-json", "POST", "/v3/mail/send", 400, b"to=ada", headers=SENDGRID),
    req(
        "sendgrid-deep-json",
        "POST",
        "/v3/mail/send",
        400,
        DEEP,
        headers=SENDGRID,
    ),
    req(
        "mastodon-deep-json",
        "POST",
        "/api/v1/statuses",
        (400, 422),
        DEEP,
        headers={**JSON, "Authorization": f"Bearer {MASTODON_SANDBOX_TOKEN}"},
    ),
    req(
        "bluesky-deep-json",
        "POST",
        "/xrpc/com.atproto.server.createSession",
        400,
        DEEP,
    ),
    req(
        "sendgrid-no-recipients",
        "POST",
        "/v3/mail/send",
        400,
        {**MAIL, "personalizations": []},
        headers=SENDGRID,
    ),
    req(
        "twilio-without-auth",
        "POST",
        MESSAGES,
        401,
        b"To=%2B4915112345678&Body=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ),
    req(
        "twilio-another-account",
        "POST",
        "/2010-04-01/Accounts/AC" + "9" * 32 + "/Messages.json",
        (401, 403, 404),
        b"To=%2B4915112345678&Body=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=(TWILIO_SANDBOX_SID, TWILIO_SANDBOX_TOKEN),
    ),
    req(
        "twilio-without-to",
        "POST",
        MESSAGES,
        400,
        b"Body=x&From=%2B15005550006",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=(TWILIO_SANDBOX_SID, TWILIO_SANDBOX_TOKEN),
    ),
    req("mastodon-without-token", "POST", "/api/v1/statuses", 401, {"status": "x"}),
    req(
        "mastodon-empty-status",
        "POST",
        "/api/v1/statuses",
        422,
        {"status": ""},
        headers={**JSON, "Authorization": f"Bearer {MASTODON_SANDBOX_TOKEN}"},
    ),
    req(
        "bluesky-wrong-password",
        "POST",
        "/xrpc/com.atproto.server.createSession",
        401,
        {"identifier": BLUESKY_SANDBOX_HANDLE, "password": "guess"},
    ),
    req(
        "bluesky-record-without-session",
        "POST",
        "/xrpc/com.atproto.repo.createRecord",
        (400, 401),
        {"repo": BLUESKY_SANDBOX_HANDLE, "collection": "app.bsky.feed.post", "record": {"text": "x"}},
    ),
    req("unknown-provider-route", "POST", "/v2/everything", 404, {}),
]


@pytest.mark.parametrize(("method", "path", "content", "sent", "status"), CONTROL + PROVIDERS)
def test_garbage_to_the_provider_sandbox_is_refused_and_changes_nothing(
    world: World, method: str, path: str, content: bytes | None, sent: dict[str, Any], status: tuple[int, ...]
) -> None:
    box = world.sandbox
    before = world.snapshot(), box.config

    response = httpx.request(
        method, box.url + path, content=content, headers=sent["headers"], auth=sent["auth"], timeout=10
    )

    shown = f"HTTP {response.status_code}: {response.text[:300]}"
    assert response.status_code in status, shown
    assert first_unsafe(response.text) is None, shown
    assert world.snapshot().changes_from(before[0], requests_counted=True) == []
    assert box.config == before[1], f"the sandbox's configuration changed: {box.config}"
