"""Answers in each provider's own shape: JSON bodies, error bodies, rate-limit headers.

Error bodies (as each provider's documentation shows them):

* SendGrid ``{"errors": [{"message", "field", "help"}]}``; 429 adds ``X-RateLimit-*`` (reset in epoch s).
* Twilio ``{"code", "message", "more_info", "status"}`` (429 is code 20429).
* Mastodon ``{"error": "..."}``; every answer carries ``X-RateLimit-*`` with an ISO-8601 reset.
* Bluesky ``{"error": "<Name>", "message": "..."}``; every answer carries ``RateLimit-*`` (epoch s)
  and ``RateLimit-Policy``.
* Every other double (Slack, Teams, the signed webhook, another package's): Slack's Web API shape
  ``{"ok": false, "error": "ratelimited"}``, else a short text; a 429 carries ``Retry-After``.

Without a configured limit, Mastodon and Bluesky headers advertise the providers' usual windows
(300 per 5 min; 3000 per 5 min) and never run down: the sandbox does not enforce them.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any, Final

from starlette.responses import Response

from channels.sandbox.config import PROVIDERS, Provider
from channels.sandbox.state import RateWindow

_DEFAULT_WINDOW: Final[dict[str, tuple[int, int]]] = {"mastodon": (300, 300), "bluesky": (3000, 300)}


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(content, status_code=status, headers=headers, media_type="application/json")


def sendgrid_errors(status: int, errors: list[tuple[str, str | None]]) -> Response:
    """``errors``: (message, field) pairs, every problem found."""
    body = {"errors": [{"message": m, "field": f, "help": None} for m, f in errors]}
    return json_response(status, body)


def twilio_error(status: int, code: int, message: str) -> Response:
    return json_response(
        status,
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )


def mastodon_error(status: int, message: str) -> Response:
    return json_response(status, {"error": message})


def xrpc_error(status: int, name: str, message: str) -> Response:
    return json_response(status, {"error": name, "message": message})


def rate_headers(provider: Provider, window: RateWindow, now: float) -> dict[str, str]:
    """The headers this provider puts on every answer (SendGrid and Twilio: only on a 429)."""
    limit, remaining, reset, seconds = window.limit, window.remaining, window.reset, window.window_seconds
    if limit is None:
        if provider not in _DEFAULT_WINDOW:
            return {}
        limit, seconds = _DEFAULT_WINDOW[provider]
        remaining, reset = limit, now + seconds
    if provider == "mastodon":
        iso = datetime.fromtimestamp(reset, UTC).isoformat(timespec="microseconds")
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": iso.replace("+00:00", "Z"),
        }
    if provider == "bluesky":
        return {
            "RateLimit-Limit": str(limit),
            "RateLimit-Remaining": str(remaining),
            "RateLimit-Reset": str(int(reset) + (reset % 1 > 0)),
            "RateLimit-Policy": f"{limit};w={seconds}",
        }
    if provider == "sendgrid" and not window.allowed:
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(int(reset) + (reset % 1 > 0)),
        }
    if provider not in PROVIDERS and not window.allowed:  # Slack, Teams, webhooks: Retry-After
        return {"Retry-After": str(max(1, math.ceil(reset - now)))}
    return {}


def rate_limited(provider: Provider, window: RateWindow, now: float) -> Response:
    """The provider's 429."""
    if provider not in PROVIDERS:
        response = _plain(provider, 429, "ratelimited", "Too Many Requests")
    elif provider == "sendgrid":
        response = sendgrid_errors(429, [("too many requests", None)])
    elif provider == "twilio":
        response = twilio_error(429, 20429, "Too Many Requests")
    elif provider == "mastodon":
        response = mastodon_error(429, "Too many requests")
    else:
        response = xrpc_error(429, "RateLimitExceeded", "Rate Limit Exceeded")
    response.headers.update(rate_headers(provider, window, now))
    return response


_SERVER_ERRORS: Final[dict[int, tuple[str, int, str]]] = {
    # status: (message, Twilio code, XRPC error name)
    500: ("Internal Server Error", 20500, "InternalServerError"),
    503: ("Service Unavailable", 20503, "NotEnoughResources"),
    504: ("Gateway Timeout", 20504, "UpstreamTimeout"),
}


def server_error(provider: Provider, status: int) -> Response:
    """The provider's 500, 503 or 504."""
    message, code, name = _SERVER_ERRORS[status]
    if provider not in PROVIDERS:
        return _plain(provider, status, "internal_error" if status == 500 else "service_unavailable", message)
    if provider == "sendgrid":
        return sendgrid_errors(status, [(message.lower(), None)])
    if provider == "twilio":
        return twilio_error(status, code, message)
    if provider == "mastodon":
        return mastodon_error(status, message)
    return xrpc_error(status, name, message)


def _plain(provider: Provider, status: int, code: str, message: str) -> Response:
    """A failure of a double without a shape of its own here: Slack's Web API answers
    ``{"ok": false, "error": code}``; webhooks (Slack's incoming ones, Teams, a signed endpoint, a
    package's double) a short text."""
    if provider == "slack":
        return json_response(status, {"ok": False, "error": code})
    return Response(message, status_code=status, media_type="text/plain")
