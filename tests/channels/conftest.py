"""Channel test helpers: an OutboundMessage factory and validators for the official request schemas.

The schemas are the copies the provider sandbox uses (``channels/sandbox/schemas``). Two documented
adjustments (providers.md §0, §1.1, §2.1): SendGrid's top-level ``custom_args`` is typed ``string``
upstream although the API takes an object, and Twilio's form values are all strings on the wire, so
they are coerced to the schema's types before validating.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from channels.sandbox import SandboxHandle, running_sandbox
from clarion.kinds import Channel
from clarion.outbox.port import Content, OutboundMessage
from tests.helpers import ROOT

SCHEMAS = ROOT / "channels" / "sandbox" / "schemas"
SENDGRID = "sendgrid_mail_send_request.schema.json"
TWILIO = "twilio_create_message_request.schema.json"
CREATED_AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
CONTENT = {
    Channel.EMAIL: Content(
        rendition_id=1,
        locale="en",
        text="Payments are degraded. Next update at 10:30 UTC.",
        subject="[INC-0042] Payments degraded",
        html="<p>Payments are degraded. Next update at 10:30 UTC.</p>",
    ),
    Channel.SMS: Content(
        rendition_id=2, locale="en", text="INC-0042: payments degraded. Next update 10:30 UTC."
    ),
}
ADDRESS = {Channel.EMAIL: "user{n}@example.com", Channel.SMS: "+1415555{n:04d}"}

MakeMessage = Callable[..., OutboundMessage]


def _make_message(channel: Channel, n: int = 1, **changes: Any) -> OutboundMessage:
    """Delivery ``n`` of incident INC-0042 on ``channel``; ``changes`` override any field."""
    message = OutboundMessage(
        delivery_id=n,
        idempotency_key=f"INC-0042/u1/{channel}/{n}",
        channel=channel,
        content=CONTENT[channel],
        incident_reference="INC-0042",
        severity="sev1",
        status="investigating",
        created_at=CREATED_AT,
        address=ADDRESS[channel].format(n=n),
        recipient_id=n,
        unsubscribe_url=f"https://status.example.com/unsubscribe/tok{n}"
        if channel is Channel.EMAIL
        else None,
    )
    return replace(message, **changes)


@pytest.fixture
def make_message() -> MakeMessage:
    """``make_message(Channel.EMAIL, 7, mandatory_reason="life-safety")``."""
    return _make_message


@cache
def _validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    if name.startswith("sendgrid_mail_send"):
        schema["properties"]["custom_args"] = {"type": "object", "additionalProperties": {"type": "string"}}
    return Draft202012Validator(schema, format_checker=FormatChecker())


def assert_valid_sendgrid(request: httpx.Request) -> dict[str, Any]:
    """The JSON body of a ``/v3/mail/send`` request, after checking it against the official schema."""
    assert request.headers["content-type"] == "application/json"
    body: dict[str, Any] = json.loads(request.content)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in _validator(SENDGRID).iter_errors(body)]
    assert errors == []
    return body


def assert_valid_twilio(request: httpx.Request) -> dict[str, str]:
    """The form of a ``Messages.json`` create request, after checking it against the official schema
    (values coerced to the schema's types) and the rules the schema cannot express."""
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    raw = parse_qs(request.content.decode(), keep_blank_values=True, strict_parsing=True)
    properties = _validator(TWILIO).schema["properties"]
    coerced: dict[str, Any] = {}
    for key, values in raw.items():
        kind = properties.get(key, {}).get("type")
        if kind == "array":
            coerced[key] = values
            continue
        assert len(values) == 1, f"{key} repeated"
        value = values[0]
        if kind == "integer":
            coerced[key] = int(value)
        elif kind == "boolean":
            assert value in ("true", "false"), f"{key}={value!r}"
            coerced[key] = value == "true"
        else:
            coerced[key] = value
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in _validator(TWILIO).iter_errors(coerced)]
    assert errors == []
    assert set(raw) <= set(properties), f"unknown fields {set(raw) - set(properties)}"
    assert "From" in raw or "MessagingServiceSid" in raw
    assert {"Body", "MediaUrl", "ContentSid"} & set(raw)
    return {key: values[0] for key, values in raw.items()}


# ── one provider sandbox for the channel tests ──────────────────────────────────────────────────────


@pytest.fixture(scope="session")
def server() -> Iterator[SandboxHandle]:
    """The provider sandbox over loopback HTTP, started once for the channel tests."""
    with running_sandbox() as handle:
        yield handle


@pytest.fixture
def box(server: SandboxHandle) -> SandboxHandle:
    """The shared sandbox with its default config and nothing recorded."""
    server.configure()
    server.reset()
    return server
