"""What the delivery engine hands a channel adapter, and what it expects back.

The engine claims a batch of Delivery rows, turns each into an :class:`OutboundMessage`, and calls
:meth:`Sender.send`. An adapter answers with one :class:`SendResult` per message (accepted with the
provider's id, or the :class:`~clarion.errors.ChannelError` that message met), or raises a
``ChannelError`` that applies to the whole batch.

Errors say whether a retry is safe:

* :class:`~clarion.errors.PermanentChannelError`: never retried.
* :class:`~clarion.errors.TransientChannelError`: retried with backoff; the provider certainly did
  not take the message (connection refused, 429, a 503 before processing).
* :class:`~clarion.errors.InDoubt`: retried, but the provider may already have the message (a timeout
  after the request went out, a dropped connection, a 500). Before resending, the engine asks the
  adapter (:meth:`Sender.reconcile`) whether the provider has it. Adapters that cannot tell answer
  :attr:`Presence.UNKNOWN`, and the resend is counted as an uncertain send.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import ClassVar, Protocol

from clarion.errors import ChannelError
from clarion.kinds import Channel


@dataclass(frozen=True, slots=True)
class Content:
    """One rendition: the same words for every recipient of a batch."""

    rendition_id: int | None
    locale: str
    text: str
    subject: str | None = None
    html: str | None = None
    link: str | None = None
    thread: tuple[str, ...] = ()
    """Replies to ``text``, posted in order under it (channels whose spec threads)."""


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One Delivery row, ready to send. ``address`` is None on broadcast channels."""

    delivery_id: int
    idempotency_key: str
    channel: Channel
    content: Content
    incident_reference: str
    severity: str
    status: str
    created_at: datetime
    attempts: int = 0
    """Earlier attempts that may have reached the provider (this one not counted)."""
    first_attempt_at: datetime | None = None
    """When the row was first claimed: no copy of it can have reached the provider before then, so
    an in-doubt lookup searches from here (never from the latest claim)."""
    address: str | None = None
    audience: str | None = None
    recipient_id: int | None = None
    mandatory_reason: str | None = None
    unsubscribe_url: str | None = None
    incident_id: int | None = None
    update_id: int | None = None
    notice: str | None = None
    """The kind of notice this message is (``incident_reference``, ``severity`` and ``status`` are then
    empty), None for an update's message."""


@dataclass(frozen=True, slots=True)
class SendResult:
    """What became of one message: accepted (``error`` is None) or the error it met."""

    delivery_id: int
    provider_id: str | None = None
    provider_status: str | None = None
    error: ChannelError | None = None

    @property
    def accepted(self) -> bool:
        return self.error is None


class Presence(StrEnum):
    """Does the provider already have a message whose last attempt ended in doubt?"""

    PRESENT = "present"  # yes: record it as accepted, do not resend
    ABSENT = "absent"  # a resend cannot duplicate: the provider lacks it, or dedupes the resend
    UNKNOWN = "unknown"  # the provider offers no way to tell: a resend may duplicate


@dataclass(frozen=True, slots=True)
class Reconciled:
    delivery_id: int
    presence: Presence
    provider_id: str | None = None
    error: ChannelError | None = None
    """The lookup of this message failed (the presence is then UNKNOWN, and the message stays in
    doubt for a later lookup). One failed lookup never holds back the others of the batch."""


class Sender(Protocol):
    """A channel adapter as the engine sees it (``channels.base.ChannelAdapter`` implements it)."""

    channel: ClassVar[Channel]
    max_batch: ClassVar[int]
    """Most messages one :meth:`send` call takes (SendGrid: 1000 personalizations)."""
    one_request_per_batch: ClassVar[bool]
    """True when :meth:`send` makes one provider request for the whole batch (SendGrid)."""
    requests_per_second: float | None
    """Keep under the provider's limit; None when the provider publishes none."""
    no_duplicates: ClassVar[bool]
    """True when :meth:`reconcile` can always tell, so a resend after a crash never duplicates."""

    def send(self, messages: Sequence[OutboundMessage]) -> list[SendResult]: ...

    def reconcile(self, messages: Sequence[OutboundMessage]) -> list[Reconciled]: ...


@dataclass(frozen=True, slots=True)
class RequestSent:
    """What became of one prepared request: accepted with the provider's id, or the error it met."""

    provider_id: str | None = None
    error: ChannelError | None = None


class RequestBodies(Protocol):
    """Builds a provider request's body from its messages, once, when the request is sealed at
    staging (:mod:`clarion.outbox.prepared`). None when the messages cannot go as one request as
    they stand (an address that is not one, an address twice): their claim then sends them through
    :meth:`Sender.send`, which answers for each message."""

    def __call__(self, messages: Sequence[OutboundMessage]) -> bytes | None: ...


class PreparedSender(Sender, Protocol):
    """A sender of whole requests whose bodies are built ahead (SendGrid). Such a provider cannot be
    asked whether it has a message (``reconcile`` answers UNKNOWN): a request in doubt is resent
    blind, counted first."""

    def prepare(self, messages: Sequence[OutboundMessage]) -> bytes | None:
        """:class:`RequestBodies` of this sender's requests."""
        ...

    def send_prepared(self, body: bytes) -> RequestSent: ...
