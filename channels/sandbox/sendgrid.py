"""SendGrid v3 ``POST /v3/mail/send``, answered as SendGrid answers (its API reference).

Auth ``Authorization: Bearer <key>``. The body is validated against the official schema
(``schemas/sendgrid_mail_send_request.schema.json``, one deviation, see :func:`request_schema`), then
against the documented rules the schema cannot say: at least one personalization, at most 1000
recipients (to+cc+bcc over all personalizations), every address once per request (ignoring case),
custom_args under 10,000 bytes per personalization, names without ``;`` or ``,``, content and
subject unless a template supplies them, reply_to and reply_to_list not both, send_at at most 72 h
ahead. Every problem is listed: 400 ``{"errors": [{"message", "field", "help"}]}`` with the field's
path (``personalizations.3.to.0.email``). A body over 30 MB is a 413.

Success: 202, empty body, ``X-Message-Id``; one inbox record per recipient, carrying
``delivery_id`` / ``idempotency_key`` from the personalization's custom_args (top-level custom_args
apply to every personalization, the personalization's win). SendGrid has no idempotency: a retry is
a second message (and shows up in the stats as a duplicate). What becomes of each recipient is
posted later to the Event Webhook, signed (:mod:`channels.sandbox.events`).
"""

from __future__ import annotations

import json
import re
import secrets
import time
import zlib
from functools import cache
from typing import Any, Final

from fastapi import APIRouter, Request
from jsonschema import Draft202012Validator, FormatChecker, ValidationError
from starlette.responses import Response

from channels.sandbox.config import MAX_JSON_DEPTH, SCHEMAS
from channels.sandbox.events import send_sendgrid_events
from channels.sandbox.fastcheck import Check, compile_check
from channels.sandbox.inbox import InboxRecord
from channels.sandbox.responses import sendgrid_errors
from channels.sandbox.state import SandboxState
from clarion.files import boundedjson
from clarion.kinds import Channel

MAX_BODY: Final = 30 * 1024 * 1024
MAX_RECIPIENTS: Final = 1000
MAX_CUSTOM_ARGS: Final = 10_000
MAX_SEND_AT_AHEAD: Final = 72 * 3600

Problem = tuple[str, str | None]  # (message, field path)
_REQUIRED = re.compile(r"^'(?P<name>.+)' is a required property$")
_PHRASES: Final = {
    "type": "must be of type {}",
    "format": "does not contain a valid {} address",
    "minLength": "must have at least {} characters",
    "maxLength": "must have at most {} characters",
    "maxItems": "must have at most {} items",
    "maxProperties": "must have at most {} properties",
    "enum": "must be one of {}",
    "uniqueItems": "must not contain duplicates",
    "pattern": "must match {}",
}


def request_schema() -> dict[str, Any]:
    """The official request schema, with the one documented deviation patched in."""
    schema: dict[str, Any] = json.loads((SCHEMAS / "sendgrid_mail_send_request.schema.json").read_text())
    # Deviation: the official spec types top-level custom_args as a string, but the real API and
    # the official SDK send an object of strings (a quirk of its published OpenAPI schema).
    schema["properties"]["custom_args"] = {"type": "object", "additionalProperties": {"type": "string"}}
    return schema


@cache
def _validators() -> tuple[Draft202012Validator, Check | None]:
    schema = request_schema()
    checker = FormatChecker()
    return Draft202012Validator(schema, format_checker=checker), compile_check(schema, checker)


def schema_problems(body: Any) -> list[Problem]:
    """Every way ``body`` breaks the schema, as (message, field)."""
    validator, fast = _validators()
    if fast is not None and fast(body):
        return []
    return sorted((_describe(error) for error in validator.iter_errors(body)), key=lambda p: p[1] or "")


def _describe(error: ValidationError) -> Problem:
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required" and (match := _REQUIRED.match(error.message)):
        path.append(match["name"])
        return f"The {'.'.join(path)} field is required.", ".".join(path)
    where = ".".join(path) or None
    phrase = _PHRASES.get(str(error.validator))
    detail = phrase.format(error.validator_value) if phrase else error.message[:200]
    return f"{where or 'The request body'} {detail}.", where


def rule_problems(body: Any, *, now: float) -> list[Problem]:
    """The documented rules the schema cannot express."""
    if not isinstance(body, dict):
        return []
    problems: list[Problem] = []
    personalizations = body.get("personalizations")
    people = personalizations if isinstance(personalizations, list) else []
    if isinstance(personalizations, list) and not personalizations:
        problems.append(
            (
                "The personalizations field is required and must have at least one personalization.",
                "personalizations",
            )
        )
    problems += _recipient_problems(people)
    top_args = body.get("custom_args")
    top_size = _json_size(top_args) if isinstance(top_args, dict) and top_args else 0
    for i, p in enumerate(people):
        if not isinstance(p, dict):
            continue
        args = p.get("custom_args")
        if isinstance(args, dict) and args and (size := top_size + _json_size(args)) > MAX_CUSTOM_ARGS:
            problems.append(
                (
                    f"The custom_args of a personalization may not exceed {MAX_CUSTOM_ARGS:,} bytes "
                    f"({size:,} with the top-level custom_args).",
                    f"personalizations.{i}.custom_args",
                )
            )
        if "send_at" in p:
            problems += _send_at(p["send_at"], f"personalizations.{i}.send_at", now)
    problems += _send_at(body.get("send_at"), "send_at", now)
    problems += _content_rules(body, people)
    return problems


