"""Provider webhooks (SendGrid's Event Webhook, Twilio's status callbacks): without or with wrong
signatures, bodies over the limits with and without Content-Length, 100 000-deep JSON, non-JSON and
non-array bodies, events with 1 MB ids, forms with too many fields or the wrong content type. The right
4xx (or the documented 503), never a 500, and the delivery ledger unchanged.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from channels.signatures import twilio_signature
from tests.security.conftest import World
from tests.security.web_cases import (
    DEEP,
    EVENT,
    FORM,
    JSON,
    PUBLIC,
    SENDGRID,
    TWILIO,
    TWILIO_TOKEN,
    Make,
    Request,
    answers_without_change,
    chunked,
    events,
    http,
    post,
    sendgrid_signed,
    signed_events,
    status_form,
    twilio,
)

SENDGRID_CASES = [
    http("sendgrid-unsigned", "signed", post(SENDGRID, events(EVENT), JSON), 403),
    http(
        "sendgrid-signed-by-another-key",
        "signed",
        sendgrid_signed(events(EVENT), key=ec.generate_private_key(ec.SECP256R1())),
        403,
    ),
    http(
        "sendgrid-signature-garbled",
        "signed",
        post(
            SENDGRID,
            events(EVENT),
            {
                **JSON,
                "X-Twilio-Email-Event-Webhook-Signature": "%%%not base64%%%",
                "X-Twilio-Email-Event-Webhook-Timestamp": "1772000100",
            },
        ),
        403,
    ),
    http(
        "sendgrid-timestamp-missing",
        "signed",
        post(
            SENDGRID,
            events(EVENT),
            {k: v for k, v in signed_events(events(EVENT)).items() if "Timestamp" not in k},
        ),
        403,
    ),
    http(
        "sendgrid-body-tampered",
        "signed",
        lambda: Request("POST", SENDGRID, events({**EVENT, "event": "bounce"}), signed_events(events(EVENT))),
        403,
    ),
    http("sendgrid-deep-unsigned", "signed", post(SENDGRID, DEEP, JSON), 403),
    http("sendgrid-deep-signed", "signed", sendgrid_signed(DEEP), 400),
    http("sendgrid-deep-sandbox", "sandbox", post(SENDGRID, DEEP, JSON), 400),
    http("sendgrid-not-json", "sandbox", post(SENDGRID, b"not json", JSON), 400),
    http("sendgrid-signed-not-json", "signed", sendgrid_signed(b"<xml/>"), 400),
    http("sendgrid-an-object", "sandbox", post(SENDGRID, json.dumps(EVENT).encode(), JSON), 400),
    http("sendgrid-not-utf-8", "sandbox", post(SENDGRID, b'[{"event": "\xff"}]', JSON), 400),
    http("sendgrid-5000-digit-number", "sandbox", post(SENDGRID, b"[" + b"9" * 5000 + b"]", JSON), 400),
    http("sendgrid-over-4-mib", "sandbox", post(SENDGRID, b"[" + b" " * (5 << 20) + b"]", JSON), 413),
    http("sendgrid-over-4-mib-chunked", "sandbox", chunked(5 << 20), 413),
    http(
        "sendgrid-content-length-not-a-number",
        "sandbox",
        post(SENDGRID, events(EVENT), {**JSON, "Content-Length": "12abc"}),
        400,
    ),
    http("sendgrid-without-verification-key", "unverifiable", post(SENDGRID, events(EVENT), JSON), 503),
    http("sendgrid-unusable-verification-key", "unusable-key", sendgrid_signed(events(EVENT)), 503),
    http(
        "sendgrid-unknown-delivery",
        "sandbox",
        post(SENDGRID, events({**EVENT, "delivery_id": "999999"}), JSON),
        200,
    ),
    http(
        "sendgrid-1-mib-event-id",
        "sandbox",
        post(SENDGRID, events({**EVENT, "sg_event_id": "x" * (1 << 20)}), JSON),
        200,
    ),
    http(
        "sendgrid-40-digit-delivery",
        "sandbox",
        post(SENDGRID, events({**EVENT, "delivery_id": "9" * 40}), JSON),
        200,
    ),
    http(
        "sendgrid-odd-types",
        "sandbox",
        post(
            SENDGRID,
            events(
                {"event": ["delivered"], "sg_event_id": {"a": 1}, "delivery_id": [1], "timestamp": 1e308},
                1,
                "x",
                None,
                [],
                {"event": None},
            ),
            JSON,
        ),
        200,
    ),
    http(
        "sendgrid-escape-in-reason",
        "sandbox",
        post(
            SENDGRID,
            events(
                {**EVENT, "event": "bounce", "delivery_id": "999999", "reason": "\x1b[2J\x1b]0;pwned\x07"}
            ),
            JSON,
        ),
        200,
    ),
]

TWILIO_CASES = [
    http("twilio-unsigned", "sandbox", twilio(status_form(), signature=""), 403),
    http("twilio-signed-with-another-token", "sandbox", twilio(status_form(), token="guess"), 403),
    http(
        "twilio-signed-for-other-params",
        "signed",
        lambda: Request(
            "POST",
            TWILIO,
            urlencode(status_form("failed")).encode(),
            {
                "Content-Type": FORM,
                "X-Twilio-Signature": twilio_signature(TWILIO_TOKEN, PUBLIC + TWILIO, status_form()),
            },
        ),
        403,
    ),
    http("twilio-json", "sandbox", post(TWILIO, json.dumps(status_form()).encode(), JSON), 415),
    http("twilio-no-content-type", "sandbox", post(TWILIO, urlencode(status_form()).encode()), 415),
    http(
        "twilio-multipart",
        "sandbox",
        twilio(status_form(), content_type="multipart/form-data; boundary=x"),
        415,
    ),
    http("twilio-65-fields", "sandbox", twilio({f"F{n}": "x" for n in range(65)}), 400),
    http("twilio-not-utf-8", "sandbox", post(TWILIO, b"MessageSid=\xff\xfe", {"Content-Type": FORM}), 400),
    http("twilio-over-32-kib", "sandbox", twilio(status_form(Body="x" * (40 << 10))), 413),
    http(
        "twilio-content-length-lies",
        "sandbox",
        post(TWILIO, b"MessageSid=SM1", {"Content-Type": FORM, "Content-Length": str(10**12)}),
        413,
    ),
    http("twilio-account-without-token", "half-twilio", twilio(status_form()), 503),
    # A signed callback for a SID not recorded yet is kept (clarion/outbox/held.py): tests/faces/web.
    http("twilio-300-character-sid", "sandbox", twilio(status_form(sid="SM" + "a" * 298)), 204),
    http("twilio-status-bogus", "sandbox", twilio(status_form(status="exploded")), 204),
]


@pytest.mark.parametrize(("setup", "make", "status"), SENDGRID_CASES + TWILIO_CASES)
def test_bad_webhook_posts_get_the_right_4xx_and_change_nothing(
    world: World, setup: str, make: Make, status: int
) -> None:
    answers_without_change(world, setup, make, status)
