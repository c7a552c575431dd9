"""Delivery events the sandbox sends back, signed as the real providers sign them.

After a message is accepted, and ``event_delay_ms`` later, the sandbox tells what became of it:

* **SendGrid** (when ``sendgrid_event_url`` is set): one Event Webhook POST per request, a JSON array
  with ``processed`` then ``delivered`` per recipient, or ``bounce`` for a share ``bounce_rate`` of
  them and ``dropped`` for a share ``drop_rate``. Each event carries ``email``, ``timestamp``,
  ``sg_event_id``, ``sg_message_id`` (``<X-Message-Id>.<recipient>``) and the personalization's
  custom args as top-level keys, as SendGrid does. The body ends with CRLF, and is signed with the
  sandbox's own key pair (:data:`SENDGRID_SANDBOX_EVENT_PUBLIC_KEY` is what clarion is configured
  with): ``X-Twilio-Email-Event-Webhook-Signature`` is base64 DER ECDSA P-256 / SHA-256 over
  ``timestamp + body``, and ``X-Twilio-Email-Event-Webhook-Timestamp`` the timestamp.
* **Twilio** (when the message named a ``StatusCallback``): a form POST to that URL with ``sent``,
  then ``delivered``, or ``failed`` (30008) for a share ``sms_failure_rate`` and ``undelivered``
  (30003) for a share ``sms_undelivered_rate``. ``X-Twilio-Signature`` is base64 HMAC-SHA1 under the
  account's auth token of the URL followed by every parameter, sorted by name, as ``name + value``;
  ``I-Twilio-Idempotency-Token`` names each callback.

The signing here is the sandbox's own (it does not use clarion's verification code, which its tests
check it against). A post that fails is logged (no address) and not retried: the sandbox is not a
queue. Events go out from the server's event loop, so they never hold up the answer to the send.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Mapping
from functools import cache
from typing import Any, Final

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_private_key

from channels.sandbox.state import SandboxState

logger = logging.getLogger(__name__)

SENDGRID_SANDBOX_EVENT_PRIVATE_KEY: Final = (
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgQnVz/lQ1jsP56t9pQg6DFTlSp09/hMKnmBEa1SMQxSWhRANCAARSXlqs"
    "XT7LizUEUx62ygJDAImuW1Kl3pbxtiPJyytI9MG8kabxa5ZN4uTNwwuba7NtpIuuEjhZ1YquLTGxpM2m"
)
"""The sandbox's event-signing key (base64 DER PKCS#8): public, like its other credentials."""
SENDGRID_SANDBOX_EVENT_PUBLIC_KEY: Final = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEUl5arF0+y4s1BFMetsoCQwCJrltSpd6W8bYjycsrSPTBvJGm8WuWTeLkzcMLm2uzbaSLrhI4"
    "WdWKri0xsaTNpg=="
)
"""Its verification key, as SendGrid shows one: set ``CLARION_SENDGRID_EVENT_PUBLIC_KEY`` to it."""

POST_TIMEOUT: Final = 10.0
_tasks: set[asyncio.Task[None]] = set()


@cache
def _signing_key() -> ec.EllipticCurvePrivateKey:
    key = load_der_private_key(base64.b64decode(SENDGRID_SANDBOX_EVENT_PRIVATE_KEY), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def sign_sendgrid(timestamp: str, body: bytes) -> str:
    """SendGrid's signature of an Event Webhook post: base64 DER ECDSA P-256 over timestamp + body."""
    return base64.b64encode(
        _signing_key().sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    ).decode()


def sign_twilio(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """Twilio's ``X-Twilio-Signature``: base64 HMAC-SHA1 of the URL and the sorted name + value pairs."""
    message = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), message.encode(), hashlib.sha1).digest()).decode()


def _later(coro: Any) -> None:
    task = asyncio.get_running_loop().create_task(coro)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


DRAIN_SECONDS: Final = 2.0


async def drain() -> None:
    """Let this loop's posts end when the sandbox stops: each still waiting returns (``closing``),
    each under way gets ``DRAIN_SECONDS`` to finish, and only then are the rest cancelled. A post
    cancelled in the middle of its connection leaves connection attempts never awaited (anyio's
    happy eyeballs), which the tests' warning filter turns into an error somewhere later."""
    loop = asyncio.get_running_loop()
    pending = [task for task in _tasks if task.get_loop() is loop and not task.done()]
    if not pending:
        return
    _, late = await asyncio.wait(pending, timeout=DRAIN_SECONDS)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)


