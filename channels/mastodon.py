"""Mastodon: one public status per message, deduplicated by ``Idempotency-Key``; a story too long for
one status is a thread (the status, then each reply to the one before, each under its own key).

Setup
-----
1. Sign in as the account that speaks for you, then Preferences → Development → New application.
   Scope ``write:statuses`` is all clarion needs (the instance limits come from the public
   ``GET /api/v2/instance``). Copy "Your access token".
2. Set ``CLARION_MASTODON_BASE_URL`` (the instance, e.g. ``https://mastodon.social``, no path) and
   ``CLARION_MASTODON_ACCESS_TOKEN``.
3. With neither set, clarion posts to the provider sandbox (``CLARION_SANDBOX_URL``) with
   :data:`SANDBOX_TOKEN`.

Limits: the instance says how long a status may be (``configuration.statuses.max_characters``, and
what a URL counts, ``characters_reserved_per_url``); a longer text is refused here, before any
request. Rates: 300 requests per 5 minutes per account and 300 statuses per 3 hours; a 429 carries
``X-RateLimit-Reset`` as ISO 8601. Mastodon keeps each ``Idempotency-Key`` for an hour and answers a
repeat with the status it already created: see :meth:`MastodonAdapter.reconcile`.

Reference: docs.joinmastodon.org/methods/statuses (POST /api/v1/statuses, Idempotency-Key) and
docs.joinmastodon.org/api/rate-limits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Self

import httpx
from pydantic import SecretStr

from channels.base import (
    ChannelAdapter,
    http_error,
    http_url,
    require,
    secret,
    thread_error,
    transport_error,
)
from clarion.channel_table import ChannelSpec, Form, Reach
from clarion.errors import ChannelError, InDoubt, PermanentChannelError
from clarion.kinds import Channel
from clarion.outbox.port import OutboundMessage, Presence, Reconciled, SendResult
from clarion.settings import Settings
from clarion.updates.limits import MASTODON_CHARACTERS, MASTODON_URL_CHARS, Limit, mastodon_length

SANDBOX_TOKEN: Final = "sandbox-mastodon-token"  # noqa: S105 — the sandbox's, public on purpose
"""The access token the provider sandbox accepts."""

IDEMPOTENCY_WINDOW: Final = timedelta(minutes=55)
"""Mastodon keeps an Idempotency-Key for 60 minutes; 5 minutes spare for the resend to go out."""


@dataclass(frozen=True, slots=True)
class InstanceLimits:
    """What one instance allows in a status."""

    max_characters: int
    url_chars: int


# Mastodon's own defaults, used when the instance will not say (see MastodonAdapter._limits).
DEFAULT_LIMITS: Final = InstanceLimits(max_characters=500, url_chars=MASTODON_URL_CHARS)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _adapter(settings: Settings, *, client: httpx.Client, engine: object) -> MastodonAdapter:
    return MastodonAdapter.from_settings(settings, client=client)


SPEC: Final = ChannelSpec(
    name="mastodon",
    reach=Reach.BROADCAST,
    form=Form.SHORT,
    fields={"body": "body.txt.j2"},
    thread=4,  # the first post, and a reply for each part it leaves to its pointer
    limits=(Limit("body", MASTODON_CHARACTERS, 500),),  # the instance default; each URL counts 23
    adapter=_adapter,
    max_batch=10,  # one message per locale, posted one after another
    requests_per_second=1.0,  # 300 requests / 5 min per account
    no_duplicates=True,
    reconcile="resends with the same Idempotency-Key, which the instance keeps for an hour",
    settings=("CLARION_MASTODON_BASE_URL", "CLARION_MASTODON_ACCESS_TOKEN"),
    sandboxed=lambda settings: not (settings.mastodon_base_url or settings.mastodon_access_token),
    provider="mastodon",
    sandbox="channels.sandbox.mastodon:router",
)


class MastodonAdapter(ChannelAdapter):
    """Posts each message as a public status; ``provider_id`` is the status id."""

    spec = SPEC

    def __init__(
        self,
        *,
        base_url: str | None,
        access_token: SecretStr | str | None,
        client: httpx.Client,
        requests_per_second: float | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        super().__init__(requests_per_second=requests_per_second)
        token = secret(access_token)
        require(base_url, channel=self.channel, setting="CLARION_MASTODON_BASE_URL")
        require(token, channel=self.channel, setting="CLARION_MASTODON_ACCESS_TOKEN")
        assert base_url is not None and token is not None
        self._base_url = http_url(base_url, channel=Channel.MASTODON, setting="CLARION_MASTODON_BASE_URL")
        self._token = token
        self._client = client
        self._clock = clock
        self._lock = threading.Lock()
        self._instance: InstanceLimits | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, client: httpx.Client) -> Self:
        """The configured instance, or the provider sandbox when neither setting is given."""
        if settings.mastodon_base_url or settings.mastodon_access_token:
            return cls(
                base_url=settings.mastodon_base_url,
                access_token=settings.mastodon_access_token,
                client=client,
            )
        return cls(base_url=settings.sandbox_url, access_token=SANDBOX_TOKEN, client=client)

    def _describe(self) -> str:
        return self._base_url

    # ── send ──────────────────────────────────────────────────────────────────────────────────────

    def send(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        """Post each message in turn. A rate limit or a refused token ends the batch: the messages
        after it are not tried and carry the same error."""
        return self._send_each(messages, self._post)

    def _post(self, message: OutboundMessage) -> SendResult:
        """Post the message, and its thread's replies in order, each a reply to the one before.

        Every post of a thread is checked before the first is posted. Each has its own
        ``Idempotency-Key`` (the message's, then ``…/2``, ``…/3``), so a resend within the hour
        gets the posts that are up back from the instance and posts only the rest."""
        posts = (message.content.text, *message.content.thread)
        limits = self._limits()
        for number, text in enumerate(posts, 1):
            where = f"reply {number} of the thread" if number > 1 else "status"
            length = mastodon_length(text, url_chars=limits.url_chars)
            if length > limits.max_characters:
                raise PermanentChannelError(
                    f"{where} is {length} characters as Mastodon counts them, the instance allows "
                    f"{limits.max_characters}; nothing posted",
                    channel=self.channel,
                )
            _check_encodable(text, channel=self.channel)
        head = self._post_one(message, posts[0], message.idempotency_key, None)
        previous = head
        for number, text in enumerate(posts[1:], 2):
            try:
                previous = self._post_one(
                    message, text, f"{message.idempotency_key}/{number}", previous.provider_id
                )
            except ChannelError as exc:
                raise thread_error(exc, number=number, total=len(posts)) from exc
        return head

    def _post_one(self, message: OutboundMessage, text: str, key: str, reply_to: str | None) -> SendResult:
        body: dict[str, Any] = {"status": text, "visibility": "public"}
        if reply_to is not None:
            body["in_reply_to_id"] = reply_to
        if language := language_code(message.content.locale):
            body["language"] = language
        headers = {"Authorization": f"Bearer {self._token.get_secret_value()}", "Idempotency-Key": key}
        try:
            response = self._client.post(f"{self._base_url}/api/v1/statuses", json=body, headers=headers)
        except httpx.TransportError as exc:
            raise transport_error(exc, channel=self.channel) from exc
        if response.status_code != 200:
            raise http_error(response, channel=self.channel, message=_error_message(response))
        try:
            status = response.json()
            status_id = status["id"]
            if not isinstance(status_id, str | int) or isinstance(status_id, bool):
                raise TypeError(status_id)
        except (ValueError, KeyError, TypeError) as exc:
            # Mastodon answered 200, so the status exists; a resend within the hour replays it.
            raise InDoubt("status posted but the answer is unreadable", channel=self.channel) from exc
        url = status.get("url")
        return SendResult(
            message.delivery_id,
            provider_id=str(status_id),
            provider_status=url if isinstance(url, str) else None,
        )

    def _limits(self) -> InstanceLimits:
        """The instance's status limits, read once per adapter (threads share the answer)."""
        with self._lock:
            if self._instance is not None:
                return self._instance
            limits, final = self._read_instance()
            if final:
                self._instance = limits
            return limits

    def _read_instance(self) -> tuple[InstanceLimits, bool]:
        """(limits, whether to keep them). Falls back to Mastodon's defaults, 500 characters and
        23 per URL, when the instance will not say: a transient failure (network, 429, 5xx) is
        asked again on the next post; a definite answer without limits (404 on instances older than
        Mastodon 4.0, a body of another shape) is kept. An instance that allows less than the
        fallback still refuses with a 422, which is permanent, so nothing is posted half-checked."""
        try:
            response = self._client.get(f"{self._base_url}/api/v2/instance")
        except httpx.TransportError:
            return DEFAULT_LIMITS, False
        if response.status_code == 429 or response.status_code >= 500:
            return DEFAULT_LIMITS, False
        if response.status_code != 200:
            return DEFAULT_LIMITS, True
        try:
            statuses = response.json()["configuration"]["statuses"]
            limits = InstanceLimits(
                max_characters=_positive(statuses["max_characters"]),
                url_chars=_positive(statuses["characters_reserved_per_url"]),
            )
        except (ValueError, KeyError, TypeError):
            return DEFAULT_LIMITS, True
        return limits, True

    # ── reconcile ─────────────────────────────────────────────────────────────────────────────────

    def reconcile(self, messages: Sequence[OutboundMessage]) -> list[Reconciled]:
        """Whether a resend could duplicate, judged by the age of the last attempt.

        Mastodon offers no lookup by our key, but it stores each ``Idempotency-Key`` for an hour per
        account (``PostStatusService``: ``redis.setex(key, 3600, status.id)`` after a successful
        post) and answers a repeat with the status it created the first time. The key was stored
        when some attempt of the row succeeded, which was not before its first attempt
        (``first_attempt_at``, else ``created_at``); so while that first attempt is less than
        :data:`IDEMPOTENCY_WINDOW` old, a resend with the same key cannot make a second status:
        ABSENT ("resend is deduped"), and the resend's answer carries the original status id. Older
        than that, the key may have expired: UNKNOWN. (Anchoring on the latest attempt instead would
        call a key deduped that expired long ago.) A thread's replies were posted after its first
        attempt too, so the same window covers their keys: a resend gets the posts that are up back
        and posts the rest. The key is stored only after success, so two
        concurrent requests with one key could both post; the engine sends a delivery from one worker
        at a time, and looks a row up again only once a request of it can no longer be in flight.
        """
        now = self._clock()
        results: list[Reconciled] = []
        for message in messages:
            last = message.first_attempt_at or message.created_at
            if last.tzinfo is None:
                last = last.replace(tzinfo=UTC)
            deduped = now - last < IDEMPOTENCY_WINDOW
            results.append(Reconciled(message.delivery_id, Presence.ABSENT if deduped else Presence.UNKNOWN))
        return results


# ── helpers (channels.bluesky and bluesky_post keep their own copies of the first three) ────────────


def language_code(locale: str) -> str | None:
    """ISO 639-1 code of a locale ("de-AT", "pt_BR" → "de", "pt"); None when it has none."""
    code = locale.replace("_", "-").split("-", 1)[0].lower()
    return code if len(code) == 2 and code.isascii() and code.isalpha() else None


def _positive(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"not a positive integer: {value!r}")
    return value


def _check_encodable(text: str, *, channel: Channel) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PermanentChannelError("text is not valid Unicode (lone surrogate)", channel=channel) from exc


def _error_message(response: httpx.Response) -> str:
    """Mastodon's ``{"error": "..."}``, or the status line when the body is not that."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    return error if isinstance(error, str) and error else response.reason_phrase or "error"
