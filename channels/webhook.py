"""Webhook: each notice as one signed JSON POST to a paging or ticket system (Standard Webhooks).

Setup
-----
1. At the receiver (a paging or ticketing tool's generic webhook, or your own relay) create an
   endpoint that accepts Standard Webhooks (https://www.standardwebhooks.com): it verifies
   ``webhook-signature`` and drops a ``webhook-id`` it has already taken.
2. Make one signing secret for all endpoints: ``whsec_`` and the base64 of 24 to 64 random bytes::

       python -c "import base64,secrets; print('whsec_'+base64.b64encode(secrets.token_bytes(32)).decode())"

   Give it to every receiver and set it as ``CLARION_WEBHOOK_SECRET``.
3. Name each endpoint in ``CLARION_WEBHOOK_ENDPOINTS``, a JSON object of names to URLs:
   ``{"oncall": "https://pager.example.com/hooks/abc123", "tickets": "https://…"}``. A name is a
   slug (``^[a-z][a-z0-9-]{0,62}$``); a responder's address on this channel is that name, never the
   URL (a URL may carry a token: it stays in the environment, out of playbooks, logs and ``repr``).
4. With ``CLARION_WEBHOOK_ENDPOINTS`` unset, clarion posts every name to the provider sandbox,
   ``{CLARION_SANDBOX_URL}/webhook/receive/<name>``, signed with :data:`SANDBOX_SECRET`.

The request: ``POST`` with ``webhook-id`` (:func:`webhook_id`: the message's idempotency key and when
its delivery was made, the same on every attempt: the receiver's dedupe key), ``webhook-timestamp``
(unix seconds of this attempt) and
``webhook-signature`` (``v1,`` + base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}``, made by the
``standardwebhooks`` reference library), body ``{"type": "clarion.notice", "timestamp": <when the
notice was made, ISO 8601 UTC>, "data": {"subject", "text", "link", "reference", "severity",
"status"}}`` (``null`` where a notice has none). The bytes signed are the bytes sent. Redirects are
not followed.

Limits: the spec asks for payloads under 20 KB; the serialised body is checked against
:data:`MAX_PAYLOAD_BYTES` before sending and a larger one is refused, never cut. The preview limits
are ours (the spec sets none per field): a body of 16 000 UTF-8 bytes leaves 4 KB of the 20 for the
envelope, the subject and link, and JSON escaping (a newline or quote takes two bytes), so a notice
that fits the preview almost always fits the payload; a subject of 200 graphemes keeps the headline
one line in a pager or ticket title.

Reference: the Standard Webhooks specification (github.com/standard-webhooks/standard-webhooks,
spec/standard-webhooks.md).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, Self
from urllib.parse import parse_qsl, urlsplit

import httpx
from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError
from standardwebhooks import Webhook

from channels.base import ChannelAdapter, http_error, http_url, require, transport_error
from clarion.channel_table import ChannelSpec, Form, Reach
from clarion.errors import ChannelError, ConfigError, PermanentChannelError
from clarion.files.text import first_unsafe, quoted, visible
from clarion.outbox.port import OutboundMessage, Presence, Reconciled, SendResult
from clarion.settings import Settings
from clarion.updates.limits import BYTES, GRAPHEMES, Limit

SANDBOX_SECRET: Final = "whsec_Y2xhcmlvbi1zYW5kYm94LXdlYmhvb2stc2VjcmV0ISE="  # noqa: S105 — the sandbox's, public on purpose
"""The sandbox's signing secret: base64 of the 32 bytes ``clarion-sandbox-webhook-secret!!``. The
sandbox double verifies with it; it signs nothing real."""

MAX_PAYLOAD_BYTES: Final = 20 * 1024
"""Standard Webhooks: "payloads < 20 KB". The adapter refuses a larger body; the double answers 413."""

ENDPOINTS_ENV: Final = "CLARION_WEBHOOK_ENDPOINTS"
KEY_ENV: Final = "CLARION_WEBHOOK_SECRET"
KEY_PREFIX: Final = "whsec_"
KEY_BYTES: Final = (24, 64)
"""Standard Webhooks: a symmetric secret is 24 to 64 bytes before base64."""
NOTICE_TYPE: Final = "clarion.notice"
SLUG: Final = re.compile(r"[a-z][a-z0-9-]{0,62}")


class WebhookSettings(BaseSettings):
    """The channel's own settings, read when an adapter is built (never at import)."""

    model_config = SettingsConfigDict(  # errors never echo a value: the URLs carry tokens
        env_prefix="CLARION_WEBHOOK_",
        env_file=".env",
        env_ignore_empty=True,
        extra="ignore",
        hide_input_in_errors=True,
    )

    endpoints: dict[str, SecretStr] | None = None
    secret: SecretStr | None = None


