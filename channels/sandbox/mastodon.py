"""Mastodon statuses, instance and account, answered as Mastodon answers (docs.joinmastodon.org).

``POST /api/v1/statuses`` takes form data or JSON (``status``, ``spoiler_text``, ``visibility``,
``language``, ``sensitive``, ``in_reply_to_id``: an unknown one → 404 ``Record not found``) with
``Authorization: Bearer <token>`` (wrong → 401 ``{"error": "The access token is invalid"}``). Length
is :func:`clarion.updates.limits.mastodon_length` of spoiler_text + status (URLs count
``characters_reserved_per_url``, graphemes) against ``max_characters``; over → 422 ``Validation
failed: Text character limit of 500 exceeded``; blank → 422 ``Validation failed: Text can't be
blank``.

``Idempotency-Key``: a replay within 1 h on the same account returns the original Status (200, same
id) and records nothing; the key is stored only after a success, like ``PostStatusService``. The
inbox's ``idempotency_key`` is this header, and the duplicate key.

Also ``GET /api/v1/statuses/{id}``, ``GET /api/v2/instance`` (``configuration.statuses``) and
``GET /api/v1/accounts/verify_credentials``. Rate-limit headers are added by the fault layer.
"""

from __future__ import annotations

import html
import itertools
import threading
import time
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from starlette.responses import Response

from channels.sandbox.config import MAX_JSON_DEPTH
from channels.sandbox.inbox import InboxRecord
from channels.sandbox.responses import json_response, mastodon_error
from channels.sandbox.state import SandboxState
from clarion.files import boundedjson
from clarion.kinds import Channel
from clarion.updates.limits import mastodon_length

IDEMPOTENCY_SECONDS: Final = 3600
ACCOUNT_ID: Final = "109000000000000001"
USERNAME: Final = "clarion"
VISIBILITIES: Final = ("public", "unlisted", "private", "direct")


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def account(base_url: str) -> dict[str, Any]:
    return {
        "id": ACCOUNT_ID,
        "username": USERNAME,
        "acct": USERNAME,
        "display_name": "clarion sandbox",
        "locked": False,
        "bot": True,
        "created_at": "2026-01-01T00:00:00.000Z",
        "note": "",
        "url": f"{base_url}/@{USERNAME}",
        "followers_count": 0,
        "following_count": 0,
        "statuses_count": 0,
    }


def instance(base_url: str, max_characters: int, url_chars: int) -> dict[str, Any]:
    domain = base_url.split("://", 1)[-1]
    return {
        "domain": domain,
        "title": "clarion provider sandbox",
        "version": "4.3.0",
        "source_url": "https://github.com/mastodon/mastodon",
        "description": "A local stand-in for a Mastodon server.",
        "configuration": {
            "urls": {"streaming": f"ws://{domain}"},
            "accounts": {"max_featured_tags": 10},
            "statuses": {
                "max_characters": max_characters,
                "max_media_attachments": 4,
                "characters_reserved_per_url": url_chars,
            },
        },
        "registrations": {"enabled": False, "approval_required": False, "message": None},
        "contact": {"email": "", "account": None},
        "rules": [],
    }


def _content(text: str) -> str:
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    return "".join(f"<p>{html.escape(p).replace(chr(10), '<br />')}</p>" for p in paragraphs)


