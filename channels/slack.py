"""Slack: notices to the people inside, by bot token (``chat.postMessage``) or incoming webhook.

Setup
-----
A responder's address on Slack is a conversation or user ID, or the name of an incoming webhook.

* **IDs** (``C0123ABCD9`` a channel, ``G…`` a private one, ``D…`` a direct message, ``U…``/``W…`` a
  person, whom the bot then messages directly): create a Slack app for your workspace (api.slack.com
  → Your apps → Create New App → From scratch), give its bot the scopes ``chat:write`` (to post),
  ``channels:history``, ``groups:history`` and ``im:history`` (to look a doubtful post up) and
  ``im:write`` (to find the direct conversation with a person), install it and set
  ``CLARION_SLACK_BOT_TOKEN`` to its Bot User OAuth Token (``xoxb-…``). Invite the bot to each
  channel it posts in (``/invite @your-app``).
* **Names** (``war-room``, lowercase letters, digits and ``-``): add one incoming webhook per
  destination (the app's Incoming Webhooks page → Add New Webhook) and set ``CLARION_SLACK_WEBHOOKS``
  to a JSON object of name → URL: ``{"war-room": "https://hooks.slack.com/services/T…/B…/…"}``. The
  URL is the credential: it lives in the environment only, never in a playbook, a people file, the
  store or a log. A message that carries no address goes to the webhook named ``default``.
* ``CLARION_SLACK_API_URL``: another Web API base, for GovSlack ``https://slack-gov.com/api/``.
* With neither the token nor a webhook set, clarion posts to the provider sandbox
  (``CLARION_SANDBOX_URL``): the Web API under ``/slack/api/`` with :data:`SANDBOX_TOKEN`, every
  webhook name under ``/slack/services/<name>``. With either set, an address the settings cannot
  serve is a permanent error naming the setting, never the sandbox.

The message
-----------
Block Kit built with ``slack_sdk.models.blocks``: a header with the subject (plain text, which Slack
never parses for mentions or links), the body as mrkdwn sections (its paragraphs packed into as few
sections as fit), and a last section with the link; ``text`` repeats it all as the notification
fallback. Slack's control characters ``&``, ``<`` and ``>`` are escaped in every mrkdwn text, and
the sections are ``verbatim``, so a notice can neither ping ``@channel`` nor forge a link
(:mod:`channels.slack_blocks`). The Block Kit limits are checked on the payload as built, escapes
included, before any request: a notice is refused whole, never cut. Slack takes about one message
per second per channel (short bursts allowed) and answers more with a 429 and ``Retry-After``.

Reconciliation
--------------
A post by bot token carries message metadata ``{"event_type": "clarion_notice", "event_payload":
{"idempotency_key": …, "delivery_id": …}}``. :meth:`SlackAdapter.reconcile` reads the conversation's
history from a minute before the first attempt (``conversations.history`` with
``include_all_metadata``; a person's direct conversation is found with ``conversations.open``) and
answers PRESENT with the message's ``ts`` when a message carries the key, ABSENT when the whole
window was read without it, UNKNOWN past :data:`HISTORY_PAGES` pages. (The app is your workspace's
own, so ``conversations.history`` is Tier 3, 50+ calls a minute; Slack allows apps distributed
outside its Marketplace one a minute.) An incoming webhook answers a bare ``ok`` and offers no
lookup: UNKNOWN, and its ``provider_id`` names the webhook (``webhook:<name>``), there being no id.

HTTP
----
``slack_sdk`` does its own HTTP (urllib), so the injected ``httpx.Client`` is not used for Slack; the
timeout is ``CLARION_PROVIDER_TIMEOUT``. The SDK's own retries are off: the delivery engine retries,
after asking :meth:`~SlackAdapter.reconcile`. The SDK logs through ``channels.slack.sdk``, kept above
DEBUG, where it would write a webhook's URL.

Reference: docs.slack.dev (chat.postMessage, incoming webhooks, rate limits); the Block Kit limits as
cited below.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta
from http.client import HTTPException
from typing import Any, Final, Self

import httpx
from pydantic import SecretStr
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookClient

from channels.base import ChannelAdapter, http_error, http_url, secret
from channels.slack_blocks import HEADER_CHARACTERS, SECTION_CHARACTERS, Payload, build_payload
from channels.slack_errors import AUTH_ERRORS, ERROR_CODE, api_error, response_headers, said, transport_error
from channels.slack_settings import ID, NAME, SLACK_API_URL, SlackSettings, check_address, slack_settings
from clarion.channel_table import ChannelSpec, Form, Reach
from clarion.errors import (
    ChannelError,
    ConfigError,
    InDoubt,
    PermanentChannelError,
)
from clarion.outbox.port import Content, OutboundMessage, Presence, Reconciled, SendResult
from clarion.settings import Settings
from clarion.updates.limits import CHARACTERS, Limit

SANDBOX_TOKEN: Final = "xoxb-clarion-sandbox"  # noqa: S105 — the sandbox's, public on purpose
"""The bot token the provider sandbox accepts."""
DEFAULT_WEBHOOK: Final = "default"
"""The webhook a message without an address goes to."""
EVENT_TYPE: Final = "clarion_notice"
"""The ``event_type`` of the metadata on every bot post; ``reconcile`` looks for it."""

HISTORY_PAGE: Final = 200
"""Messages one ``conversations.history`` call asks for (Slack allows up to 999)."""
HISTORY_PAGES: Final = 10
"""Pages one lookup reads at most; past them, the answer is UNKNOWN."""
LOOKBACK: Final = timedelta(minutes=1)
"""The history is read from this long before the first attempt (clocks differ)."""


def _adapter(settings: Settings, *, client: httpx.Client, engine: object) -> SlackAdapter:
    return SlackAdapter.from_settings(settings)  # slack_sdk speaks HTTP itself: ``client`` is unused


SPEC: Final = ChannelSpec(
    name="slack",
    reach=Reach.INTERNAL,
    form=Form.SHORT,
    fields={"subject": "subject.txt.j2", "body": "body.txt.j2"},
    check_address=check_address,
    limits=(Limit("body", CHARACTERS, SECTION_CHARACTERS), Limit("subject", CHARACTERS, HEADER_CHARACTERS)),
    payload_problem=lambda content: payload_problem(content),  # defined below, with the message
    adapter=_adapter,
    max_batch=5,  # posted one after another; a batch's notices mostly go to different conversations
    requests_per_second=1.0,  # "1 message per second" per channel, short bursts allowed
    no_duplicates=False,
    reconcile=(
        "by bot token: finds the message's key in the conversation's history (message metadata); "
        "by webhook: cannot tell, a resend is counted as a blind resend"
    ),
    settings=("CLARION_SLACK_BOT_TOKEN", "CLARION_SLACK_WEBHOOKS", "CLARION_SLACK_API_URL"),
    sandboxed=lambda settings: not slack_settings().configured,
    provider="slack",
    sandbox="channels.sandbox.slack:router",
)


def payload_problem(content: Content) -> str | None:
    """What Slack would refuse in the Block Kit message for ``content`` (a header or section over its
    characters, more than 50 blocks), or None; built offline, for the preview and for staging."""
    try:
        build_payload(content, channel=SPEC.name)
    except PermanentChannelError as exc:
        return str(exc).removeprefix(f"{SPEC.name}: ").removesuffix("; not posted")
    return None


# ── the adapter ───────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class _Webhook:
    name: str
    url: SecretStr


def _sdk_log() -> logging.Logger:
    """The SDK's logger, kept above DEBUG: its debug lines carry a webhook's URL."""
    sdk = logging.getLogger(f"{__name__}.sdk")
    if sdk.level == logging.NOTSET:
        sdk.setLevel(logging.INFO)
    return sdk


class SlackAdapter(ChannelAdapter):
    """Posts each notice to a conversation (bot token) or a webhook; ``provider_id`` is the message's
    ``ts``, or ``webhook:<name>`` for a webhook, which answers with no id."""

    spec = SPEC

    def __init__(
        self,
        *,
        bot_token: SecretStr | str | None = None,
        webhooks: Mapping[str, SecretStr | str] | None = None,
        api_url: str = SLACK_API_URL,
        webhook_root: str | None = None,
        timeout: float = 30.0,
        requests_per_second: float | None = None,
    ) -> None:
        """``webhook_root``: every name is a webhook under it (the sandbox); else ``webhooks``."""
        super().__init__(requests_per_second=requests_per_second)
        token = secret(bot_token)
        self._hooks = {name: url for name, value in (webhooks or {}).items() if (url := secret(value))}
        if token is None and not self._hooks and webhook_root is None:
            raise ConfigError("slack: set CLARION_SLACK_BOT_TOKEN or CLARION_SLACK_WEBHOOKS")
        self._api_url = http_url(api_url, channel=self.channel, setting="CLARION_SLACK_API_URL") + "/"
        self._webhook_root = webhook_root
        self._timeout = max(1, math.ceil(timeout))
        self._web = (
            None
            if token is None
            else WebClient(
                token=token.get_secret_value(),
                base_url=self._api_url,
                timeout=self._timeout,
                logger=_sdk_log(),
                retry_handlers=[],  # never resend on its own: the engine decides, after reconcile
            )
        )

    @classmethod
    def from_settings(cls, settings: Settings, slack: SlackSettings | None = None) -> Self:
        """The configured token and webhooks, or the provider sandbox when neither is set."""
        slack = slack or slack_settings()
        timeout = settings.provider_timeout
        if slack.configured:
            return cls(
                bot_token=slack.bot_token, webhooks=slack.webhooks, api_url=slack.api_url, timeout=timeout
            )
        sandbox = settings.sandbox_url.rstrip("/")
        return cls(
            bot_token=SANDBOX_TOKEN,
            api_url=f"{sandbox}/slack/api/",
            webhook_root=f"{sandbox}/slack/services/",
            timeout=timeout,
        )

    def _describe(self) -> str:
        if self._webhook_root is not None:
            return f"sandbox {self._api_url}"
        hooks = ", ".join(sorted(self._hooks)) or "none"
        return f"{self._api_url} bot token {'set' if self._web else 'unset'}, webhooks: {hooks}"

    def _ends_batch(self, error: ChannelError) -> bool:
        return super()._ends_batch(error) or error.code in AUTH_ERRORS

    # ── send ──────────────────────────────────────────────────────────────────────────────────────

    def send(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        """Post each message in turn (Slack takes one per request). A rate limit or a refused token
        ends the batch: the messages after it are not tried and carry the same error."""
        return self._send_each(messages, self._post)

    def _post(self, message: OutboundMessage) -> SendResult:
        target = self._target(message.address)
        payload = build_payload(message.content, channel=self.channel)
        if isinstance(target, _Webhook):
            return self._post_webhook(target, payload, message)
        metadata = {
            "event_type": EVENT_TYPE,
            "event_payload": {"idempotency_key": message.idempotency_key, "delivery_id": message.delivery_id},
        }
        web = self._web
        assert web is not None  # _target answers a conversation only with a client
        response = self._call(
            web.chat_postMessage,
            channel=target,
            text=payload.text,
            blocks=payload.blocks,
            metadata=metadata,
            unfurl_links=False,
            unfurl_media=False,
        )
        ts = response.get("ts")
        if not isinstance(ts, str) or not ts:  # "ok": the message exists; reconcile finds its ts
            raise InDoubt("chat.postMessage answered ok without the message's ts", channel=self.channel)
        return SendResult(message.delivery_id, provider_id=ts)

    def _target(self, address: str | None) -> str | _Webhook:
        """The conversation ID to post to, or the webhook; PermanentChannelError naming the setting."""
        name = DEFAULT_WEBHOOK if address is None else address
        if ID.fullmatch(name):
            if self._web is None:
                raise PermanentChannelError(
                    f"{name} is a conversation ID: posting to it needs CLARION_SLACK_BOT_TOKEN, "
                    "which is not set",
                    channel=self.channel,
                )
            return name
        if not NAME.fullmatch(name):
            raise PermanentChannelError("the address is not a Slack ID or webhook name", channel=self.channel)
        if self._webhook_root is not None:
            return _Webhook(name, SecretStr(self._webhook_root + name))
        url = self._hooks.get(name)
        if url is None:
            unaddressed = " (a message without an address goes there)" if address is None else ""
            raise PermanentChannelError(
                f"no webhook named {name!r} in CLARION_SLACK_WEBHOOKS{unaddressed}", channel=self.channel
            )
        return _Webhook(name, url)

    def _post_webhook(self, hook: _Webhook, payload: Payload, message: OutboundMessage) -> SendResult:
        client = WebhookClient(
            hook.url.get_secret_value(), timeout=self._timeout, logger=_sdk_log(), retry_handlers=[]
        )
        try:
            response = client.send(
                text=payload.text, blocks=payload.blocks, unfurl_links=False, unfurl_media=False
            )
        except (OSError, HTTPException) as exc:
            raise transport_error(exc, channel=self.channel) from exc
        status = response.status_code
        if 200 <= status < 300:
            return SendResult(message.delivery_id, provider_id=f"webhook:{hook.name}")
        body = (response.body or "").strip()
        code = body if ERROR_CODE.fullmatch(body) else None  # Slack answers a plain-text code
        headers = response_headers(response.headers)
        raise http_error(
            httpx.Response(status, headers=headers),
            channel=self.channel,
            message=said(f"webhook {hook.name!r}", code, status),
            code=code,
        )

    def _call(self, method: Callable[..., SlackResponse], **arguments: Any) -> SlackResponse:
        """One Web API call (a ``WebClient`` method), its failure mapped to the error tree."""
        try:
            return method(**arguments)
        except SlackApiError as exc:
            name = method.__name__.replace("_", ".")
            raise api_error(exc, method=name, channel=self.channel) from exc
        except (OSError, HTTPException) as exc:
            raise transport_error(exc, channel=self.channel) from exc

    # ── reconcile ─────────────────────────────────────────────────────────────────────────────────

    def reconcile(self, messages: Sequence[OutboundMessage]) -> list[Reconciled]:
        """Whether Slack has each message: a conversation's history is read for the message's key
        (see the module docstring); a webhook cannot tell."""
        return self._reconcile_each(messages, self._find)

    def _find(self, message: OutboundMessage) -> Reconciled:
        web, address = self._web, message.address
        if web is None or address is None or not ID.fullmatch(address):
            return Reconciled(message.delivery_id, Presence.UNKNOWN)  # a webhook: no lookup exists
        conversation = address
        if address[0] in "UW":  # a person: the bot's direct conversation with them
            opened = self._call(web.conversations_open, users=address)
            conversation = str((opened.get("channel") or {}).get("id") or "")
        since = message.first_attempt_at or message.created_at
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        oldest = f"{(since - LOOKBACK).timestamp():.6f}"
        cursor: str | None = None
        for _ in range(HISTORY_PAGES):
            page = self._call(
                web.conversations_history,
                channel=conversation,
                oldest=oldest,
                include_all_metadata=True,
                limit=HISTORY_PAGE,
                cursor=cursor,
            )
            for item in page.get("messages") or []:
                if _carries(item, message.idempotency_key):
                    return Reconciled(message.delivery_id, Presence.PRESENT, provider_id=str(item.get("ts")))
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not page.get("has_more") or cursor is None:
                return Reconciled(message.delivery_id, Presence.ABSENT)  # the whole window, read
        return Reconciled(message.delivery_id, Presence.UNKNOWN)  # more history than one lookup reads


def _carries(item: Any, key: str) -> bool:
    """The history item is our post of the message with ``key``."""
    metadata = item.get("metadata") if isinstance(item, dict) else None
    if not isinstance(metadata, dict) or metadata.get("event_type") != EVENT_TYPE:
        return False
    payload = metadata.get("event_payload")
    return isinstance(payload, dict) and payload.get("idempotency_key") == key