def load_settings() -> WebhookSettings:
    """The settings, or ConfigError naming the variable (never its value). Only the endpoints map
    can fail to read: the secret is any string until the adapter checks its form."""
    try:
        return WebhookSettings()
    except (SettingsError, ValidationError):
        raise ConfigError(
            f"webhook: {ENDPOINTS_ENV} must be a JSON object of endpoint names to URLs"
        ) from None


def _sandboxed(settings: Settings) -> bool:
    """True when no endpoint is configured. A configuration that cannot be read is not the sandbox:
    building the adapter then says what is wrong with it."""
    try:
        return load_settings().endpoints is None
    except ConfigError:
        return False


def check_address(value: str) -> str:
    """An endpoint name as stored, or ValueError. Never echoes the value: it may be a pasted URL."""
    name = value.strip()
    if "://" in name:
        raise ValueError(f"a webhook URL is a credential: name it in {ENDPOINTS_ENV} and give the name here")
    if not SLUG.fullmatch(name):
        raise ValueError(
            "an endpoint name is a lowercase letter, then up to 62 lowercase letters, digits or '-'"
        )
    return name


def signing_key(value: str | None) -> str:
    """``value`` when it is a Standard Webhooks secret (``whsec_`` + base64 of 24-64 bytes), else
    ConfigError naming the setting and never echoing the value."""
    value = (value or "").strip()  # a secret pasted with its newline
    require(value, channel=WebhookAdapter.channel, setting=KEY_ENV)
    if not value.startswith(KEY_PREFIX):
        raise ConfigError(f"webhook: {KEY_ENV} must start with {KEY_PREFIX!r}")
    encoded = value[len(KEY_PREFIX) :]
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"webhook: {KEY_ENV} is not base64 after {KEY_PREFIX!r}") from None
    low, high = KEY_BYTES
    if not low <= len(key) <= high:
        raise ConfigError(f"webhook: {KEY_ENV} holds {len(key)} bytes; a secret is {low} to {high}")
    return value


def webhook_id(message: OutboundMessage) -> str:
    """The ``webhook-id`` of a message: its idempotency key and the millisecond its delivery was
    made. The same on every attempt (the receiver's dedupe key), and never the id of a message of
    another database (keys restart with a new store; a receiver shared by two would drop one)."""
    made = int(message.created_at.timestamp() * 1000)
    return f"{message.idempotency_key}.{made}"


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """The ``webhook-signature`` value of ``body`` as the reference library makes it. ``body`` goes
    in as text, which every release signs as UTF-8 (older releases take no bytes)."""
    return Webhook(secret).sign(msg_id, datetime.fromtimestamp(timestamp, UTC), body)


def _adapter(settings: Settings, *, client: httpx.Client, engine: object) -> WebhookAdapter:
    return WebhookAdapter.from_settings(settings, client=client)