def _json_size(args: dict[Any, Any]) -> int:
    """UTF-8 bytes of ``args`` as JSON; a cheap upper bound when that is clearly small enough."""
    bound = 2
    for key, value in args.items():
        if type(key) is not str or type(value) is not str:
            break
        bound += 6 * (len(key) + len(value)) + 6  # any character takes at most 6 bytes (\uXXXX)
    else:
        if bound <= MAX_CUSTOM_ARGS:
            return bound
    return len(json.dumps(args, ensure_ascii=False, separators=(",", ":")).encode())


def _recipient_problems(people: list[Any]) -> list[Problem]:
    """At most 1000 recipients, each address once (ignoring case), names without ';' or ','."""
    problems: list[Problem] = []
    seen: dict[str, tuple[int, str, int]] = {}
    total = 0
    for i, p in enumerate(people):
        if type(p) is not dict:
            continue
        for kind in ("to", "cc", "bcc"):
            group = p.get(kind)
            if type(group) is not list:
                continue
            for j, who in enumerate(group):
                email = who.get("email") if type(who) is dict else None
                if type(email) is not str:
                    continue
                total += 1
                address = email.lower()
                first = seen.setdefault(address, (i, kind, j))
                if first != (i, kind, j):
                    problems.append(
                        (
                            "Each email address in the personalizations array should only be included "
                            f"once: {email} is also at personalizations.{'.'.join(map(str, first))}.email.",
                            f"personalizations.{i}.{kind}.{j}.email",
                        )
                    )
                name = who.get("name")
                if type(name) is str and (";" in name or "," in name):
                    problems.append(
                        (
                            f"The {kind} name may not contain ';' or ','.",
                            f"personalizations.{i}.{kind}.{j}.name",
                        )
                    )
    if total > MAX_RECIPIENTS:
        problems.append(
            (
                f"The total number of recipients (to, cc and bcc in all personalizations) must be no "
                f"more than {MAX_RECIPIENTS}; this request has {total}.",
                "personalizations",
            )
        )
    return problems


def _send_at(value: Any, field: str, now: float) -> list[Problem]:
    if isinstance(value, int) and value > now + MAX_SEND_AT_AHEAD:
        return [("send_at may not be more than 72 hours in the future.", field)]
    return []


def _content_rules(body: dict[str, Any], people: list[Any]) -> list[Problem]:
    problems: list[Problem] = []
    if "template_id" not in body:
        if not body.get("content"):
            problems.append(
                (
                    "Unless a valid template_id is provided, the content parameter is required. There "
                    "must be at least one defined content block.",
                    "content",
                )
            )
        if "subject" not in body and not all(isinstance(p, dict) and "subject" in p for p in people):
            problems.append(
                (
                    "The subject is required. You can get around this requirement if you use a "
                    "template with a subject defined or if every personalization has a subject defined.",
                    "subject",
                )
            )
    if "reply_to" in body and "reply_to_list" in body:
        problems.append(("The reply_to and reply_to_list fields are mutually exclusive.", "reply_to_list"))
    return problems


def accepted_records(
    body: dict[str, Any], message_id: str, *, keep_text: bool, now: float
) -> list[InboxRecord]:
    """One record per recipient of a valid body."""
    top_args = body.get("custom_args") or {}
    text: str | None = None
    if keep_text:
        content = body.get("content") or []
        plain = [c["value"] for c in content if c.get("type") == "text/plain"]
        text = plain[0] if plain else (content[0]["value"] if content else None)
    records: list[InboxRecord] = []
    for p in body["personalizations"]:
        args = p.get("custom_args") or top_args
        if top_args and args is not top_args:
            args = {**top_args, **args}
        delivery_id = _text_or_none(args.get("delivery_id"))
        key = _text_or_none(args.get("idempotency_key"))
        subject = p.get("subject", body.get("subject")) if keep_text else None
        for kind in ("to", "cc", "bcc"):
            for who in p.get(kind, ()):
                records.append(
                    InboxRecord(Channel.EMAIL, message_id, who["email"], delivery_id, key, subject, text, now)
                )
    return records


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _read_limited(raw: bytes, encoding: str | None) -> bytes | None:
    """The body, gunzipped when sent so; None when it is over 30 MB."""
    if len(raw) > MAX_BODY:
        return None
    if encoding and encoding.lower() == "gzip":
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        raw = inflater.decompress(raw, MAX_BODY + 1)
        if len(raw) > MAX_BODY:
            return None
    return raw


def router(state: SandboxState) -> APIRouter:
    api = APIRouter()
    _validators()  # compile the schema now, not on the first request

    @api.post("/v3/mail/send", status_code=202)
    async def mail_send(request: Request) -> Response:
        config = state.config
        key = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        authorised = key == config.sendgrid_api_key if config.sendgrid_api_key else key.startswith("SG.")
        if not request.headers.get("authorization", "").startswith("Bearer ") or not authorised:
            return sendgrid_errors(401, [("authorization required", None)])
        if int(request.headers.get("content-length") or 0) > MAX_BODY:
            return sendgrid_errors(413, [("content too large", None)])
        try:
            raw = _read_limited(await request.body(), request.headers.get("content-encoding"))
            if raw is None:
                return sendgrid_errors(413, [("content too large", None)])
            body = boundedjson.loads(raw, max_depth=MAX_JSON_DEPTH)
        except (ValueError, zlib.error):
            return sendgrid_errors(400, [("The JSON you have submitted cannot be parsed.", None)])
        now = time.time()
        problems = schema_problems(body)
        problems += rule_problems(body, now=now)
        if problems:
            return sendgrid_errors(400, problems)
        message_id = secrets.token_urlsafe(16)
        records = accepted_records(body, message_id, keep_text=config.keep_text, now=now)
        state.inbox.add(records, [r.delivery_id or r.idempotency_key for r in records])
        send_sendgrid_events(state, body, message_id)
        return Response(status_code=202, headers={"X-Message-Id": message_id})

    return api
