"""Bounds on what a request may make the web app read: body sizes per route, and JSON nesting.

**Body sizes.** :class:`BodyLimit` is a pure ASGI middleware that reads every request body *before*
the route runs, and refuses with **413** a body over its route's limit:

* a ``Content-Length`` over the limit is refused at once, before a byte of the body is read (and
  before the server sends ``100 Continue``);
* a body without one (chunked) is counted as it streams and cut off at the limit: no more of it is
  read than the limit and one chunk.

Only a body within its limit reaches the route, replayed as one message. Starlette's own
``RequestBodyLimitMiddleware`` is not enough here: it counts only what a route reads, and answers a
too-long ``Content-Length`` only when the route starts its response, after the route ran, so a route
that never reads its body (the unsubscribe POST) would still act on an oversized request.

The limits are per route (:data:`ROUTE_LIMITS`, everything else :data:`DEFAULT_MAX_BYTES`):

* SendGrid posts its Event Webhook batches "within approximately 30 seconds or when the batch size
  reaches 768 kilobytes"; :data:`SENDGRID_EVENTS_MAX_BYTES` leaves a wide margin above that, so no
  genuine batch is refused (a refused batch is retried for 24 hours, then lost);
* a Twilio status callback is a form of about fifteen short parameters (well under 1 KB), an incoming
  message one of some twenty with a body of at most 1600 characters;
* an RFC 8058 one-click POST is ``List-Unsubscribe=One-Click``, form-encoded or multipart;
* a subscription form carries an address, a language, a token and a checkbox per component (a
  catalogue lists at most 500, of ids up to 63 characters);
* a survey answer is eight short fields and a text of at most 2000 characters: up to 4 bytes each in
  UTF-8, and percent-encoding triples every byte (``%E2%80%A6``), so 24 KB at worst, and a margin;
* every other route is read with a GET and has no use for a body.

**JSON nesting.** :func:`load_json` refuses a document nested deeper than :data:`MAX_JSON_DEPTH`
before :func:`json.loads` sees it, by a linear scan of the raw bytes (strings cut out, and the brackets
left over matched against a possessive pattern, all in C). That is chosen over catching
:class:`RecursionError`: the parser only runs out of stack at about a thousand levels, after
allocating all of them, and whatever walks the parsed value afterwards (the ledger digests events
with :func:`json.dumps`) could run out again; SendGrid's events are three levels deep.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clarion.errors import InputError, Problem
from clarion.files.boundedjson import nested_deeper_than

SENDGRID_EVENTS_MAX_BYTES = 4 * 1024 * 1024
"""SendGrid Event Webhook batches: SendGrid posts one when it reaches 768 KB; five times that."""
TWILIO_STATUS_MAX_BYTES = 32 * 1024
"""Twilio status callbacks: a form of some fifteen short parameters."""
UNSUBSCRIBE_MAX_BYTES = 16 * 1024
"""RFC 8058 one-click posts: ``List-Unsubscribe=One-Click``, form-encoded or multipart."""
TWILIO_INBOUND_MAX_BYTES = 32 * 1024
"""Twilio incoming messages: some twenty parameters, a body of at most 1600 characters."""
SUBSCRIBE_FORM_MAX_BYTES = 48 * 1024
"""Subscription forms: a few fields and up to 500 component checkboxes (``components=<id>&``, ~75 bytes)."""
SURVEY_FORM_MAX_BYTES = 32 * 1024
"""Survey answers: 2000 characters × 4 bytes × 3 for percent-encoding (24 KB), and a few short fields."""
DEFAULT_MAX_BYTES = 16 * 1024
"""Every other route: pages and feeds are read with GET."""

ROUTE_LIMITS: tuple[tuple[str, int], ...] = (
    ("/webhooks/sendgrid/events", SENDGRID_EVENTS_MAX_BYTES),
    ("/webhooks/twilio/status", TWILIO_STATUS_MAX_BYTES),
    ("/webhooks/twilio/inbound", TWILIO_INBOUND_MAX_BYTES),
    ("/unsubscribe/", UNSUBSCRIBE_MAX_BYTES),
    ("/subscribe", SUBSCRIBE_FORM_MAX_BYTES),
    ("/subscribe/", SUBSCRIBE_FORM_MAX_BYTES),
    ("/subscriptions/", SUBSCRIBE_FORM_MAX_BYTES),
    ("/survey/", SURVEY_FORM_MAX_BYTES),
)
"""Route paths and their body limits; a path ending in ``/`` covers every path under it."""

MAX_JSON_DEPTH = 16
"""Deepest nesting of arrays and objects a JSON body may have (SendGrid's events have three)."""

SOURCE = "request body"


def body_limit(path: str) -> int:
    """The body limit of the route at ``path`` (the path under the app's root path)."""
    for route, limit in ROUTE_LIMITS:
        if path == route or (route.endswith("/") and path.startswith(route)):
            return limit
    return DEFAULT_MAX_BYTES


def _route_path(scope: Scope) -> str:
    path = str(scope.get("path", ""))
    root = str(scope.get("root_path", ""))
    return path[len(root) :] if root and path.startswith(root) else path


def _declared_length(scope: Scope) -> int | None:
    """The request's ``Content-Length``; None without one; -1 when it is not a number."""
    value = Headers(scope=scope).get("content-length")
    if value is None:
        return None
    value = value.strip()
    return int(value) if value.isascii() and value.isdigit() else -1


async def _answer(scope: Scope, receive: Receive, send: Send, status_code: int, message: str) -> None:
    # The rest of the body is never read: ask the server to close the connection instead of draining it.
    response = PlainTextResponse(message + "\n", status_code=status_code, headers={"Connection": "close"})
    await response(scope, receive, send)


def _too_large(limit: int) -> str:
    return f"request body too large: at most {limit} bytes here"


class BodyLimit:
    """Read each request body up to its route's limit before the route runs; 413 beyond it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(_route_path(scope))
        declared = _declared_length(scope)
        if declared == -1:
            await _answer(scope, receive, send, 400, "Content-Length is not a number")
            return
        if declared is not None and declared > limit:
            await _answer(scope, receive, send, 413, _too_large(limit))
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away: there is no one to answer
            chunk: bytes = message.get("body", b"")
            if len(body) + len(chunk) > limit:
                await _answer(scope, receive, send, 413, _too_large(limit))
                return
            body += chunk
            more = bool(message.get("more_body", False))
        await self.app(scope, _replay(bytes(body), receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the whole body first, then whatever the server says next."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replayed


# ── JSON ──────────────────────────────────────────────────────────────────────────────────────────


def load_json(raw: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse a UTF-8 JSON body nested at most ``max_depth`` deep; :class:`InputError` otherwise."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError([Problem(SOURCE, None, "", f"not UTF-8 (byte {exc.start + 1})")]) from None
    if nested_deeper_than(raw, max_depth):
        message = f"not JSON, or nested deeper than {max_depth} levels"
        raise InputError([Problem(SOURCE, None, "", message)])
    try:
        return json.loads(text)  # bounded: checked above
    except ValueError as exc:  # JSONDecodeError, and integers too long to convert
        line = exc.lineno if isinstance(exc, json.JSONDecodeError) else None
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "a number is too long"
        raise InputError([Problem(SOURCE, line, "", f"not JSON: {reason}")]) from None
