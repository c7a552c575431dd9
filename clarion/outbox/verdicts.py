"""What an answer makes of a message: accepted, failed for good, or tried again later, and when.

The worker (:mod:`clarion.outbox.worker`) sends and looks messages up; each answer it gets, a send's
or a lookup's, becomes an :class:`~clarion.outbox.ledger.Outcome` here:

* a send accepted is accepted; a permanent error fails the message; a transient one (a 5xx, a
  timeout, a 429) tries it again after exponential backoff with full jitter, or after the provider's
  ``Retry-After``;
* a 429 is no attempt: the provider refused to process the request;
* after ``max_attempts`` attempts that may have reached the provider a message is given up with its
  last error, unless its provider can be asked whether the last one arrived (it is looked up first),
  or it must reach someone (a mandatory audience's), which is never given up on transient errors;
* a lookup's answer: present is accepted (the earlier attempt arrived), absent is sent again (or
  given up when its budget is spent), unknown is resent blind, and a lookup that failed is asked
  again later without counting an attempt.

What was sent is a :class:`Subject`: one message, or a request prepared at staging, whose one
outcome stands for all its rows.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from clarion.errors import ChannelError, InDoubt, PermanentChannelError, RateLimited, RecipientOptedOut
from clarion.kinds import Channel, DeliveryState
from clarion.models import utcnow
from clarion.outbox.ledger import Outcome
from clarion.outbox.port import OutboundMessage, Presence, Reconciled

SEND = "send"
"""A looked-up message the provider does not have: send it (again)."""
RESEND_BLIND = "resend blind"
"""A looked-up message the provider could not say it has: resend it, counted as a blind resend."""


class Subject(Protocol):
    """What the decisions read of what was sent: a message, or a prepared request."""

    @property
    def delivery_id(self) -> int: ...
    @property
    def channel(self) -> Channel: ...
    @property
    def attempts(self) -> int: ...
    @property
    def mandatory_reason(self) -> str | None: ...
    @property
    def recipient_id(self) -> int | None: ...


@dataclass
class Verdicts:
    """The rules, with the worker's budget and backoff; ``can_tell``: the channels whose provider can
    be asked whether a message arrived (Twilio, Mastodon, Bluesky; not SendGrid)."""

    can_tell: Mapping[Channel, bool]
    max_attempts: int
    backoff_base: float
    backoff_cap: float
    in_flight: timedelta
    rng: random.Random
    rate_limited: Callable[[Channel, RateLimited], None]
    """Told of every 429 a send met (the worker closes the provider's gate for its ``Retry-After``)."""

    def of_send(
        self,
        subject: Subject,
        error: ChannelError | None,
        provider_id: str | None,
        provider_status: str | None,
        *,
        blind: bool,
    ) -> Outcome:
        """What a send's answer makes of what was sent; ``blind``: it was resent after an attempt that
        may have arrived, so its outcome counts that attempt too."""
        made = 2 if blind else 1
        if error is None:
            return Outcome(
                subject.delivery_id,
                DeliveryState.ACCEPTED,
                provider_id=provider_id,
                provider_status=provider_status,
                uncertain_send=blind,
                attempts=made,
            )
        if isinstance(error, PermanentChannelError):
            return self.fail(subject, error, blind=blind, made=made)
        if isinstance(error, RateLimited):
            self.rate_limited(subject.channel, error)
        doubt = isinstance(error, InDoubt) or blind
        return self.retry(subject, error, in_doubt=doubt, blind=blind, made=made)

    def of_lookup(self, message: OutboundMessage, answer: Reconciled | None) -> Outcome | str:
        """What a lookup's answer makes of a message in doubt: its outcome, or :data:`SEND` or
        :data:`RESEND_BLIND` (no answer for it is unknown). A lookup is no attempt."""
        if answer is not None and answer.error is not None:  # this lookup failed: ask again later
            if isinstance(answer.error, PermanentChannelError):
                return self.fail(message, answer.error)
            return self.retry(message, answer.error, in_doubt=True, made=0)
        if answer is not None and answer.presence is Presence.PRESENT:
            return Outcome(
                message.delivery_id,
                DeliveryState.ACCEPTED,
                provider_id=answer.provider_id,
                attempts=1,  # the earlier attempt arrived
            )
        if answer is None or answer.presence is Presence.UNKNOWN:
            return RESEND_BLIND
        if message.attempts >= self.max_attempts and not message.mandatory_reason:
            out = PermanentChannelError(  # looked up at the end of its budget: it never arrived
                f"gave up after {message.attempts} attempts; the provider has no copy",
                channel=message.channel,
            )
            return self.fail(message, out, made=0)
        return SEND

    def fail(self, subject: Subject, error: ChannelError, *, blind: bool = False, made: int = 1) -> Outcome:
        """Failed for good with ``error``; an opt-out (Twilio's 21610) withdraws the person's consent."""
        withdraw = None
        if isinstance(error, RecipientOptedOut) and subject.recipient_id is not None:
            withdraw = (subject.recipient_id, subject.channel)
        return Outcome(
            subject.delivery_id,
            DeliveryState.FAILED,
            error_code=error.code or _status(error),
            error_detail=str(error),
            uncertain_send=blind,
            withdraw=withdraw,
            attempts=made,
        )

    def retry(
        self,
        subject: Subject,
        error: ChannelError,
        *,
        in_doubt: bool,
        blind: bool = False,
        made: int = 1,
    ) -> Outcome:
        """Try again later, or give up after ``max_attempts`` attempts that may have reached the
        provider (see the module's docstring for the two that are not given up)."""
        if isinstance(error, RateLimited) and made > 0:
            made -= 1
        attempts = subject.attempts + made
        detail = str(error)
        can_tell = self.can_tell.get(subject.channel, False)
        must = subject.mandatory_reason
        if attempts >= self.max_attempts and in_doubt and can_tell and not must:
            detail = f"out of attempts ({attempts}), and the last may have arrived: looked up first; {error}"
        elif attempts >= self.max_attempts:
            if not must:
                given_up = PermanentChannelError(
                    f"gave up after {attempts} attempts; last: {error}",
                    channel=error.channel,
                    status_code=error.status_code,
                    code=error.code,
                )
                return self.fail(subject, given_up, blind=blind, made=made)
            detail = f"must reach ({must}): still trying after {attempts} attempts; last: {error}"
        delay = self.backoff(attempts, error)
        if isinstance(error, InDoubt) and error.in_flight:
            delay = max(delay, self.in_flight.total_seconds())  # not asked before it could be done
        return Outcome(
            subject.delivery_id,
            DeliveryState.PENDING,
            error_code=error.code or _status(error),
            error_detail=detail,
            next_attempt_at=utcnow() + timedelta(seconds=delay),
            in_doubt=in_doubt,
            uncertain_send=blind,
            attempts=made,
        )

    def backoff(self, attempts: int, error: ChannelError) -> float:
        """Seconds before the next attempt: the provider's word, else capped exponential with full jitter."""
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return error.retry_after + self.rng.uniform(0, self.backoff_base)
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** min(max(attempts - 1, 0), 60))
        return self.rng.uniform(ceiling / 2, ceiling)


def retry_after(error: RateLimited) -> float:
    """How long a 429 closes the provider: its ``Retry-After``, else a second (Twilio sends none)."""
    return error.retry_after if error.retry_after is not None else 1.0


def _status(error: ChannelError) -> str | None:
    return f"http-{error.status_code}" if error.status_code is not None else type(error).__name__
