"""A Standard Webhooks receiver (the spec at standardwebhooks.com): ``POST /webhook/receive/{name}``.

It does what the spec asks of a receiver, in this order:

* a body over :data:`~channels.webhook.MAX_PAYLOAD_BYTES` (20 KB) → 413, read no further;
* the signature, verified by the reference library with :data:`~channels.webhook.SANDBOX_SECRET`:
  a header missing, no matching ``v1`` signature, or ``webhook-timestamp`` more than 5 minutes
  from now (the library's tolerance) → 401 ``{"error": "..."}``;
* the body: JSON with ``type`` (a string), ``timestamp`` (ISO 8601) and ``data`` (an object) → else
  400 ``{"error": "..."}``;
* a ``webhook-id`` it has taken before → 200 with nothing recorded (the spec's dedupe);
* otherwise 204, and one inbox record: address the endpoint's name, ``idempotency_key`` and
  ``provider_id`` the ``webhook-id`` (also the duplicate key), subject and text from ``data``.

An endpoint name that is not a slug is a 404. The ids remembered are bounded (the oldest forgotten
first); a reset forgets them all.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from datetime import datetime
from typing import Any, Final

from fastapi import APIRouter, Request
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.responses import Response

from channels.sandbox.config import MAX_JSON_DEPTH
from channels.sandbox.inbox import InboxRecord
from channels.sandbox.responses import json_response
from channels.sandbox.state import SandboxState
from channels.webhook import MAX_PAYLOAD_BYTES, SANDBOX_SECRET, SLUG
from clarion.files import boundedjson
from clarion.kinds import Channel

PATH: Final = "/webhook/receive/{name}"
MAX_REMEMBERED_IDS: Final = 100_000


def router(state: SandboxState) -> APIRouter:
    api = APIRouter()
    lock = threading.Lock()
    seen: OrderedDict[str, None] = OrderedDict()
    receiver = Webhook(SANDBOX_SECRET)
    channel = Channel("webhook")

    def forget() -> None:
        with lock:
            seen.clear()

    state.on_reset(forget)

    @api.post(PATH)
    async def receive(name: str, request: Request) -> Response:
        if not SLUG.fullmatch(name):
            return json_response(404, {"error": "no such endpoint"})
        raw = await _body_within(request, MAX_PAYLOAD_BYTES)
        if raw is None:
            return json_response(413, {"error": f"payload over {MAX_PAYLOAD_BYTES} bytes"})
        try:
            receiver.verify(raw, dict(request.headers), json_parse=False)
        except (WebhookVerificationError, ValueError) as exc:  # ValueError: a malformed header
            return json_response(401, {"error": f"signature not verified: {exc}"})
        try:
            body = boundedjson.loads(raw, max_depth=MAX_JSON_DEPTH)
        except ValueError:
            return json_response(400, {"error": "body is not JSON"})
        if (problem := _envelope_problem(body)) is not None:
            return json_response(400, {"error": problem})
        msg_id = request.headers["webhook-id"]
        with lock:
            if msg_id in seen:
                seen.move_to_end(msg_id)
                return Response(status_code=200)
            seen[msg_id] = None
            if len(seen) > MAX_REMEMBERED_IDS:
                seen.popitem(last=False)
        data = body["data"]
        record = InboxRecord(
            channel,
            msg_id,
            name,
            None,
            msg_id,
            _text(data.get("subject")),
            _text(data.get("text")),
            time.time(),
        )
        state.inbox.add([record], [msg_id])
        return Response(status_code=204)

    return api


async def _body_within(request: Request, limit: int) -> bytes | None:
    """The body, or None once it is longer than ``limit`` (the rest is not read)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            return None
    return bytes(raw)


def _envelope_problem(body: Any) -> str | None:
    """What the body lacks of ``{"type", "timestamp", "data"}``, or None."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    if not isinstance(body.get("type"), str) or not body["type"]:
        return "type must be a non-empty string"
    if not _is_iso(body.get("timestamp")):
        return "timestamp must be an ISO 8601 string"
    if not isinstance(body.get("data"), dict):
        return "data must be an object"
    return None


def _is_iso(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
