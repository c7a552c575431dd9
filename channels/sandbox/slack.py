"""Slack's Web API and incoming webhooks, answered as Slack answers (as docs.slack.dev shows them).

Web API, under ``/slack/api/`` (form-encoded or JSON bodies, as ``slack_sdk`` sends them: JSON for
``chat.postMessage``, form for the others). The token comes as ``Authorization: Bearer`` or a
``token`` parameter; a missing one is ``not_authed``, another than :data:`~channels.slack.SANDBOX_TOKEN`
``invalid_auth``. Like Slack, every error is ``200 {"ok": false, "error": code}``.

* ``chat.postMessage``: ``channel`` a conversation ID (``C…``, ``G…``, ``D…``) or a person's
  (``U…``/``W…``, posted in the bot's direct conversation ``D…``), else ``channel_not_found``;
  ``text`` or ``blocks`` (else ``no_text``); ``blocks`` a list (else ``invalid_blocks_format``) of at
  most 50 header, section, context or divider blocks, a header's text at most 150 characters and a
  section's 3000 (else ``invalid_blocks``, with Slack's ``response_metadata.messages``); ``metadata``
  ``{"event_type", "event_payload"}`` (else ``invalid_metadata_format``). Stored per conversation with a
  ``ts``; answered ``{"ok", "channel", "ts", "message"}``.
* ``conversations.history``: newest first, after ``oldest`` and before ``latest`` (``inclusive``),
  ``limit`` (default 100, at most 999) and a ``cursor``; metadata only with ``include_all_metadata``.
* ``conversations.open``: ``users`` one person's ID → their direct conversation.

Webhooks: ``POST /slack/services/{name}`` with JSON (or a form ``payload``) answers ``200 ok`` in
plain text, or ``400 invalid_payload`` / ``invalid_blocks`` /
``missing_text_or_fallback_or_attachments``; a name that is not a webhook name is ``404 no_service``.
Webhook posts are recorded in the inbox but not in any conversation's history (Slack has no lookup).

The inbox's address is the ``channel`` (or webhook name) as the request gave it; its idempotency key
and delivery id come from the metadata, which webhooks do not carry. Memory is bounded: the newest
:data:`MAX_MESSAGES` per conversation, :data:`MAX_CONVERSATIONS` conversations.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
import threading
import time
from collections import OrderedDict, deque
from typing import Any, Final
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from starlette.responses import Response

from channels.sandbox.config import MAX_JSON_DEPTH
from channels.sandbox.inbox import InboxRecord
from channels.sandbox.responses import json_response
from channels.sandbox.state import SandboxState
from channels.slack import SANDBOX_TOKEN
from channels.slack_blocks import HEADER_CHARACTERS, MAX_BLOCKS, SECTION_CHARACTERS
from channels.slack_settings import ID, NAME
from clarion.files import boundedjson
from clarion.kinds import Channel

MAX_MESSAGES: Final = 5000
MAX_CONVERSATIONS: Final = 1000
HISTORY_LIMIT: Final = 100
HISTORY_MAX: Final = 999
BOT_ID: Final = "B0SANDBOX01"
BOT_USER: Final = "U0SANDBOX01"
APP_ID: Final = "A0SANDBOX01"
BLOCK_TYPES: Final = frozenset({"header", "section", "context", "divider"})


class SlackStore:
    """Messages per conversation, oldest first, and the clock that gives each a unique ``ts``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self._conversations: OrderedDict[str, deque[dict[str, Any]]] = OrderedDict()
            self._last = 0.0

    def next_ts(self) -> str:
        with self._lock:
            return self._tick()

    def _tick(self) -> str:
        self._last = max(time.time(), self._last + 1e-6)
        return f"{self._last:.6f}"

    def post(self, conversation: str, message: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            stored = {**message, "ts": self._tick()}
            if conversation not in self._conversations:
                if len(self._conversations) >= MAX_CONVERSATIONS:
                    self._conversations.popitem(last=False)
                self._conversations[conversation] = deque(maxlen=MAX_MESSAGES)
            self._conversations[conversation].append(stored)
            return stored

    def history(self, conversation: str) -> list[dict[str, Any]]:
        """Newest first."""
        with self._lock:
            return [copy.deepcopy(m) for m in reversed(self._conversations.get(conversation, ()))]


def _error(code: str, **extra: Any) -> Response:
    return json_response(200, {"ok": False, "error": code, **extra})


def _plain(status: int, body: str) -> Response:
    return Response(body, status_code=status, media_type="text/plain")


async def _params(request: Request) -> dict[str, Any]:
    """The body's parameters, form or JSON; ValueError when it is neither."""
    raw = await request.body()
    if "json" in request.headers.get("content-type", ""):
        data = boundedjson.loads(raw or b"{}", max_depth=MAX_JSON_DEPTH)
        if not isinstance(data, dict):
            raise ValueError("the JSON body must be an object")
        return data
    form = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[0] for key, values in form.items()}