# ── SendGrid ──────────────────────────────────────────────────────────────────────────────────────


def sendgrid_events(
    state: SandboxState, body: Mapping[str, Any], message_id: str, now: float
) -> list[dict[str, Any]]:
    """What SendGrid would report of one accepted request, recipient by recipient."""
    config = state.config
    top = body.get("custom_args") if isinstance(body.get("custom_args"), dict) else {}
    events: list[dict[str, Any]] = []
    n = 0
    for personalization in body.get("personalizations") or []:
        args = {**(top or {}), **(personalization.get("custom_args") or {})}
        for field in ("to", "cc", "bcc"):
            for who in personalization.get(field) or []:
                n += 1
                common = {**args, "email": who["email"], "sg_message_id": f"{message_id}.sandbox-{n}"}
                roll = state.chance()
                if roll < config.drop_rate:
                    outcomes = [("dropped", {"reason": "Bounced Address"})]
                elif roll < config.drop_rate + config.bounce_rate:
                    bounce = {"type": "bounce", "status": "5.1.1", "reason": "550 5.1.1 no such user"}
                    outcomes = [("processed", {}), ("bounce", bounce)]
                else:
                    outcomes = [("processed", {}), ("delivered", {"response": "250 OK"})]
                for step, (event, extra) in enumerate(outcomes):
                    events.append(
                        {
                            **common,
                            **extra,
                            "event": event,
                            "timestamp": int(now) + step,
                            "sg_event_id": secrets.token_urlsafe(16),
                        }
                    )
    return events


def send_sendgrid_events(state: SandboxState, body: Mapping[str, Any], message_id: str) -> None:
    """Post what became of an accepted request to the Event Webhook, later (see the module)."""
    config = state.config
    if config.sendgrid_event_url is None:
        return
    url, delay = config.sendgrid_event_url, config.event_delay_ms / 1000
    events = sendgrid_events(state, body, message_id, time.time())

    async def post() -> None:
        await asyncio.sleep(delay)
        if state.closing:  # the sandbox stops: no new connection
            return
        raw = json.dumps(events, separators=(",", ":")).encode() + b"\r\n"
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Twilio-Email-Event-Webhook-Signature": sign_sendgrid(timestamp, raw),
            "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
        }
        await _post(url, content=raw, headers=headers, what="sendgrid events")

    _later(post())


# ── Twilio ────────────────────────────────────────────────────────────────────────────────────────


def twilio_final(state: SandboxState) -> tuple[str, str | None]:
    """The status a message ends in, and its error code."""
    config, roll = state.config, state.chance()
    if roll < config.sms_failure_rate:
        return "failed", "30008"
    if roll < config.sms_failure_rate + config.sms_undelivered_rate:
        return "undelivered", "30003"
    return "delivered", None


def send_twilio_callbacks(state: SandboxState, callback: str, message: Mapping[str, str]) -> None:
    """Post the message's ``sent`` and final status to its ``StatusCallback``, signed, later."""
    config = state.config
    final, code = twilio_final(state)
    token, delay = config.twilio_auth_token, config.event_delay_ms / 1000

    async def post() -> None:
        await asyncio.sleep(delay)
        for status in ("sent", final):
            if state.closing:  # the sandbox stops: no new connection
                return
            params = {**message, "MessageStatus": status, "SmsStatus": status, "ApiVersion": "2010-04-01"}
            if status == final and code is not None:
                params["ErrorCode"] = code
            headers = {
                "X-Twilio-Signature": sign_twilio(token, callback, params),
                "I-Twilio-Idempotency-Token": secrets.token_hex(16),
            }
            await _post(callback, data=params, headers=headers, what="twilio status callback")

    _later(post())


async def _post(url: str, *, what: str, headers: dict[str, str], **body: Any) -> None:
    try:
        async with httpx.AsyncClient(timeout=POST_TIMEOUT) as client:
            answer = await client.post(url, headers=headers, **body)
        if answer.status_code >= 300:
            logger.warning("sandbox %s: %s answered %s", what, httpx.URL(url).host, answer.status_code)
    except httpx.HTTPError as exc:
        logger.warning("sandbox %s: %s failed: %s", what, httpx.URL(url).host, type(exc).__name__)