class MastodonStore:
    """Statuses by id and idempotency keys (per account) with the time they were stored."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(int(time.time() * 1000) << 16)
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self.statuses: dict[str, dict[str, Any]] = {}
            self._keys: dict[tuple[str, str], tuple[float, str]] = {}

    def replay(self, key: str, now: float) -> dict[str, Any] | None:
        with self._lock:
            found = self._keys.get((ACCOUNT_ID, key))
            if found is None or now - found[0] > IDEMPOTENCY_SECONDS:
                return None
            return self.statuses.get(found[1])

    def add(self, status: dict[str, Any], key: str | None, now: float) -> None:
        with self._lock:
            self.statuses[status["id"]] = status
            if key:
                self._keys[(ACCOUNT_ID, key)] = (now, status["id"])

    def next_id(self) -> str:
        with self._lock:
            return str(next(self._ids))


async def _params(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if "json" in request.headers.get("content-type", ""):
        data = boundedjson.loads(raw or b"{}", max_depth=MAX_JSON_DEPTH)
        if not isinstance(data, dict):
            raise ValueError("the JSON body must be an object")
        return data
    return {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True).items()}


def _status(params: dict[str, Any], status_id: str, now: float, base_url: str) -> dict[str, Any]:
    text = str(params.get("status") or "")
    language = params.get("language")
    return {
        "id": status_id,
        "created_at": _iso(now),
        "in_reply_to_id": str(reply_to) if (reply_to := params.get("in_reply_to_id")) else None,
        "in_reply_to_account_id": account(base_url)["id"] if reply_to else None,
        "sensitive": str(params.get("sensitive", "false")).lower() == "true",
        "spoiler_text": str(params.get("spoiler_text") or ""),
        "visibility": params.get("visibility") or "public",
        "language": language if isinstance(language, str) and language else None,
        "uri": f"{base_url}/users/{USERNAME}/statuses/{status_id}",
        "url": f"{base_url}/@{USERNAME}/{status_id}",
        "replies_count": 0,
        "reblogs_count": 0,
        "favourites_count": 0,
        "edited_at": None,
        "content": _content(text),
        "text": text,
        "reblog": None,
        "application": {"name": "clarion", "website": None},
        "account": account(base_url),
        "media_attachments": [],
        "mentions": [],
        "tags": [],
        "emojis": [],
        "card": None,
        "poll": None,
    }


def router(state: SandboxState) -> APIRouter:
    api = APIRouter()
    store = MastodonStore()
    state.on_reset(store.clear)

    def authorised(request: Request) -> bool:
        token = request.headers.get("authorization", "")
        return token == f"Bearer {state.config.mastodon_access_token}"

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    @api.post("/api/v1/statuses")
    async def post_status(request: Request) -> Response:
        if not authorised(request):
            return mastodon_error(401, "The access token is invalid")
        config, now = state.config, time.time()
        key = request.headers.get("idempotency-key")
        if key and (original := store.replay(key, now)) is not None:
            return json_response(200, original)
        try:
            params = await _params(request)
        except ValueError:
            return mastodon_error(400, "Error occurred while parsing request parameters.")
        text, spoiler = str(params.get("status") or ""), str(params.get("spoiler_text") or "")
        if not text.strip() and not params.get("media_ids"):
            return mastodon_error(422, "Validation failed: Text can't be blank")
        length = mastodon_length(spoiler + text, url_chars=config.mastodon_characters_reserved_per_url)
        if length > config.mastodon_max_characters:
            limit = config.mastodon_max_characters
            return mastodon_error(422, f"Validation failed: Text character limit of {limit} exceeded")
        reply_to = params.get("in_reply_to_id")
        if reply_to and str(reply_to) not in store.statuses:
            return mastodon_error(404, "Record not found")  # PostStatusService: Status.find
        if params.get("visibility", "public") not in VISIBILITIES:
            return mastodon_error(422, "Validation failed: Visibility is not included in the list")
        status = _status(params, store.next_id(), now, base(request))
        store.add(status, key, now)
        record = InboxRecord(
            Channel.MASTODON,
            status["id"],
            None,
            None,
            key,
            (spoiler or None) if config.keep_text else None,
            text if config.keep_text else None,
            now,
        )
        state.inbox.add([record], [key])
        return json_response(200, status)

    @api.get("/api/v1/statuses/{status_id}")
    async def get_status(status_id: str) -> Response:
        status = store.statuses.get(status_id)
        return json_response(200, status) if status else mastodon_error(404, "Record not found")

    @api.get("/api/v1/accounts/verify_credentials")
    async def verify_credentials(request: Request) -> Response:
        if not authorised(request):
            return mastodon_error(401, "The access token is invalid")
        return json_response(200, account(base(request)))

    @api.get("/api/v2/instance")
    async def get_instance(request: Request) -> Response:
        config = state.config
        body = instance(
            base(request), config.mastodon_max_characters, config.mastodon_characters_reserved_per_url
        )
        return json_response(200, body)

    return api