SPEC: Final = ChannelSpec(
    name="webhook",
    reach=Reach.INTERNAL,
    form=Form.SHORT,
    fields={"subject": "subject.txt.j2", "body": "body.txt.j2"},
    limits=(
        Limit("body", BYTES, 16_000),  # 20 KB payload less envelope, subject, link and JSON escaping
        Limit("subject", GRAPHEMES, 200),  # our choice (one line in a pager or ticket title), not the spec's
    ),
    adapter=_adapter,
    max_batch=10,  # posted one after another; a rate limit holds back only its own endpoint's
    requests_per_second=None,  # the spec publishes none; a receiver's 429 carries Retry-After
    no_duplicates=True,
    reconcile="resend: the receiver drops a repeated webhook-id (the same on every attempt), as Standard "
    "Webhooks asks of receivers; a receiver that does not dedupe may take a resend twice",
    settings=(ENDPOINTS_ENV, KEY_ENV),
    sandboxed=_sandboxed,
    provider="webhook",
    sandbox="channels.sandbox.webhook:router",
    check_address=check_address,
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class WebhookAdapter(ChannelAdapter):
    """Posts each message to the endpoint its address names; ``provider_id`` is the ``webhook-id``."""

    spec = SPEC

    def __init__(
        self,
        *,
        secret: SecretStr | str | None,
        client: httpx.Client,
        endpoints: Mapping[str, SecretStr | str] | None = None,
        sandbox_url: str | None = None,
        clock: Callable[[], datetime] = _utcnow,
        requests_per_second: float | None = None,
    ) -> None:
        """``endpoints`` (names to URLs) or, for the sandbox, ``sandbox_url``: exactly one."""
        super().__init__(requests_per_second=requests_per_second)
        if (endpoints is None) == (sandbox_url is None):
            raise ValueError("webhook: give endpoints or sandbox_url, not both or neither")
        raw = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        self._secret = SecretStr(signing_key(raw))
        self._endpoints = None if endpoints is None else _checked_endpoints(endpoints)
        urls = [] if self._endpoints is None else [u.get_secret_value() for u in self._endpoints.values()]
        self._hidden = _secret_pieces(urls)
        self._sandbox = (
            None
            if sandbox_url is None
            else http_url(sandbox_url, channel=self.channel, setting="CLARION_SANDBOX_URL")
        )
        self._client = client
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Settings, *, client: httpx.Client) -> Self:
        """The configured endpoints, or the provider sandbox when ``CLARION_WEBHOOK_ENDPOINTS`` is unset."""
        own = load_settings()
        if own.endpoints is None:
            return cls(secret=SANDBOX_SECRET, client=client, sandbox_url=settings.sandbox_url)
        return cls(secret=own.secret, client=client, endpoints=own.endpoints)

    def _describe(self) -> str:
        if self._endpoints is None:
            return f"sandbox {self._sandbox}"
        return "endpoints " + (", ".join(sorted(self._endpoints)) or "(none)")

    # ── send ──────────────────────────────────────────────────────────────────────────────────────

    def send(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        """Post each message to its endpoint, one after another. A rate limit or a refused signature
        holds back the rest of the batch bound for the same endpoint only: endpoints are separate
        receivers."""
        self._check_batch(messages)
        by_endpoint: dict[str | None, list[OutboundMessage]] = {}
        for message in messages:
            by_endpoint.setdefault(message.address, []).append(message)
        results = {
            result.delivery_id: result
            for group in by_endpoint.values()
            for result in self._send_each(group, self._post)
        }
        return [results[message.delivery_id] for message in messages]

    def _post(self, message: OutboundMessage) -> SendResult:
        name, url = self._endpoint(message.address)
        body = _body(message)
        try:
            raw = body.encode("utf-8")
        except UnicodeEncodeError:
            raise PermanentChannelError(
                "text is not valid Unicode (lone surrogate)", channel=self.channel
            ) from None
        if len(raw) > MAX_PAYLOAD_BYTES:
            raise PermanentChannelError(
                f"payload is {len(raw)} bytes, Standard Webhooks payloads stay within "
                f"{MAX_PAYLOAD_BYTES} bytes (20 KB); not sent",
                channel=self.channel,
            )
        timestamp = int(self._clock().timestamp())
        msg_id = webhook_id(message)
        headers = {
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self._secret.get_secret_value(), msg_id, timestamp, body),
            "content-type": "application/json",
        }
        try:
            response = self._client.post(url, content=raw, headers=headers, follow_redirects=False)
        except httpx.TransportError as exc:
            raise transport_error(exc, channel=self.channel) from exc
        if response.is_success:
            return SendResult(message.delivery_id, provider_id=msg_id)
        raise self._failure(response, name)

    def _endpoint(self, address: str | None) -> tuple[str, str]:
        """(name, URL) of the endpoint ``address`` names, or PermanentChannelError."""
        try:
            name = check_address(address or "")
        except ValueError as exc:
            raise PermanentChannelError(f"address: {exc}", channel=self.channel) from None
        if self._endpoints is None:
            return name, f"{self._sandbox}/webhook/receive/{name}"
        url = self._endpoints.get(name)
        if url is None:
            raise PermanentChannelError(f"no endpoint {name!r} in {ENDPOINTS_ENV}", channel=self.channel)
        return name, url.get_secret_value()

    def _failure(self, response: httpx.Response, name: str) -> ChannelError:
        """The error a non-2xx answer means. 3xx: redirects are not followed and a receiver that
        redirects is misconfigured, so a retry would meet the same (permanent); 410: the receiver
        disabled the endpoint (permanent); the rest as the base maps them (429 rate limit with
        Retry-After, 500/502/504 in doubt, 503 transient, other 4xx permanent)."""
        status = response.status_code
        said = visible(self._redacted(response.text[:4000]), limit=200) if response.text.strip() else ""
        what = f"endpoint {name!r} answered {status} {response.reason_phrase}".rstrip()
        if said:
            what += f": {said}"
        if 300 <= status < 400:
            return PermanentChannelError(
                f"{what}; redirects are not followed: set the final URL in {ENDPOINTS_ENV}",
                channel=self.channel,
                status_code=status,
            )
        if status == 410:
            return PermanentChannelError(
                f"{what}; the receiver disabled the endpoint", channel=self.channel, status_code=status
            )
        return http_error(response, channel=self.channel, message=what)

    def _redacted(self, text: str) -> str:
        """``text`` (a receiver's answer) without any part of a configured URL that may be a token."""
        for piece in self._hidden:
            text = text.replace(piece, "…")
        return text

    # ── reconcile ─────────────────────────────────────────────────────────────────────────────────

    def reconcile(self, messages: Sequence[OutboundMessage]) -> list[Reconciled]:
        """ABSENT for every message: a resend is harmless, not because we looked.

        A webhook receiver offers no lookup. But every attempt of a message carries the same
        ``webhook-id`` (its idempotency key), and Standard Webhooks asks receivers to process each id
        once; so a resend after a doubtful attempt is dropped if the first one arrived. That relies
        on the receiver following the spec and remembering ids for as long as clarion retries; one
        that does not dedupe takes the resend as a second notice.
        """
        return [Reconciled(m.delivery_id, Presence.ABSENT) for m in messages]


