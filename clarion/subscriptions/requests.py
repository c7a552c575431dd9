"""Asking to subscribe, and confirming: the two steps of double opt-in.

:func:`request_subscription` answers the same whatever the store holds: for an address never seen it
makes a pending subscriber, for one already subscribed it leaves the subscription as it is; either
way it records a confirmation holding what was asked and stages its notice (a link by email, a code
by SMS). Nothing changes for the address until its owner confirms (:func:`confirm`, or
:func:`check_code` for a typed code), so typing someone else's address subscribes nobody and changes
nobody's choices. Confirmations are single use (an UPDATE guarded by ``used_at IS NULL`` decides
between two clicks) and expire; an SMS code allows :data:`~clarion.subscriptions.secrets.MAX_CODE_ATTEMPTS`
wrong tries.

A confirmed subscriber is sent a welcome notice with its manage link. Every step is in the audit log
(actor ``subscriber``, subject ``subscriber:<id>``, the address only as a keyed digest). Like every
store function these flush and never commit: the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from clarion import audit
from clarion.audiences import consent
from clarion.kinds import Channel
from clarion.models import (
    ConfirmationMethod,
    Recipient,
    Subscriber,
    SubscriberState,
    SubscriptionConfirmation,
)
from clarion.models.columns import table_of
from clarion.outbox.addresses import address_key
from clarion.outbox.notices import RenderNotice, stage_notice
from clarion.subscriptions import limits, notices
from clarion.subscriptions.choices import Request
from clarion.subscriptions.refusals import Reason, Refused
from clarion.subscriptions.secrets import (
    CODE_TTL,
    CONFIRM_TTL,
    MANAGE_TTL,
    MAX_CODE_ATTEMPTS,
    code_matches,
    keyed_digest,
)

ACTOR = "subscriber"
_confirmations = table_of(SubscriptionConfirmation)


@dataclass(frozen=True)
class Requested:
    confirmation_id: int
    method: ConfirmationMethod
    expires_at: datetime


@dataclass(frozen=True)
class Confirmed:
    """A confirmed subscription: what its manage link names, and until when the one just sent works."""

    subscriber_id: int
    generation: int
    channel: Channel
    manage_expires_at: datetime


def subject_of(subscriber_id: int | None) -> str:
    """The audit subject (and the notices' ``about``) naming a subscriber: an id, no personal data."""
    return f"subscriber:{subscriber_id}"


def recipient_external_id(subscriber_id: int) -> str:
    """The recipient a subscriber becomes when an update is sent to it (see :mod:`.audience`)."""
    return f"subscriber:{subscriber_id}"


def _second(moment: datetime) -> datetime:
    """Signed links carry whole seconds: the stored expiry is the link's."""
    return moment.replace(microsecond=0)


def request_subscription(
    *, session: Session, key: bytes, request: Request, client: str, now: datetime, render: RenderNotice
) -> Requested:
    """Record a request and stage its confirmation notice, under the rate limits of the client (a
    keyed digest of its IP address) and of the address; :class:`Refused` (too many) storing nothing."""
    address_digest = keyed_digest(key, "address", f"{request.channel.value}:{request.address.lower()}")
    limits.admit(
        session=session,
        limits=[(limit, client) for limit in limits.CLIENT_LIMITS]
        + [(limit, address_digest) for limit in limits.ADDRESS_LIMITS],
        now=now,
    )
    digest = address_key(request.channel, request.address)
    subscriber = session.exec(
        select(Subscriber).where(Subscriber.channel == request.channel, Subscriber.address_key == digest)
    ).first()
    if subscriber is None:  # a new address: pending until confirmed; a known one stays as it is
        subscriber = Subscriber(
            channel=request.channel,
            address=request.address,
            address_key=digest,
            components=list(request.components),
            locale=request.locale,
            state=SubscriberState.PENDING,
        )
        session.add(subscriber)
        session.flush()
    assert subscriber.id is not None
    by_email = request.channel is Channel.EMAIL
    method = ConfirmationMethod.LINK if by_email else ConfirmationMethod.CODE
    expires_at = _second(now + (CONFIRM_TTL if by_email else CODE_TTL))
    confirmation = SubscriptionConfirmation(
        subscriber_id=subscriber.id,
        method=method,
        components=list(request.components),
        locale=request.locale,
        expires_at=expires_at,
        created_at=now,
    )
    session.add(confirmation)
    session.flush()
    assert confirmation.id is not None
    stage_notice(
        session=session,
        kind=notices.CONFIRM if by_email else notices.CODE,
        channel=request.channel,
        locale=request.locale,
        address=subscriber.address,
        about=subject_of(subscriber.id),
        params={
            "confirmation": confirmation.id,
            "expires": int(expires_at.timestamp()),
            "components": list(request.components),
        },
        check=render,
    )
    audit.append(
        session=session,
        actor=ACTOR,
        action="subscription.requested",
        subject=subject_of(subscriber.id),
        details={
            "channel": request.channel.value,
            "method": method.value,
            "components": list(request.components) or "all",
            "locale": request.locale,
            "address": address_digest,
        },
    )
    return Requested(confirmation.id, method, expires_at)


def pending_confirmation(
    *, session: Session, confirmation_id: int, now: datetime
) -> SubscriptionConfirmation:
    """The confirmation, while it can still be used; :class:`Refused` (unknown, used, expired, spent)."""
    confirmation = session.get(SubscriptionConfirmation, confirmation_id)
    if confirmation is None:
        raise Refused(Reason.UNKNOWN, "no such confirmation")
    if confirmation.used_at is not None:
        raise Refused(Reason.USED, "this confirmation was used already")
    if confirmation.expires_at <= now:
        raise Refused(Reason.EXPIRED, "this confirmation expired")
    if confirmation.attempts >= MAX_CODE_ATTEMPTS:
        raise Refused(Reason.SPENT, "too many wrong codes")
    return confirmation


def confirm(
    *, session: Session, key: bytes, confirmation_id: int, now: datetime, render: RenderNotice
) -> Confirmed:
    """Apply a confirmation: the subscriber is confirmed with the components and language it asked
    for, and sent its manage link. Single use: a second call is :class:`Refused` (used)."""
    confirmation = pending_confirmation(session=session, confirmation_id=confirmation_id, now=now)
    won = session.connection().execute(
        _confirmations.update()
        .where(_confirmations.c.id == confirmation_id, _confirmations.c.used_at.is_(None))
        .values(used_at=now)
    )
    if won.rowcount != 1:
        raise Refused(Reason.USED, "this confirmation was used already")
    subscriber = session.get(Subscriber, confirmation.subscriber_id)
    assert subscriber is not None and subscriber.id is not None
    starting = subscriber.state is not SubscriberState.CONFIRMED
    if starting:  # a new subscription: manage links of an earlier one stop working
        subscriber.generation += 1
        subscriber.state, subscriber.confirmed_at = SubscriberState.CONFIRMED, now
        subscriber.ended_by, subscriber.ended_at = None, None
    subscriber.components, subscriber.locale = list(confirmation.components), confirmation.locale
    session.add(subscriber)
    session.flush()
    _consent_again(session, subscriber, now)
    manage_expires_at = _second(now + MANAGE_TTL)
    stage_notice(
        session=session,
        kind=notices.WELCOME,
        channel=subscriber.channel,
        locale=subscriber.locale,
        address=subscriber.address,
        about=subject_of(subscriber.id),
        params={
            "subscriber": subscriber.id,
            "generation": subscriber.generation,
            "expires": int(manage_expires_at.timestamp()),
            "components": list(subscriber.components),
        },
        check=render,
    )
    audit.append(
        session=session,
        actor=ACTOR,
        action="subscription.confirmed",
        subject=subject_of(subscriber.id),
        details={
            "channel": subscriber.channel.value,
            "method": confirmation.method.value,
            "components": list(subscriber.components) or "all",
            "started": starting,
        },
    )
    return Confirmed(subscriber.id, subscriber.generation, subscriber.channel, manage_expires_at)


def check_code(
    *, session: Session, key: bytes, confirmation_id: int, code: str, now: datetime, render: RenderNotice
) -> Confirmed | Refused:
    """Confirm with a typed SMS code. A wrong code is counted and *returned* as :class:`Refused`
    (wrong code, or spent after the last try): the caller commits, so the count holds. A confirmation
    that cannot be used any more is raised as :class:`Refused`, with nothing written."""
    confirmation = pending_confirmation(session=session, confirmation_id=confirmation_id, now=now)
    if confirmation.method is not ConfirmationMethod.CODE:
        raise Refused(Reason.UNKNOWN, "no code was sent for this confirmation")
    if code_matches(key, confirmation_id, code):
        return confirm(session=session, key=key, confirmation_id=confirmation_id, now=now, render=render)
    counted = (
        session.connection()
        .execute(
            _confirmations.update()
            .where(
                _confirmations.c.id == confirmation_id,
                _confirmations.c.used_at.is_(None),
                _confirmations.c.attempts < MAX_CODE_ATTEMPTS,
            )
            .values(attempts=_confirmations.c.attempts + 1)
            .returning(_confirmations.c.attempts)
        )
        .scalar()
    )
    left = MAX_CODE_ATTEMPTS - (counted if counted is not None else MAX_CODE_ATTEMPTS)
    if left <= 0:
        return Refused(Reason.SPENT, "too many wrong codes")
    return Refused(Reason.WRONG_CODE, "not the code we sent", left=left)


def _consent_again(session: Session, subscriber: Subscriber, now: datetime) -> None:
    """A confirmation is consent: undo a one-click unsubscribe of the subscriber's updates."""
    assert subscriber.id is not None
    recipient = session.exec(
        select(Recipient).where(Recipient.external_id == recipient_external_id(subscriber.id))
    ).first()
    if recipient is not None and recipient.id is not None:
        consent.grant(
            session=session, recipient_id=recipient.id, channel=subscriber.channel, source="subscribe", at=now
        )
