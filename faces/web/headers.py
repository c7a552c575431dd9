"""Security headers on every response of the web app, set in one place.

:class:`SecurityHeaders` is a pure ASGI middleware that adds to each response the headers it lacks:

* ``X-Content-Type-Options: nosniff`` (a JSON feed is never run as a script, a script never as a page);
* ``X-Frame-Options: DENY`` and a ``Content-Security-Policy`` with ``frame-ancestors 'none'``: no
  page of the app may be framed (clickjacking an unsubscribe button, say);
* ``Referrer-Policy: no-referrer``: links carry tokens in their paths.

A header a route set itself is kept. A route's own ``Content-Security-Policy`` is kept as it is and,
when it says nothing of framing, gets ``frame-ancestors 'none'`` added (a directive more, never a
weaker policy). Without one, HTML gets :data:`PAGE_POLICY` (the app's own ``/static/`` stylesheet and
script, same-origin form posts, nothing inline), and everything else (JSON, ``banner.js``, text,
errors) :data:`RESOURCE_POLICY`.

Nothing here gets in the way of embedding: a policy on a script's response does not apply to the page
that loads it with ``<script src>`` (only to a document or worker made from it), and the public
feeds' CORS and ``Cross-Origin-Resource-Policy`` headers are theirs (:mod:`faces.web.feeds`) and are
left alone.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = b"content-security-policy"
FRAME_ANCESTORS = "frame-ancestors 'none'"
PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; "
    f"base-uri 'none'; {FRAME_ANCESTORS}"
)
"""A page's policy when its route sets none: the app's own stylesheet, script and images, and forms
posting back; nothing inline (no ``'unsafe-inline'``: an injected ``<script>`` or ``style=`` is dead)."""
RESOURCE_POLICY = f"default-src 'none'; {FRAME_ANCESTORS}"
"""The policy of anything that is not a page: JSON, scripts, text and error bodies load nothing."""
DEFAULT_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)


def _frames_covered(policy: bytes) -> bool:
    directives = (d.strip().split(None, 1) for d in policy.decode("latin-1").split(";"))
    return any(parts and parts[0].lower() == "frame-ancestors" for parts in directives)


def _frames_allowed(policy: bytes) -> bool:
    """Whether a route's own policy lets some origin frame it (``/embed/banner`` for the configured
    origins): then ``X-Frame-Options: DENY`` would contradict it, and is not added."""
    for directive in policy.decode("latin-1").split(";"):
        parts = directive.strip().split()
        if parts and parts[0].lower() == "frame-ancestors":
            return parts[1:] != ["'none'"]
    return False


def secured(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` (raw, as in an ASGI response start) with the security headers they lack."""
    names = {name.lower() for name, _ in headers}
    out = [
        (name, value + b"; " + FRAME_ANCESTORS.encode())
        if name.lower() == CSP and not _frames_covered(value)
        else (name, value)
        for name, value in headers
    ]
    framable = any(name.lower() == CSP and _frames_allowed(value) for name, value in headers)
    out += [
        (name, value)
        for name, value in DEFAULT_HEADERS
        if name not in names and not (framable and name == b"x-frame-options")
    ]
    if CSP not in names:
        content_type = next((v for n, v in headers if n.lower() == b"content-type"), b"")
        is_page = content_type.split(b";")[0].strip().lower() == b"text/html"
        out.append((CSP, (PAGE_POLICY if is_page else RESOURCE_POLICY).encode()))
    return out


class SecurityHeaders:
    """Add the security headers a response lacks (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": secured([(n, v) for n, v in message.get("headers", [])])}
            await send(message)

        await self.app(scope, receive, send_secured)
