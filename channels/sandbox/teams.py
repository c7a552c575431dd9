"""Teams Workflows webhooks, answered as a "When a Teams webhook request is received" flow answers.

``POST /teams/workflows/{name}`` stands for one workflow's URL (``name`` as in
``CLARION_TEAMS_WEBHOOKS``; no signature: the sandbox takes every name). What it checks, in order:

* the body is at most 28 KB (Microsoft's documented limit), else 413 with the text ``Request Entity too
  large``;
* the envelope: JSON, ``type`` ``"message"``, exactly one attachment of ``contentType``
  ``application/vnd.microsoft.card.adaptive`` whose ``content`` is an ``AdaptiveCard`` with a
  ``version`` string and a non-empty ``body`` of elements of known types (a ``TextBlock`` with a
  string ``text``), and ``actions``, when present, of known types (an ``Action.OpenUrl`` with a
  string ``url``). Anything else is a 400 with ``{"error": {"code": "InvalidCard", "message": "<what
  is wrong, with its JSON path>"}}``: a sandbox choice, since Microsoft does not document how a flow
  refuses a malformed card.

Accepted: 202 with no body and an ``x-ms-workflow-run-id`` header (``sandbox-run-<n>``, counted from 1
again after a reset; the format is the sandbox's). The inbox records the message with the name as its
address, the heading as its subject (the first TextBlock when it is a heading: ``style`` heading or
``weight`` bolder) and the other TextBlocks as its text, paragraphs joined by a blank line, with the
Markdown escapes undone (what a reader sees). No duplicate key: Teams cannot dedupe, so neither does
its double. The rate limit (4 requests a second) is the adapter's to keep; the fault layer does not
cover this provider.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from typing import Any, Final

from fastapi import APIRouter, Request
from starlette.responses import Response

from channels.sandbox.config import MAX_JSON_DEPTH
from channels.sandbox.inbox import InboxRecord
from channels.sandbox.responses import json_response
from channels.sandbox.state import SandboxState
from channels.teams import ADAPTIVE_CARD, MAX_MESSAGE_BYTES, SANDBOX_PATH
from clarion.files import boundedjson
from clarion.kinds import Channel

ELEMENTS: Final = frozenset(
    {
        "TextBlock",
        "RichTextBlock",
        "Image",
        "ImageSet",
        "Media",
        "Container",
        "ColumnSet",
        "FactSet",
        "ActionSet",
        "Input.Text",
        "Input.Number",
        "Input.Date",
        "Input.Time",
        "Input.Toggle",
        "Input.ChoiceSet",
    }
)
"""The body elements of Adaptive Cards 1.4 (adaptivecards.io schema explorer)."""
ACTIONS: Final = frozenset(
    {"Action.OpenUrl", "Action.Submit", "Action.ShowCard", "Action.ToggleVisibility", "Action.Execute"}
)
_NAME: Final = re.compile(r"[a-z][a-z0-9-]{0,62}")
_ESCAPED: Final = re.compile(r"\\([!-/:-@\[-`{-~])")  # CommonMark: a backslash before ASCII punctuation


class InvalidCard(ValueError):
    """What is wrong with a posted card, with its JSON path."""


def _error(status: int, code: str, message: str) -> Response:
    return json_response(status, {"error": {"code": code, "message": message}})


def check_card(body: object) -> dict[str, Any]:
    """The Adaptive Card an envelope carries; InvalidCard naming the first thing wrong."""
    if not isinstance(body, dict):
        raise InvalidCard("the body must be a JSON object")
    if body.get("type") != "message":
        raise InvalidCard('type must be "message"')
    attachments = body.get("attachments")
    if not isinstance(attachments, list) or len(attachments) != 1:
        raise InvalidCard("attachments must hold exactly one attachment")
    attachment = attachments[0]
    if not isinstance(attachment, dict) or attachment.get("contentType") != ADAPTIVE_CARD:
        raise InvalidCard(f'attachments[0].contentType must be "{ADAPTIVE_CARD}"')
    content = attachment.get("content")
    if not isinstance(content, dict) or content.get("type") != "AdaptiveCard":
        raise InvalidCard('attachments[0].content.type must be "AdaptiveCard"')
    if not isinstance(content.get("version"), str):
        raise InvalidCard("attachments[0].content.version must be a string")
    elements = content.get("body")
    if not isinstance(elements, list) or not elements:
        raise InvalidCard("attachments[0].content.body must be a non-empty list of elements")
    for i, element in enumerate(elements):
        where = f"attachments[0].content.body[{i}]"
        kind = element.get("type") if isinstance(element, dict) else None
        if kind not in ELEMENTS:
            raise InvalidCard(f"{where}.type {kind!r} is not an element type")
        if kind == "TextBlock" and not isinstance(element.get("text"), str):
            raise InvalidCard(f"{where}.text must be a string")
    actions = content.get("actions", [])
    if not isinstance(actions, list):
        raise InvalidCard("attachments[0].content.actions must be a list")
    for i, action in enumerate(actions):
        where = f"attachments[0].content.actions[{i}]"
        kind = action.get("type") if isinstance(action, dict) else None
        if kind not in ACTIONS:
            raise InvalidCard(f"{where}.type {kind!r} is not an action type")
        if kind == "Action.OpenUrl" and not isinstance(action.get("url"), str):
            raise InvalidCard(f"{where}.url must be a string")
    return content


def _is_heading(element: dict[str, Any]) -> bool:
    return (
        str(element.get("style", "")).lower() == "heading"
        or str(element.get("weight", "")).lower() == "bolder"
    )


def words(content: dict[str, Any]) -> tuple[str | None, str]:
    """(subject, text) of a card as a reader sees them: the heading, then the other TextBlocks."""
    blocks = [e for e in content["body"] if e.get("type") == "TextBlock"]
    subject = None
    if blocks and blocks[0] is content["body"][0] and _is_heading(blocks[0]):
        subject = _ESCAPED.sub(r"\1", blocks.pop(0)["text"])
    return subject, "\n\n".join(_ESCAPED.sub(r"\1", b["text"]) for b in blocks)


async def _read_at_most(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it runs past ``limit`` bytes (the rest is never held)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def router(state: SandboxState) -> APIRouter:
    api = APIRouter()
    lock = threading.Lock()
    runs = [itertools.count(1)]  # the double's only store: run ids start again after a reset

    def restart() -> None:
        with lock:
            runs[0] = itertools.count(1)

    state.on_reset(restart)

    @api.post(SANDBOX_PATH + "/{name}")
    async def post_card(name: str, request: Request) -> Response:
        if not _NAME.fullmatch(name):
            return _error(404, "WorkflowNotFound", "no workflow at this address")
        raw = await _read_at_most(request, MAX_MESSAGE_BYTES)
        if raw is None:
            return Response("Request Entity too large", status_code=413, media_type="text/plain")
        try:
            content = check_card(boundedjson.loads(raw, max_depth=MAX_JSON_DEPTH))
        except InvalidCard as exc:
            return _error(400, "InvalidCard", str(exc))
        except ValueError:
            return _error(400, "InvalidCard", "the body is not JSON")
        subject, text = words(content)
        with lock:
            run = f"sandbox-run-{next(runs[0])}"
        keep = state.config.keep_text
        record = InboxRecord(
            Channel("teams"),
            run,
            name,
            None,
            None,
            subject if keep else None,
            text if keep else None,
            time.time(),
        )
        state.inbox.add([record], [None])
        return Response(status_code=202, headers={"x-ms-workflow-run-id": run})

    return api
