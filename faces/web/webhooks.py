"""Provider webhooks: SendGrid's Event Webhook and Twilio's status callbacks feed the delivery ledger.

Both check the provider's signature over the request exactly as it arrived (raw bytes for SendGrid,
every received form parameter for Twilio) before acting on anything, then apply the events with
:mod:`clarion.outbox.events` in one transaction, and answer 2xx so the provider stops retrying.
A bad or missing signature is 403. Nothing personal (addresses, phone numbers, bodies) is logged:
only counts.

Bodies are bounded before a route reads them (:mod:`faces.web.limits`: a few MB for SendGrid's
batches, tens of KB for Twilio's forms; 413 beyond). A SendGrid body is parsed only once its
signature verified, and never deeper than :data:`~faces.web.limits.MAX_JSON_DEPTH` levels (400); an
entry of the array that is not an object is counted as ``ignored``. A Twilio form may carry at most
:data:`TWILIO_MAX_FIELDS` parameters (400); it is parsed before it is verified, because Twilio's
signature covers the parsed parameters. Events whose identifiers are too long to be the provider's
are ignored by the ledger (:data:`clarion.outbox.events.MAX_KEY_CHARS`).

``POST /webhooks/sendgrid/events`` (JSON array of events)
    Verified with ``CLARION_SENDGRID_EVENT_PUBLIC_KEY`` (headers
    ``X-Twilio-Email-Event-Webhook-Signature`` and ``-Timestamp``). Without that key:

    * when ``CLARION_SENDGRID_API_KEY`` is set, mail goes to the real SendGrid, so unsigned events
      could be forged by anyone: every post is refused with **503** and a message naming the setting
      (SendGrid retries for 24 hours, so nothing is lost while the key is being configured);
    * when it is not set either, mail goes to the provider sandbox and no real event can exist: posts
      are accepted unverified, with a warning in the log on every post (the zero-account demo).

    No timestamp window is enforced (SendGrid documents none and retries for 24 hours); duplicates
    are recognised by the ledger. Answers 200 with the batch summary.

``POST /webhooks/twilio/status`` (form)
    Verified with ``CLARION_TWILIO_AUTH_TOKEN`` against ``CLARION_PUBLIC_URL`` + the path and query
    (the URL Twilio was given). Without any Twilio credentials the sandbox's token is used
    (``channels.sms.SANDBOX_AUTH_TOKEN``); an account SID without a token is a 503. Answers 204.

``POST /webhooks/twilio/inbound`` (form; the number's or Messaging Service's "a message comes in" URL)
    Verified like the status callbacks. The keywords are Twilio's: Advanced Opt-Out's
    ``OptOutType`` when it sends one, else the whole body against Twilio's default words (STOP,
    UNSUBSCRIBE, END, QUIT, STOPALL, REVOKE, OPTOUT, CANCEL; START, YES, UNSTOP; HELP, INFO).
    STOP ends the number's status page subscription and withdraws SMS consent of every recipient
    with the number; START undoes what STOP did (:mod:`clarion.subscriptions.manage`). Twilio itself
    confirms STOP and START to the sender, so the answer is an empty TwiML ``<Response/>``; HELP is
    answered with who we are and how to stop (``templates/notice/subscription-help``), unless Advanced
    Opt-Out already answered it. Any other message is ignored (an empty ``<Response/>``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from channels.email_events import apply_sendgrid_events
from channels.signatures import (
    SENDGRID_SIGNATURE_HEADER,
    SENDGRID_TIMESTAMP_HEADER,
    TWILIO_SIGNATURE_HEADER,
    verify_sendgrid,
    verify_twilio,
)
from channels.sms_events import apply_twilio_status
from clarion.audiences.unsubscribe import secret_key
from clarion.errors import ConfigError, InputError
from clarion.models import utcnow
from clarion.outbox.events import EventSummary
from clarion.settings import Settings
from clarion.store import session_scope
from clarion.subscriptions.choices import check_phone
from clarion.subscriptions.manage import Keyword, KeywordOutcome, keyword_of, sms_keyword
from clarion.subscriptions.notices import help_reply
from faces.web.limits import load_json
from faces.web.subscribe_pages import renderer_of

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/webhooks", tags=["webhooks"])

TWILIO_IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"
"""The sandbox's Twilio auth token when ``channels.sms`` does not (yet) define ``SANDBOX_AUTH_TOKEN``."""

_FORM = "application/x-www-form-urlencoded"
TWILIO_MAX_FIELDS = 64
"""Parameters a status callback may carry: Twilio sends about fifteen (and adds new ones at times)."""


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _engine(request: Request) -> sa.Engine:
    engine: sa.Engine = request.app.state.engine
    return engine


def _refuse(status_code: int, message: str) -> PlainTextResponse:
    return PlainTextResponse(message + "\n", status_code=status_code)


# ── SendGrid ──────────────────────────────────────────────────────────────────────────────────────


def _apply_sendgrid(engine: sa.Engine, events: list[Any]) -> EventSummary:
    with session_scope(engine) as session:
        return apply_sendgrid_events(session=session, events=events)