# ── helpers ───────────────────────────────────────────────────────────────────────────────────────


def _checked_endpoints(endpoints: Mapping[str, SecretStr | str]) -> dict[str, SecretStr]:
    """Each name a slug and each URL http(s) with a host; ConfigError naming the name, never the URL."""
    checked: dict[str, SecretStr] = {}
    for name, value in endpoints.items():
        if not SLUG.fullmatch(name):
            raise ConfigError(
                f"webhook: {ENDPOINTS_ENV}: {quoted(name)} is not an endpoint name (a slug such as 'oncall')"
            )
        url = value.get_secret_value() if isinstance(value, SecretStr) else value
        try:
            parts = urlsplit(url)
            usable = parts.scheme in ("http", "https") and bool(parts.hostname)
        except ValueError:  # "http://[::1": a malformed address
            usable = False
        if not usable or first_unsafe(url) is not None or any(c.isspace() for c in url):
            raise ConfigError(f"webhook: {ENDPOINTS_ENV}: the URL of {name!r} is not http(s) with a host")
        checked[name] = SecretStr(url)
    return checked


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:  # the store's naive timestamps are UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _body(message: OutboundMessage) -> str:
    """The JSON body, serialised once: these characters are signed and sent."""
    content = message.content
    envelope: dict[str, Any] = {
        "type": NOTICE_TYPE,
        "timestamp": _iso(message.created_at),
        "data": {
            "subject": content.subject,
            "text": content.text,
            "link": content.link,
            "reference": message.incident_reference or None,  # empty on a notice
            "severity": message.severity or None,
            "status": message.status or None,
        },
    }
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))


def _secret_pieces(urls: Sequence[str]) -> tuple[str, ...]:
    """Every part of ``urls`` that may be a token (whole URL, path and its segments, query and its
    values, fragment, user info), longest first; parts shorter than 6 characters are left alone."""
    pieces: set[str] = set()
    for url in urls:
        parts = urlsplit(url)
        pieces.update(
            (url, parts.path, parts.query, parts.fragment, parts.username or "", parts.password or "")
        )
        pieces.update(parts.path.split("/"))
        pieces.update(value for _key, value in parse_qsl(parts.query))
    return tuple(sorted((p for p in pieces if len(p) >= 6), key=len, reverse=True))
