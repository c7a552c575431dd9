"""Unsubscribe links and the other routes of the web app: forged, expired, garbled and legacy tokens,
tokens of another purpose, path traversal, unknown routes and methods, oversized query values and
bodies. The right 4xx, never a 500, and nobody unsubscribed.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from clarion.models import utcnow
from tests.security.conftest import World
from tests.security.web_cases import (
    EVENT,
    FORM,
    JSON,
    SENDGRID,
    TWILIO,
    Make,
    Request,
    answers_without_change,
    events,
    get,
    http,
    legacy_token,
    post,
    signed_link,
    token,
    unsubscribe,
)

UNSUBSCRIBE_CASES = [
    http("unsubscribe-page-never-unsubscribes", "sandbox", unsubscribe(token, "GET"), 200),
    http(
        "unsubscribe-forged",
        "sandbox",
        unsubscribe(lambda: token(key=b"another-key-of-32-characters-xyz!")),
        400,
    ),
    http(
        "unsubscribe-forged-page",
        "sandbox",
        unsubscribe(lambda: token(key=b"another-key-of-32-characters-xyz!"), "GET"),
        400,
    ),
    http("unsubscribe-garbled", "sandbox", unsubscribe(lambda: "abc"), 400),
    http("unsubscribe-legacy-empty-key", "sandbox", unsubscribe(legacy_token), 400),
    http(
        "unsubscribe-expired", "sandbox", unsubscribe(lambda: token(now=utcnow() - timedelta(days=91))), 410
    ),
    http(
        "unsubscribe-expired-page",
        "sandbox",
        unsubscribe(lambda: token(now=utcnow() - timedelta(days=91)), "GET"),
        410,
    ),
    http("unsubscribe-unknown-recipient", "sandbox", unsubscribe(lambda: token(recipient_id=999_999)), 404),
    http(
        "unsubscribe-another-purpose",
        "sandbox",
        unsubscribe(lambda: signed_link("survey", "1", "email")),
        400,
    ),
    http(
        "unsubscribe-no-such-channel",
        "sandbox",
        unsubscribe(lambda: signed_link("unsubscribe", "1", "fax")),
        400,
    ),
    http(
        "unsubscribe-recipient-not-a-number",
        "sandbox",
        unsubscribe(lambda: signed_link("unsubscribe", "abc", "email")),
        400,
    ),
    http("unsubscribe-truncated", "sandbox", unsubscribe(lambda: token()[:-1]), 400),
    http("unsubscribe-10-kb-token", "sandbox", unsubscribe(lambda: "v2." + "a" * 10_000), 400),
    http("unsubscribe-escape-in-token", "sandbox", unsubscribe(lambda: "v2.%1B%5B2J.email.1.x"), 400),
    http(
        "unsubscribe-over-16-kib",
        "sandbox",
        lambda: Request(
            "POST",
            f"/unsubscribe/{token()}",
            b"List-Unsubscribe=One-Click&" + b"x" * (20 << 10),
            {"Content-Type": FORM},
        ),
        413,
    ),
    http(
        "unsubscribe-content-length-not-a-number",
        "sandbox",
        lambda: Request(
            "POST",
            f"/unsubscribe/{token()}",
            b"List-Unsubscribe=One-Click",
            {"Content-Type": FORM, "Content-Length": "lots"},
        ),
        400,
    ),
]

ROUTES = [
    http("unknown-route", "sandbox", get("/admin"), 404),
    http("traversal", "sandbox", get("/../../etc/passwd"), 404),
    http("encoded-traversal", "sandbox", get("/%2e%2e/%2e%2e/etc/passwd"), 404),
    http("traversal-after-a-route", "sandbox", get("/banner.js/..%2F..%2Fetc%2Fpasswd"), 404),
    http("unsubscribe-traversal", "sandbox", get("/unsubscribe/..%2F..%2Fetc%2Fpasswd"), 404),
    http("docs-are-off", "sandbox", get("/docs"), 404),
    http("openapi-is-off", "sandbox", get("/openapi.json"), 404),
    http("banner-audience-300", "sandbox", get("/banner.json?audience=" + "x" * 300), 422),
    http("banner-locale-50", "sandbox", get("/banner.json?locale=" + "x" * 50), 422),
    http("summary-locale-50", "sandbox", get("/api/v2/summary.json?locale=" + "x" * 50), 422),
    http("delete-the-banner", "sandbox", lambda: Request("DELETE", "/banner.json"), 405),
    http("post-the-banner", "sandbox", post("/banner.json", b"{}", JSON), 405),
    http("put-sendgrid-events", "sandbox", lambda: Request("PUT", SENDGRID, events(EVENT), JSON), 405),
    http("get-twilio-status", "sandbox", get(TWILIO), 405),
    http("post-healthz", "sandbox", post("/healthz", b""), 405),
    http("get-with-a-20-kib-body", "sandbox", get("/banner.json", b"x" * (20 << 10)), 413),
]


@pytest.mark.parametrize(("setup", "make", "status"), UNSUBSCRIBE_CASES + ROUTES)
def test_bad_requests_to_the_web_app_get_the_right_4xx_and_change_nothing(
    world: World, setup: str, make: Make, status: int
) -> None:
    answers_without_change(world, setup, make, status)