def _decoded(value: Any) -> Any:
    """A parameter a form carries as a JSON string (``blocks``, ``metadata``); ValueError if bad."""
    return boundedjson.loads(value, max_depth=MAX_JSON_DEPTH) if isinstance(value, str) else value


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("1", "true"))


def _text_of(obj: Any, kinds: tuple[str, ...]) -> str | None:
    if isinstance(obj, dict) and obj.get("type") in kinds and isinstance(obj.get("text"), str):
        return str(obj["text"])
    return None


def block_problems(blocks: Any) -> list[str]:
    """What Slack would say is wrong with ``blocks`` (a list), in its ``[ERROR] … [json-pointer:…]``
    form; empty when they are fine."""
    problems: list[str] = []
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"[ERROR] no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    for n, block in enumerate(blocks):
        where = f"/blocks/{n}"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in BLOCK_TYPES:
            problems.append(f"[ERROR] unsupported type: {kind!r} [json-pointer:{where}/type]")
            continue
        if kind == "header":
            text = _text_of(block.get("text"), ("plain_text",))
            if not text:
                problems.append(f"[ERROR] must provide a plain_text object [json-pointer:{where}/text]")
            elif len(text) > HEADER_CHARACTERS:
                limit = HEADER_CHARACTERS + 1
                problems.append(
                    f"[ERROR] must be less than {limit} characters [json-pointer:{where}/text/text]"
                )
        elif kind == "section":
            text = _text_of(block.get("text"), ("plain_text", "mrkdwn"))
            if not text and not block.get("fields"):
                problems.append(f"[ERROR] must provide text or fields [json-pointer:{where}]")
            elif text and len(text) > SECTION_CHARACTERS:
                limit = SECTION_CHARACTERS + 1
                problems.append(
                    f"[ERROR] must be less than {limit} characters [json-pointer:{where}/text/text]"
                )
        elif kind == "context" and not (isinstance(block.get("elements"), list) and block["elements"]):
            problems.append(f"[ERROR] must provide elements [json-pointer:{where}/elements]")
    return problems


_LINK: Final = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")


def _unescape(text: str) -> str:
    """mrkdwn as a reader sees it: ``<url|label>`` shown as its label (or the URL), entities decoded."""
    shown = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    return shown.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _words(text: str, blocks: list[Any]) -> tuple[str | None, str]:
    """(subject, text) as a reader sees them: the header, then the sections (else ``text``)."""
    subject = next(
        (_text_of(b.get("text"), ("plain_text",)) for b in blocks if b.get("type") == "header"), None
    )
    sections = [
        _text_of(b.get("text"), ("plain_text", "mrkdwn")) for b in blocks if b.get("type") == "section"
    ]
    shown = "\n\n".join(s for s in sections if s) or text
    return subject, _unescape(shown)


