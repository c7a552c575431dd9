"""The ASGI layer in front of the provider endpoints: counting, latency, rate limits and faults.

Every request to a provider path (never ``/_sandbox/*``) passes here in this order: counted, delayed
(``latency_ms`` ± ``latency_jitter_ms``), rate-limited (the provider's own 429), then maybe given a
fault (see :mod:`channels.sandbox.config` for what each kind does and whether the message is
recorded). Answers get a ``Server-Timing: sandbox;dur=<ms>`` header: the server's own time, latency
excluded, so a benchmark can tell the sandbox's share from the client's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping

from fastapi import APIRouter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from channels.sandbox.config import Provider
from channels.sandbox.responses import rate_headers, rate_limited, server_error
from channels.sandbox.state import RateWindow, SandboxState


class DroppedConnection(Exception):
    """Raised on purpose after a partial response: uvicorn closes the connection."""


class _QuietDrops(logging.Filter):
    """Keeps uvicorn from logging a traceback for every deliberate drop, and for every client that
    went away while its request was being read (a killed worker: no message, nothing to report)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from starlette.requests import ClientDisconnect

        quiet = (DroppedConnection, ClientDisconnect)
        return not (record.exc_info and isinstance(record.exc_info[1], quiet))


def silence_deliberate_drops() -> None:
    """Install the filter on uvicorn's error logger (once)."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDrops) for f in logger.filters):
        logger.addFilter(_QuietDrops())


def route_prefixes(router: APIRouter) -> set[str]:
    """The first path segment of every route of a double (``/v3/``, ``/xrpc/``, ``/slack/``)."""
    prefixes = set()
    for route in router.routes:
        segment = str(getattr(route, "path", "")).split("/")[1:2]
        if segment and segment[0]:
            prefixes.add(f"/{segment[0]}/")
    return prefixes


class FaultMiddleware:
    """Wraps the sandbox app; see the module docstring. ``prefixes`` maps the first path segment of
    each double's routes to its provider: every double, another package's too, is faulted alike."""

    def __init__(self, app: ASGIApp, state: SandboxState, prefixes: Mapping[str, Provider]) -> None:
        self.app = app
        self.state = state
        self.prefixes = dict(prefixes)

    def provider_of(self, path: str) -> Provider | None:
        segment = path.split("/")[1:2]
        return self.prefixes.get(f"/{segment[0]}/") if segment else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        provider = self.provider_of(scope["path"]) if scope["type"] == "http" else None
        if provider is None:
            await self.app(scope, receive, send)
            return
        state = self.state
        state.inbox.count_request(provider, lookup=scope["method"] == "GET")
        # The limiter counts a request when it arrives, as a provider's edge does (and as the peak
        # per second is counted): the latency after it is the provider's work and the way back.
        now = time.time()
        window = state.limiter.take(provider, state.config.rate_limit.get(provider), now)
        if delay := state.latency():
            await asyncio.sleep(delay)
        started = time.perf_counter()
        extra = rate_headers(provider, window, now)
        if not window.allowed:
            state.inbox.count_rejected(429)
            await rate_limited(provider, window, now)(scope, receive, self._timed(send, started, {}))
            return
        fault = state.fault_for(provider)
        if fault is None:
            await self.app(scope, receive, self._timed(send, started, extra, count_rejected=True))
            return
        if fault == "503":
            state.inbox.count_fault(fault)
            await server_error(provider, 503)(scope, receive, self._timed(send, started, extra))
        elif fault == "429":
            state.inbox.count_fault(fault)
            limit = state.config.rate_limit.get(provider, 1)
            refused = RateWindow(allowed=False, limit=limit, remaining=0, reset=now + 1.0)
            await rate_limited(provider, refused, now)(scope, receive, self._timed(send, started, {}))
        elif fault == "timeout":
            state.inbox.count_fault(fault)
            await self._hang(receive, state.config.hang_seconds)
            await server_error(provider, 504)(scope, receive, self._timed(send, started, extra))
        else:
            await self._after_accept(scope, receive, send, started, extra, provider, fault)

    async def _after_accept(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        started: float,
        extra: dict[str, str],
        provider: Provider,
        fault: str,
    ) -> None:
        """Process the request for real; if it was accepted, answer 500 or cut the connection."""
        messages: list[Message] = []

        async def capture(message: Message) -> None:
            messages.append(message)

        await self.app(scope, receive, capture)
        status = int(messages[0]["status"])
        timed = self._timed(send, started, extra, count_rejected=True)
        if status >= 400:  # refused anyway: nothing to be ambiguous about
            for message in messages:
                await timed(message)
            return
        self.state.inbox.count_fault(fault)
        if fault == "500_after_accept":
            await server_error(provider, 500)(scope, receive, self._timed(send, started, extra))
            return
        body = b"".join(m.get("body", b"") for m in messages[1:])
        headers = [(k, v) for k, v in messages[0].get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body) + 1).encode()))  # promise more than we send
        await timed({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
        raise DroppedConnection(f"{provider}: connection dropped on purpose after accepting")

    async def _hang(self, receive: Receive, seconds: float) -> None:
        """Wait ``seconds``, or until the client goes away, or until the server stops."""

        async def until_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        watcher = asyncio.ensure_future(until_disconnect())
        deadline = time.monotonic() + seconds
        try:
            while not watcher.done() and not self.state.closing:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                await asyncio.wait({watcher}, timeout=min(remaining, 0.05))
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    def _timed(
        self, send: Send, started: float, extra: dict[str, str], *, count_rejected: bool = False
    ) -> Send:
        """``send`` that adds the rate headers and Server-Timing, and counts refusals."""
        inbox = self.state.inbox

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = int(message["status"])
                if count_rejected and status >= 400:
                    inbox.count_rejected(status)
                elapsed = (time.perf_counter() - started) * 1000
                headers = list(message.get("headers", []))
                headers.extend((k.lower().encode(), v.encode()) for k, v in extra.items())
                headers.append((b"server-timing", f"sandbox;dur={elapsed:.2f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        return timed