@router.post("/sendgrid/events")
async def sendgrid_events(request: Request) -> Response:
    """Apply a signed SendGrid Event Webhook post."""
    settings = _settings(request)
    raw = await request.body()
    public_key = settings.sendgrid_event_public_key
    if public_key:
        signature = request.headers.get(SENDGRID_SIGNATURE_HEADER, "")
        timestamp = request.headers.get(SENDGRID_TIMESTAMP_HEADER, "")
        try:
            genuine = bool(signature and timestamp) and verify_sendgrid(public_key, signature, timestamp, raw)
        except ConfigError as exc:
            logger.error("sendgrid events refused: %s", exc)
            return _refuse(503, f"CLARION_SENDGRID_EVENT_PUBLIC_KEY is unusable: {exc}")
        if not genuine:
            logger.warning("sendgrid events refused: bad or missing signature")
            return _refuse(403, "invalid or missing event webhook signature")
    elif settings.sendgrid_api_key is not None:
        logger.error("sendgrid events refused: CLARION_SENDGRID_EVENT_PUBLIC_KEY is not set")
        return _refuse(
            503,
            "signed event webhook not configured: set CLARION_SENDGRID_EVENT_PUBLIC_KEY to the "
            "verification key from SendGrid (Mail Settings > Event Webhook > Signed Event Webhook)",
        )
    else:
        logger.warning("sendgrid events accepted UNVERIFIED: sandbox mode (no SendGrid credentials)")
    try:
        events = load_json(raw)  # bounded nesting: a deep array is a 400, not a RecursionError
    except InputError as exc:
        return _refuse(400, str(exc))
    if not isinstance(events, list):
        return _refuse(400, "body is not a JSON array of events")
    summary = await run_in_threadpool(_apply_sendgrid, _engine(request), events)
    logger.info("sendgrid events: %s", summary.as_dict())
    return JSONResponse(summary.as_dict())


# ── Twilio ────────────────────────────────────────────────────────────────────────────────────────


def twilio_auth_token(settings: Settings) -> str | None:
    """The token Twilio signs with: the configured one, the sandbox's without credentials, else None."""
    if settings.twilio_auth_token is not None:
        return settings.twilio_auth_token.get_secret_value()
    if settings.twilio_account_sid:
        return None  # half configured: a real account whose token we do not know
    from channels.sms import SANDBOX_AUTH_TOKEN

    return SANDBOX_AUTH_TOKEN


def public_request_url(settings: Settings, request: Request) -> str:
    """The URL the provider called: the public base URL, this route's path and the raw query."""
    path = request.url.path
    root = str(request.scope.get("root_path", ""))
    if root and path.startswith(root):
        path = path[len(root) :]
    query = request.url.query
    return settings.public_url.rstrip("/") + path + (f"?{query}" if query else "")


def _apply_twilio(engine: sa.Engine, params: Mapping[str, str], token: str | None) -> EventSummary:
    with session_scope(engine) as session:
        return apply_twilio_status(session=session, params=params, idempotency_token=token)


async def _twilio_form(request: Request, what: str) -> dict[str, str] | Response:
    """The parameters of a Twilio form post, once its signature checks out; else the refusal."""
    settings = _settings(request)
    token = twilio_auth_token(settings)
    if token is None:
        logger.error("%s refused: CLARION_TWILIO_AUTH_TOKEN is not set", what)
        return _refuse(503, "Twilio webhooks not configured: set CLARION_TWILIO_AUTH_TOKEN")
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != _FORM:
        return _refuse(415, f"expected {_FORM}")
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return _refuse(400, "body is not a UTF-8 form")
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=TWILIO_MAX_FIELDS)
    except ValueError:
        return _refuse(400, f"body is not a form of at most {TWILIO_MAX_FIELDS} parameters")
    params: dict[str, list[str]] = {}
    for name, value in pairs:
        params.setdefault(name, []).append(value)
    url = public_request_url(settings, request)
    if not verify_twilio(token, url, params, request.headers.get(TWILIO_SIGNATURE_HEADER, "")):
        logger.warning("%s refused: bad or missing signature", what)
        return _refuse(403, "invalid or missing X-Twilio-Signature")
    return {name: values[0] for name, values in params.items()}


@router.post("/twilio/status", status_code=204)
async def twilio_status(request: Request) -> Response:
    """Apply a signed Twilio message status callback."""
    flat = await _twilio_form(request, "twilio status")
    if isinstance(flat, Response):
        return flat
    idempotency = request.headers.get(TWILIO_IDEMPOTENCY_HEADER)
    summary = await run_in_threadpool(_apply_twilio, _engine(request), flat, idempotency)
    logger.info("twilio status: %s", summary.as_dict())
    return Response(status_code=204)


# ── Twilio: messages people send us ───────────────────────────────────────────────────────────────


def twiml(reply: str | None = None) -> Response:
    """Twilio's answer: an empty ``<Response/>``, or one that texts ``reply`` back."""
    message = f"<Message>{escape(reply)}</Message>" if reply else ""
    body = f'<?xml version="1.0" encoding="UTF-8"?><Response>{message}</Response>'
    return Response(body, media_type="application/xml")


def _apply_keyword(engine: sa.Engine, number: str, keyword: Keyword) -> KeywordOutcome:
    with session_scope(engine) as session:
        return sms_keyword(session=session, number=number, keyword=keyword, now=utcnow())


@router.post("/twilio/inbound")
async def twilio_inbound(request: Request) -> Response:
    """A signed incoming message: STOP, START and HELP as Twilio means them; anything else ignored."""
    params = await _twilio_form(request, "twilio inbound")
    if isinstance(params, Response):
        return params
    opt_out_type = params.get("OptOutType") or None
    keyword = keyword_of(params.get("Body", ""), opt_out_type)
    try:
        number = check_phone(params.get("From", ""))
    except ValueError:
        number = None  # a short code or an alphanumeric sender: no subscription to change
    if keyword is None or number is None:
        return twiml()
    outcome = await run_in_threadpool(_apply_keyword, _engine(request), number, keyword)
    logger.info("twilio inbound: %s, %d changes", keyword.value, outcome.changed)
    if keyword is Keyword.HELP and opt_out_type is None:  # with Advanced Opt-Out, Twilio answered
        key = secret_key(_settings(request))
        return twiml(help_reply(renderer_of(request, key), outcome.locale))
    return twiml()