def router(state: SandboxState) -> APIRouter:
    api = APIRouter(prefix="/slack")
    store = SlackStore()
    state.on_reset(store.clear)

    def record(provider_id: str, address: str, text: str, blocks: list[Any], metadata: Any) -> None:
        payload = metadata.get("event_payload") if isinstance(metadata, dict) else None
        payload = payload if isinstance(payload, dict) else {}
        key = payload.get("idempotency_key") if isinstance(payload.get("idempotency_key"), str) else None
        delivery = payload.get("delivery_id")
        delivery_id = str(delivery) if isinstance(delivery, int) and not isinstance(delivery, bool) else None
        subject, shown = _words(text, blocks)
        keep = state.config.keep_text
        inbox = InboxRecord(
            Channel("slack"),
            provider_id,
            address,
            delivery_id,
            key,
            subject if keep else None,
            shown if keep else None,
            time.time(),
        )
        state.inbox.add([inbox], [delivery_id or key])

    async def authorised(request: Request) -> dict[str, Any] | Response:
        """The request's parameters, or Slack's answer to a bad body or token."""
        try:
            params = await _params(request)
        except ValueError:
            return _error("invalid_json")
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else params.get("token")
        if not token:
            return _error("not_authed")
        if token != SANDBOX_TOKEN:
            return _error("invalid_auth")
        return params

    @api.post("/api/chat.postMessage")
    async def post_message(request: Request) -> Response:
        params = await authorised(request)
        if isinstance(params, Response):
            return params
        channel = params.get("channel")
        if not isinstance(channel, str) or not ID.fullmatch(channel):
            return _error("channel_not_found")
        text = params.get("text") or ""
        try:
            blocks, metadata = _decoded(params.get("blocks")), _decoded(params.get("metadata"))
        except ValueError:
            return _error("invalid_blocks_format")
        if not isinstance(text, str):
            return _error("invalid_arguments")
        if blocks is not None and not isinstance(blocks, list):
            return _error("invalid_blocks_format")
        if problems := block_problems(blocks or []):
            return _error("invalid_blocks", response_metadata={"messages": problems})
        if not text.strip() and not blocks:
            return _error("no_text")
        if metadata is not None and not (
            isinstance(metadata, dict)
            and isinstance(metadata.get("event_type"), str)
            and isinstance(metadata.get("event_payload"), dict)
        ):
            return _error("invalid_metadata_format")
        conversation = "D" + channel[1:] if channel[0] in "UW" else channel
        message: dict[str, Any] = {
            "type": "message",
            "subtype": "bot_message",
            "text": text,
            "user": BOT_USER,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "blocks": blocks or [],
        }
        if metadata is not None:
            message["metadata"] = metadata
        stored = store.post(conversation, message)
        record(stored["ts"], channel, text, blocks or [], metadata)
        return json_response(
            200, {"ok": True, "channel": conversation, "ts": stored["ts"], "message": stored}
        )

    @api.post("/api/conversations.history")
    async def history(request: Request) -> Response:
        params = await authorised(request)
        if isinstance(params, Response):
            return params
        channel = params.get("channel")
        if not isinstance(channel, str) or not ID.fullmatch(channel) or channel[0] in "UW":
            return _error("channel_not_found")
        try:
            oldest = float(params.get("oldest") or 0)
            latest = float(params.get("latest") or "inf")
        except (TypeError, ValueError):
            return _error("invalid_ts_oldest")
        try:
            limit = min(max(int(params.get("limit") or HISTORY_LIMIT), 1), HISTORY_MAX)
        except (TypeError, ValueError):
            return _error("invalid_limit")
        after: float | None = None  # the cursor: messages older than the last one handed out
        if cursor := params.get("cursor"):
            try:
                after = float(base64.b64decode(str(cursor), validate=True).decode().removeprefix("next_ts:"))
            except (binascii.Error, UnicodeDecodeError, ValueError):
                return _error("invalid_cursor")
        inclusive = _flag(params.get("inclusive"))

        def wanted(ts: float) -> bool:
            inside = oldest <= ts <= latest if inclusive else oldest < ts < latest
            return inside and (after is None or ts < after)

        found = [m for m in store.history(channel) if wanted(float(m["ts"]))]
        page, more = found[:limit], len(found) > limit
        if not _flag(params.get("include_all_metadata")):
            for m in page:
                m.pop("metadata", None)
        following = base64.b64encode(f"next_ts:{page[-1]['ts']}".encode()).decode() if more else ""
        return json_response(
            200,
            {
                "ok": True,
                "messages": page,
                "has_more": more,
                "pin_count": 0,
                "response_metadata": {"next_cursor": following},
            },
        )

    @api.post("/api/conversations.open")
    async def open_conversation(request: Request) -> Response:
        params = await authorised(request)
        if isinstance(params, Response):
            return params
        users = params.get("users")
        if not users:
            return _error("users_list_not_supplied")
        if not isinstance(users, str) or not ID.fullmatch(users) or users[0] not in "UW":
            return _error("user_not_found")  # one person's ID: the sandbox opens no group DMs
        return json_response(200, {"ok": True, "channel": {"id": "D" + users[1:]}})

    @api.post("/services/{name}")
    async def webhook(name: str, request: Request) -> Response:
        if not NAME.fullmatch(name):
            return _plain(404, "no_service")
        try:
            params = await _params(request)
            body = _decoded(params["payload"]) if "payload" in params else params
        except (ValueError, KeyError):
            return _plain(400, "invalid_payload")
        if not isinstance(body, dict):
            return _plain(400, "invalid_payload")
        text, blocks = body.get("text") or "", body.get("blocks")
        if not isinstance(text, str) or (blocks is not None and not isinstance(blocks, list)):
            return _plain(400, "invalid_payload")
        if block_problems(blocks or []):
            return _plain(400, "invalid_blocks")
        if not text.strip() and not blocks:
            return _plain(400, "missing_text_or_fallback_or_attachments")
        record(store.next_ts(), name, text, blocks or [], None)
        return _plain(200, "ok")

    return api
