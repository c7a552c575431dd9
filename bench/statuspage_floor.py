"""The Python floor of ``bench/statuspage.py --asgi-floor``: a bare ASGI app serving nginx's bytes.

No framework, no middleware, no thread pool: what uvicorn alone costs per response with the same
``--http`` and ``--loop`` as clarion, so the gap between clarion and nginx splits into the server's
part and the app's. It serves the documents listed in the JSON file named by
``STATUSPAGE_FLOOR_DOCUMENTS`` (path → file, content type), read once at import; anything else is 404.

    uvicorn statuspage_floor:app --app-dir bench
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


def _load() -> dict[str, tuple[list[tuple[bytes, bytes]], bytes]]:
    listed = json.loads(Path(os.environ["STATUSPAGE_FLOOR_DOCUMENTS"]).read_text(encoding="utf-8"))
    documents = {}
    for path, (file, content_type) in listed.items():
        body = Path(file).read_bytes()
        headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
        documents[path] = (headers, body)
    return documents


DOCUMENTS = _load()
NOT_FOUND = ([(b"content-type", b"text/plain"), (b"content-length", b"9")], b"not found")


async def app(
    scope: Scope, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
) -> None:
    if scope["type"] != "http":  # lifespan: nothing to set up
        return
    headers, body = DOCUMENTS.get(scope["path"], NOT_FOUND)
    status = 200 if body is not NOT_FOUND[1] else 404
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
