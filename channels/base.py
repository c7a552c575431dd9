"""The contract every channel adapter keeps, and the one place provider failures are classified.

An adapter is small: class data says what the provider allows (``max_batch``, the request rate,
whether a resend can ever duplicate) and two methods do the work: :meth:`ChannelAdapter.send` turns a
batch of :class:`~clarion.outbox.port.OutboundMessage` into provider requests and answers one
:class:`~clarion.outbox.port.SendResult` per message; :meth:`ChannelAdapter.reconcile` asks the
provider whether messages whose last attempt ended in doubt already arrived.

HTTP adapters take an injected :class:`httpx.Client`, so tests hand them a ``MockTransport`` or point
them at the provider sandbox. Failures are mapped here, once: :func:`transport_error` for httpx
exceptions (did the request leave the machine?) and :func:`http_error` for status codes. Secrets are
held as ``SecretStr`` and never appear in ``repr``.
"""

from __future__ import annotations

import email.utils
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import ClassVar
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from clarion.channel_table import ChannelSpec
from clarion.errors import (
    ChannelError,
    ConfigError,
    InDoubt,
    PermanentChannelError,
    RateLimited,
    TransientChannelError,
)
from clarion.kinds import Channel
from clarion.outbox.port import OutboundMessage, Presence, Reconciled, SendResult

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)

# A request that never left the machine cannot have been taken; one that left may have been.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
_MAYBE_SENT = (httpx.ReadTimeout, httpx.WriteTimeout, httpx.RemoteProtocolError, httpx.ReadError)


