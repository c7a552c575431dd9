"""Twilio ``Messages.json``: create, list and fetch, answered as Twilio answers (its API reference).

Auth is HTTP Basic ``AccountSid:AuthToken`` (:data:`~channels.sandbox.config.TWILIO_SANDBOX_SID` /
``TWILIO_SANDBOX_TOKEN`` by default); wrong → 401 code 20003. The form body is coerced (integers,
booleans, repeated keys → arrays) and validated against the official ``CreateMessageRequest``
schema, then the rules the schema leaves out, each with Twilio's code: To missing 21604, To not
E.164 21211, neither From nor MessagingServiceSid 21603, From not a number/short code/alphanumeric
ID 21212, no Body/MediaUrl/ContentSid 21602, Body over 1600 characters 21617, To opted out (replied
STOP) 21610. Other schema violations are 400 code 20001 naming the parameter (a sandbox choice:
Twilio documents no single code for them).

201 returns the Message resource (``status`` ``accepted`` with a Messaging Service, else
``queued``). Later GETs show it ``sent`` with ``date_sent`` set: the sandbox delivers at once.
``GET .../Messages.json`` filters on To, From, ``DateSent`` / ``DateSent<`` / ``DateSent>`` (a day
``YYYY-MM-DD``, inclusive, or an ISO-8601 instant) and pages newest first (``PageSize``, ``Page``,
``PageToken``), so a client can find out whether a message whose request timed out was created.

Twilio has no idempotency; the inbox's duplicate key is ``delivery_id`` when the StatusCallback URL
carries one as a query parameter, else the pair (To, Body).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
import secrets
import time
from functools import cache
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Request
from jsonschema import Draft202012Validator, FormatChecker
from starlette.responses import Response

from channels.sandbox.config import SCHEMAS, TWILIO_SANDBOX_FROM
from channels.sandbox.events import send_twilio_callbacks
from channels.sandbox.fastcheck import Check, compile_check
from channels.sandbox.inbox import InboxRecord
from channels.sandbox.responses import json_response, twilio_error
from channels.sandbox.state import SandboxState
from channels.sandbox.twilio_list import TwilioMessage, TwilioStore, list_page
from clarion.kinds import Channel
from clarion.updates.limits import sms_count

MAX_BODY_CHARS: Final = 1600
_E164: Final = re.compile(r"^\+[1-9]\d{1,14}$")
_SENDER: Final = re.compile(r"^(\+[1-9]\d{1,14}|\d{3,6}|(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11})$")
_INTEGER: Final = re.compile(r"^-?\d+$")


@cache
def _validators() -> tuple[dict[str, Any], Draft202012Validator, Check | None]:
    schema: dict[str, Any] = json.loads((SCHEMAS / "twilio_create_message_request.schema.json").read_text())
    checker = FormatChecker()
    return schema, Draft202012Validator(schema, format_checker=checker), compile_check(schema, checker)


def coerce_form(form: dict[str, list[str]]) -> dict[str, Any]:
    """Form values as the schema types them: everything arrives as a string."""
    properties = _validators()[0]["properties"]
    params: dict[str, Any] = {}
    for name, values in form.items():
        kind = properties.get(name, {}).get("type")
        value: Any = values[0]
        if kind == "array":
            value = values
        elif kind == "integer" and _INTEGER.match(value):
            value = int(value)
        elif kind == "number":
            with contextlib.suppress(ValueError):
                value = float(value)
        elif kind == "boolean" and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        params[name] = value
    return params


def check_request(params: dict[str, Any], opted_out: tuple[str, ...]) -> tuple[int, str] | None:
    """The first problem as (Twilio code, message), or None."""
    if not params.get("To"):
        return 21604, "A 'To' phone number is required."
    _, validator, fast = _validators()
    if fast is None or not fast(params):
        for error in validator.iter_errors(params):
            name = ".".join(str(p) for p in error.absolute_path) or "body"
            return 20001, f"Invalid parameter {name}: {error.message[:200]}"
    to = params["To"]
    if not _E164.match(to):
        return 21211, f"The 'To' number {to} is not a valid phone number."
    if not params.get("From") and not params.get("MessagingServiceSid"):
        return 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message."
    if params.get("From") and not _SENDER.match(params["From"]):
        return 21212, (
            f"The 'From' number {params['From']} is not a valid phone number, shortcode, "
            "or alphanumeric sender ID."
        )
    if not params.get("Body") and not params.get("MediaUrl") and not params.get("ContentSid"):
        return 21602, "Message body is required."
    if len(params.get("Body") or "") > MAX_BODY_CHARS:
        return 21617, f"The concatenated message body exceeds the {MAX_BODY_CHARS} character limit."
    if to in opted_out:
        return 21610, "Attempt to send to unsubscribed recipient"
    return None


def _authorised(request: Request, account_sid: str, state: SandboxState) -> bool:
    config = state.config
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    expected = (config.twilio_account_sid, config.twilio_auth_token)
    return secrets.compare_digest(f"{user}:{password}", ":".join(expected)) and account_sid == user


def _unauthorised() -> Response:
    return twilio_error(401, 20003, "Authenticate")


def _delivery_id(callback: Any) -> str | None:
    if not isinstance(callback, str) or "delivery_id" not in callback:
        return None
    values = parse_qs(urlsplit(callback).query).get("delivery_id")
    return values[0] if values else None


def _new_message(params: dict[str, Any], account_sid: str, now: float) -> TwilioMessage:
    body = params.get("Body")
    service = params.get("MessagingServiceSid")
    return TwilioMessage(
        sid="SM" + secrets.token_hex(16),
        account_sid=account_sid,
        to=params["To"],
        from_=params.get("From") or TWILIO_SANDBOX_FROM,
        requested_from=params.get("From"),
        messaging_service_sid=service,
        body=body,
        num_segments=sms_count(body).segments if body else 1,
        num_media=len(params.get("MediaUrl") or ()),
        created=now,
    )


def router(state: SandboxState) -> APIRouter:
    api = APIRouter()
    _validators()  # compile the schema now, not on the first request
    store = TwilioStore()
    state.on_reset(store.clear)
    base = "/2010-04-01/Accounts/{account_sid}/Messages"

    @api.post(base + ".json", status_code=201)
    async def create_message(account_sid: str, request: Request) -> Response:
        if not _authorised(request, account_sid, state):
            return _unauthorised()
        raw = (await request.body()).decode("utf-8", "replace")
        params = coerce_form(parse_qs(raw, keep_blank_values=True))
        problem = check_request(params, state.config.twilio_opted_out)
        if problem is not None:
            return twilio_error(400, *problem)
        now = time.time()
        message = _new_message(params, account_sid, now)
        store.add(message)
        delivery_id = _delivery_id(params.get("StatusCallback"))
        text = message.body if state.config.keep_text else None
        record = InboxRecord(Channel.SMS, message.sid, message.to, delivery_id, None, None, text, now)
        state.inbox.add([record], [delivery_id or (message.to, message.body)])
        callback = params.get("StatusCallback")
        if isinstance(callback, str) and callback:
            identity = {"MessageSid": message.sid, "SmsSid": message.sid, "AccountSid": account_sid}
            send_twilio_callbacks(state, callback, identity | {"From": message.from_, "To": message.to})
        return json_response(201, message.resource(created_view=True))

    @api.get(base + ".json")
    async def list_messages(account_sid: str, request: Request) -> Response:
        if not _authorised(request, account_sid, state):
            return _unauthorised()
        page = list_page(store, account_sid, dict(request.query_params))
        if isinstance(page, str):
            return twilio_error(400, 20001, page)
        return json_response(200, page)

    @api.get(base + "/{sid}.json")
    async def fetch_message(account_sid: str, sid: str, request: Request) -> Response:
        if not _authorised(request, account_sid, state):
            return _unauthorised()
        message = store.get(sid)
        if message is None or message.account_sid != account_sid:
            return twilio_error(
                404,
                20404,
                f"The requested resource /2010-04-01/Accounts/{account_sid}/Messages/{sid}.json "
                "was not found",
            )
        return json_response(200, message.resource(created_view=False))

    return api
