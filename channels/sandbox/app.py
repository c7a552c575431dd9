"""The sandbox as one ASGI app: every channel's double, the control endpoints, the fault layer in front.

The fault layer knows a double by the first segment of its routes (``/v3/``, ``/xrpc/``, ``/slack/``),
so a package's double is delayed, rate-limited and faulted like clarion's own.

Control endpoints (never subject to faults, rate limits or latency):

* ``GET /_sandbox/config``, ``POST /_sandbox/config`` (a partial JSON object; 422 on a bad value)
* ``POST /_sandbox/twilio/stop`` and ``/_sandbox/twilio/start`` ``{"number": "+1..."}``: the number
  replies STOP (later sends fail with 21610) or START
* ``GET /_sandbox/inbox?channel=&limit=&offset=``: ``{"total", "records": [...]}``, oldest first;
  ``channel`` is a channel (``email``) or a provider (``sendgrid``)
* ``GET /_sandbox/stats``, ``POST /_sandbox/reset`` (forget messages and counts, keep the config)
"""

from __future__ import annotations

import pkgutil
import re
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from pydantic import ValidationError
from starlette.responses import Response
from starlette.types import ASGIApp

from channels.sandbox.config import MAX_JSON_DEPTH
from channels.sandbox.faults import FaultMiddleware, route_prefixes
from channels.sandbox.inbox import channel_named
from channels.sandbox.responses import json_response
from channels.sandbox.state import SandboxState
from clarion.channel_table import channel_table
from clarion.files import boundedjson

MAX_INBOX_PAGE = 10_000
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")


async def _json_body(request: Request) -> Any:
    try:
        return boundedjson.loads(await request.body(), max_depth=MAX_JSON_DEPTH)
    except ValueError:
        return None


def _control(state: SandboxState) -> APIRouter:
    api = APIRouter(prefix="/_sandbox")

    @api.get("/config")
    async def get_config() -> Response:
        return json_response(200, state.config.model_dump(mode="json"))

    @api.post("/config")
    async def set_config(request: Request) -> Response:
        changes = await _json_body(request)
        if not isinstance(changes, dict):
            return json_response(422, {"detail": "expected a JSON object"})
        try:
            state.configure(state.config.updated(changes))
        except ValidationError as exc:
            return json_response(422, {"detail": exc.errors(include_url=False, include_context=False)})
        return json_response(200, state.config.model_dump(mode="json"))

    async def number_of(request: Request) -> str | None:
        """The E.164 number a STOP/START control names, or None (a 422)."""
        body = await _json_body(request)
        number = body.get("number") if isinstance(body, dict) else None
        return number if isinstance(number, str) and _E164.fullmatch(number) else None

    @api.post("/twilio/stop")
    async def twilio_stop(request: Request) -> Response:
        number = await number_of(request)
        if number is None:
            return json_response(422, {"detail": "expected {'number': '+E164'}"})
        state.opt_out(number)
        return json_response(200, {"opted_out": list(state.config.twilio_opted_out)})

    @api.post("/twilio/start")
    async def twilio_start(request: Request) -> Response:
        number = await number_of(request)
        if number is None:
            return json_response(422, {"detail": "expected {'number': '+E164'}"})
        remaining = tuple(n for n in state.config.twilio_opted_out if n != number)
        state.configure(state.config.updated({"twilio_opted_out": remaining}))
        return json_response(200, {"opted_out": list(remaining)})

    @api.get("/inbox")
    async def inbox(channel: str | None = None, limit: int = 100, offset: int = 0) -> Response:
        try:
            wanted = channel_named(channel) if channel else None
        except ValueError:
            return json_response(422, {"detail": f"unknown channel {channel!r}"})
        limit = max(0, min(limit, MAX_INBOX_PAGE))
        total, records = state.inbox.records(wanted, limit=limit, offset=max(0, offset))
        return json_response(200, {"total": total, "records": [r.as_json() for r in records]})

    @api.get("/stats")
    async def stats() -> Response:
        return json_response(200, state.inbox.stats())

    @api.post("/reset")
    async def reset() -> Response:
        state.reset()
        return json_response(200, {"reset": True})

    return api


def create_app(state: SandboxState | None = None) -> ASGIApp:
    """The sandbox app over ``state`` (a fresh one by default)."""
    state = state or SandboxState()
    app = FastAPI(
        title="clarion provider sandbox",
        description="Every channel's provider, locally: SendGrid, Twilio, Mastodon, Bluesky, Slack, Teams…",
        openapi_url="/_sandbox/openapi.json",
        docs_url="/_sandbox/docs",
        redoc_url=None,
    )
    doubles = {spec.provider: spec.sandbox for spec in channel_table().values() if spec.sandbox}
    prefixes: dict[str, str] = {}
    for provider, double in doubles.items():  # each channel's sandbox double, another package's too
        router = pkgutil.resolve_name(double)(state)
        app.include_router(router)
        for prefix in route_prefixes(router):
            if prefixes.setdefault(prefix, str(provider)) != provider:
                raise ValueError(
                    f"the doubles of {prefixes[prefix]} and {provider} both answer under {prefix}"
                )
    app.include_router(_control(state))

    @app.get("/", include_in_schema=False)
    async def index() -> dict[str, Any]:
        return {
            "service": "clarion provider sandbox",
            "providers": sorted(doubles),
            "control": "/_sandbox/docs",
        }

    return FaultMiddleware(app, state, prefixes)
