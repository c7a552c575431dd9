"""The loft's sandbox double: ``POST /pigeon/v1/coos`` (201 with an id; the same Idempotency-Key
answers the first coo again) and ``GET /pigeon/v1/coos/{key}``. It checks what the real loft would:
a key is required, the text is a non-empty string of at most 600 graphemes."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from channels.sandbox.inbox import InboxRecord
from channels.sandbox.state import SandboxState
from clarion.kinds import Channel
from clarion.updates.limits import graphemes
from clarion_pigeon import COOS, MAX_GRAPHEMES


def router(state: SandboxState) -> APIRouter:
    api = APIRouter()
    lock = threading.Lock()
    coos: dict[str, dict[str, Any]] = {}
    ids = itertools.count(1)
    state.on_reset(coos.clear)

    @api.post(COOS)
    async def coo(request: Request) -> Response:
        key = request.headers.get("idempotency-key")
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "body is not JSON"}, status_code=400)
        text = body.get("text") if isinstance(body, dict) else None
        if not key:
            return JSONResponse({"error": "Idempotency-Key is required"}, status_code=400)
        if not isinstance(text, str) or not text.strip():
            return JSONResponse({"error": "text must be a non-empty string"}, status_code=422)
        if graphemes(text) > MAX_GRAPHEMES:
            return JSONResponse({"error": f"text is over {MAX_GRAPHEMES} graphemes"}, status_code=422)
        with lock:
            if key in coos:
                return JSONResponse(coos[key], status_code=201)
            made = coos[key] = {"id": f"coo-{next(ids)}", "text": text}
        record = InboxRecord(Channel("pigeon"), made["id"], None, None, key, None, text, time.time())
        state.inbox.add([record], [key])
        return JSONResponse(made, status_code=201)

    @api.get(COOS + "/{key}")
    async def find(key: str) -> Response:
        with lock:
            found = coos.get(key)
        if found is None:
            return JSONResponse({"error": "no such coo"}, status_code=404)
        return JSONResponse(found)

    return api