class ChannelAdapter(ABC):
    """Base of every adapter. Subclasses set the class data and implement :meth:`send`."""

    spec: ClassVar[ChannelSpec]
    """What the channel is (its module's ``SPEC``); the class data below is read from it."""
    channel: ClassVar[Channel]
    max_batch: ClassVar[int] = 1
    """Most messages one :meth:`send` call takes."""
    one_request_per_batch: ClassVar[bool] = False
    """True when :meth:`send` makes one provider request for the whole batch."""
    default_requests_per_second: ClassVar[float | None] = None
    """Stay under this by default; None when the provider publishes no limit."""
    no_duplicates: ClassVar[bool] = False
    """True when :meth:`reconcile` can always tell whether the provider has a message."""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        spec = cls.__dict__.get("spec")
        if isinstance(spec, ChannelSpec):
            cls.channel = Channel(spec.name)
            cls.max_batch = spec.max_batch
            cls.one_request_per_batch = spec.one_request_per_batch
            cls.default_requests_per_second = spec.requests_per_second
            cls.no_duplicates = spec.no_duplicates

    def __init__(self, *, requests_per_second: float | None = None) -> None:
        self.requests_per_second = (
            requests_per_second if requests_per_second is not None else self.default_requests_per_second
        )

    @abstractmethod
    def send(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        """Send a batch (at most ``max_batch``); one result per message, in the same order.

        Raise a :class:`~clarion.errors.ChannelError` when the whole batch failed alike.
        """

    def reconcile(self, messages: Sequence[OutboundMessage]) -> list[Reconciled]:
        """Whether the provider already has each message. The default cannot tell."""
        return [Reconciled(m.delivery_id, Presence.UNKNOWN) for m in messages]

    def close(self) -> None:  # noqa: B027 — optional hook, most adapters hold nothing to close
        """Release what the adapter holds (the injected client belongs to the caller)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._describe()}>"

    def _describe(self) -> str:
        """What ``repr`` shows: where the adapter sends, never a secret."""
        return ""

    # ── helpers for subclasses ────────────────────────────────────────────────────────────────────

    def _send_each(
        self, messages: Sequence[OutboundMessage], post: Callable[[OutboundMessage], SendResult]
    ) -> list[SendResult]:
        """Post messages one by one. After an error every following message would meet alike
        (:meth:`_ends_batch`), the rest carry it without a request."""
        self._check_batch(messages)
        results: list[SendResult] = []
        stop: ChannelError | None = None
        for message in messages:
            if stop is not None:
                results.append(SendResult(message.delivery_id, error=stop))
                continue
            try:
                result = post(message)
            except ChannelError as exc:
                result = SendResult(message.delivery_id, error=exc)
            results.append(result)
            if result.error is not None and self._ends_batch(result.error):
                stop = result.error
        return results

    def _reconcile_each(
        self, messages: Sequence[OutboundMessage], lookup: Callable[[OutboundMessage], Reconciled]
    ) -> list[Reconciled]:
        """Look messages up one by one; a lookup that fails answers for its own message only
        (``Reconciled.error``), unless every following lookup would meet it alike
        (:meth:`_ends_batch`, or a connection that failed before the request left), when the rest
        carry it without a request."""
        results: list[Reconciled] = []
        stop: ChannelError | None = None
        for message in messages:
            if stop is not None:
                results.append(Reconciled(message.delivery_id, Presence.UNKNOWN, error=stop))
                continue
            try:
                results.append(lookup(message))
            except ChannelError as exc:
                results.append(Reconciled(message.delivery_id, Presence.UNKNOWN, error=exc))
                unsent = isinstance(exc, TransientChannelError) and not isinstance(exc, InDoubt)
                if self._ends_batch(exc) or (unsent and exc.status_code is None):
                    stop = exc
        return results

    def _ends_batch(self, error: ChannelError) -> bool:
        """A rate limit or refused credentials meet every message of the batch alike."""
        return isinstance(error, RateLimited) or error.status_code == 401

    def _check_batch(self, messages: Sequence[OutboundMessage]) -> None:
        if len(messages) > self.max_batch:
            raise ValueError(f"{self.channel}: {len(messages)} messages, at most {self.max_batch} per batch")
        wrong = {m.channel for m in messages} - {self.channel}
        if wrong:
            raise ValueError(f"{self.channel} adapter handed {', '.join(sorted(wrong))} messages")


def require(value: object, *, channel: Channel, setting: str) -> None:
    """Fail fast, naming the setting, when an adapter is built without a value it needs."""
    if value is None or value == "":
        raise ConfigError(f"{channel}: {setting} is not set")


def http_url(url: str | None, *, channel: Channel, setting: str) -> str:
    """``url`` without a trailing slash when it is http(s) with a host; else ConfigError naming it."""
    try:
        parts = urlsplit(url or "")
        host = parts.hostname
    except ValueError:  # "http://[::1": a malformed address
        host = None
    if host is None or parts.scheme not in ("http", "https"):
        raise ConfigError(f"{channel}: {setting} must be an http(s) URL, got {url!r}")
    return (url or "").rstrip("/")


def secret(value: SecretStr | str | None) -> SecretStr | None:
    """A credential as ``SecretStr`` (None when empty), whichever form it came in."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return SecretStr(value) if value else None


def transport_error(exc: httpx.TransportError, *, channel: Channel) -> ChannelError:
    """Map an httpx failure: not sent → transient; maybe sent → in doubt."""
    what = type(exc).__name__
    if isinstance(exc, _NOT_SENT):
        return TransientChannelError(f"request not sent ({what})", channel=channel)
    if isinstance(exc, _MAYBE_SENT):
        timed_out = isinstance(exc, httpx.TimeoutException)  # the provider may still be working on it
        return InDoubt(f"no answer after the request went out ({what})", channel=channel, in_flight=timed_out)
    return InDoubt(f"transport failure ({what})", channel=channel)


def thread_error(error: ChannelError, *, number: int, total: int) -> ChannelError:
    """``error`` met by reply ``number`` of a ``total``-post thread whose earlier posts are up.

    The message is then partly posted, so nothing about it is certain any more: a refusal stays
    permanent (someone must look), anything else is in doubt, and the reconcile and the resend, which
    post each reply under its own key, finish the thread without posting a part twice.
    """
    where = f"post {number} of {total} of the thread ({number - 1} posted)"
    if isinstance(error, PermanentChannelError):
        return PermanentChannelError(
            f"{where}: {error}", channel=error.channel, status_code=error.status_code, code=error.code
        )
    return InDoubt(f"{where}: {error}", channel=error.channel, status_code=error.status_code, code=error.code)


def http_error(
    response: httpx.Response,
    *,
    channel: Channel,
    message: str,
    code: str | None = None,
    permanent: bool | None = None,
) -> ChannelError:
    """Map an HTTP error status to the error tree.

    429 is a rate limit (never processed, safe to retry); 500, 502 and 504 may have been processed
    (in doubt); 503 and other 5xx are transient; 4xx are permanent unless ``permanent`` says otherwise.
    """
    status = response.status_code
    if status == 429:
        return RateLimited(
            message, channel=channel, status_code=status, code=code, retry_after=retry_after(response.headers)
        )
    if permanent is None:
        permanent = 400 <= status < 500
    if permanent:
        return PermanentChannelError(message, channel=channel, status_code=status, code=code)
    if status in (500, 502, 504):
        return InDoubt(message, channel=channel, status_code=status, code=code)
    return TransientChannelError(message, channel=channel, status_code=status, code=code)


def retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds to wait, from whichever header the provider uses.

    ``Retry-After`` (seconds or an HTTP date), ``X-RateLimit-Reset`` (SendGrid: epoch seconds;
    Mastodon: ISO 8601) and ``RateLimit-Reset`` (Bluesky: epoch seconds).
    """
    now = now or datetime.now(UTC)
    lowered = {k.lower(): v for k, v in headers.items()}
    if (value := lowered.get("retry-after")) is not None:
        if value.strip().isdigit():
            return float(value)
        try:
            return max(0.0, (email.utils.parsedate_to_datetime(value) - now).total_seconds())
        except (TypeError, ValueError):
            return None
    for name in ("x-ratelimit-reset", "ratelimit-reset"):
        if (value := lowered.get(name)) is None:
            continue
        value = value.strip()
        try:
            number = float(value)
        except ValueError:
            try:
                return max(0.0, (datetime.fromisoformat(value) - now).total_seconds())
            except ValueError:
                return None
        # An epoch timestamp is far larger than any sensible delay in seconds.
        return max(0.0, number - now.timestamp()) if number > 1e9 else number
    return None
