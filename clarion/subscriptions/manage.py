"""A confirmed subscription, from its manage link or its phone: change components, unsubscribe, and
the SMS keywords STOP, START and HELP.

A manage link names the subscriber and its generation (see :mod:`.secrets`). It works while that
subscription lasts: once it ends (unsubscribed here, by STOP, or by the one-click unsubscribe link of
an update's email, which withdraws the consent of the subscriber's recipient) the link is refused as
*ended*, and a new subscription (which asks for a confirmation again) sends a new one.

SMS keywords follow Twilio's defaults (:data:`STOP_WORDS`, :data:`START_WORDS`, :data:`HELP_WORDS`,
the whole message, any case), or Twilio's own ``OptOutType`` when a Messaging Service with Advanced
Opt-Out sends one. STOP ends the number's subscription and withdraws SMS consent of every recipient
with that number (the carrier would refuse our messages anyway); START undoes exactly what STOP did
(a subscription ended by STOP, consent withdrawn by STOP), nothing else; HELP changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlmodel import Session, select

from clarion import audit
from clarion.audiences import consent
from clarion.kinds import Channel, ConsentState
from clarion.models import ChannelConsent, Recipient, Subscriber, SubscriberState
from clarion.outbox.addresses import address_key
from clarion.subscriptions.refusals import Reason, Refused
from clarion.subscriptions.requests import ACTOR, recipient_external_id, subject_of

BY_MANAGE = "manage"
BY_STOP = "sms-stop"
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
START_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})


class Keyword(StrEnum):
    STOP = "STOP"
    START = "START"
    HELP = "HELP"


def keyword_of(body: str, opt_out_type: str | None = None) -> Keyword | None:
    """The keyword a text message is, or None: Twilio's ``OptOutType`` when given, else the whole body."""
    if opt_out_type:
        try:
            return Keyword(opt_out_type.strip().upper())
        except ValueError:
            return None
    word = body.strip().upper()
    for keyword, words in (
        (Keyword.STOP, STOP_WORDS),
        (Keyword.START, START_WORDS),
        (Keyword.HELP, HELP_WORDS),
    ):
        if word in words:
            return keyword
    return None


def _withdrawn(session: Session, subscriber: Subscriber) -> bool:
    assert subscriber.id is not None
    recipient = session.exec(
        select(Recipient).where(Recipient.external_id == recipient_external_id(subscriber.id))
    ).first()
    return (
        recipient is not None
        and recipient.id is not None
        and consent.has_withdrawn(session=session, recipient_id=recipient.id, channel=subscriber.channel)
    )


def subscription(*, session: Session, subscriber_id: int, generation: int) -> Subscriber:
    """The subscription a manage link names, while it lasts; :class:`Refused` (unknown, ended)."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise Refused(Reason.UNKNOWN, "no such subscription")
    if (
        subscriber.generation != generation
        or subscriber.state is not SubscriberState.CONFIRMED
        or _withdrawn(session, subscriber)
    ):
        raise Refused(Reason.ENDED, "this subscription has ended")
    return subscriber


def change(
    *, session: Session, subscriber_id: int, generation: int, components: tuple[str, ...], now: datetime
) -> Subscriber:
    """Choose other components (checked by :func:`~.choices.check_components`; empty: all)."""
    subscriber = subscription(session=session, subscriber_id=subscriber_id, generation=generation)
    if list(components) != subscriber.components:
        subscriber.components = list(components)
        subscriber.updated_at = now
        session.add(subscriber)
        session.flush()
        audit.append(
            session=session,
            actor=ACTOR,
            action="subscription.changed",
            subject=subject_of(subscriber_id),
            details={"channel": subscriber.channel.value, "components": list(components) or "all"},
        )
    return subscriber


def _end(session: Session, subscriber: Subscriber, *, by: str, actor: str, now: datetime) -> None:
    subscriber.state, subscriber.ended_by, subscriber.ended_at = SubscriberState.UNSUBSCRIBED, by, now
    subscriber.generation += 1
    session.add(subscriber)
    session.flush()
    audit.append(
        session=session,
        actor=actor,
        action="subscription.ended",
        subject=subject_of(subscriber.id),
        details={"channel": subscriber.channel.value, "by": by},
    )


def unsubscribe(*, session: Session, subscriber_id: int, generation: int, now: datetime) -> Subscriber:
    """End the subscription the manage link names (its links stop working)."""
    subscriber = subscription(session=session, subscriber_id=subscriber_id, generation=generation)
    _end(session, subscriber, by=BY_MANAGE, actor=ACTOR, now=now)
    return subscriber


@dataclass(frozen=True)
class KeywordOutcome:
    keyword: Keyword
    locale: str
    """The language to answer in: the number's subscription's, else English."""
    changed: int
    """Subscriptions and consents the keyword changed."""


def sms_keyword(*, session: Session, number: str, keyword: Keyword, now: datetime) -> KeywordOutcome:
    """Apply STOP, START or HELP texted from ``number`` (E.164) to its subscription and its consents."""
    subscriber = session.exec(
        select(Subscriber).where(
            Subscriber.channel == Channel.SMS, Subscriber.address_key == address_key(Channel.SMS, number)
        )
    ).first()
    changed = 0
    if keyword is Keyword.STOP:
        if subscriber is not None and subscriber.state is SubscriberState.CONFIRMED:
            _end(session, subscriber, by=BY_STOP, actor="twilio", now=now)
            changed += 1
        for recipient_id in _recipients(session, number):
            changed += consent.withdraw(
                session=session,
                recipient_id=recipient_id,
                channel=Channel.SMS,
                source=BY_STOP,
                at=now,
                actor="twilio",
            )
    elif keyword is Keyword.START:
        if (
            subscriber is not None
            and subscriber.state is SubscriberState.UNSUBSCRIBED
            and subscriber.ended_by == BY_STOP
        ):
            subscriber.state, subscriber.confirmed_at = SubscriberState.CONFIRMED, now
            subscriber.ended_by, subscriber.ended_at = None, None
            subscriber.generation += 1
            session.add(subscriber)
            session.flush()
            audit.append(
                session=session,
                actor="twilio",
                action="subscription.confirmed",
                subject=subject_of(subscriber.id),
                details={"channel": Channel.SMS.value, "method": "sms-start", "started": True},
            )
            changed += 1
        for recipient_id in _recipients(session, number, withdrawn_by=BY_STOP):
            changed += consent.grant(
                session=session,
                recipient_id=recipient_id,
                channel=Channel.SMS,
                source="sms-start",
                at=now,
                actor="twilio",
            )
    return KeywordOutcome(keyword, subscriber.locale if subscriber is not None else "en", changed)


def _recipients(session: Session, number: str, *, withdrawn_by: str | None = None) -> list[int]:
    """Recipients with this number; only those whose SMS consent ``withdrawn_by`` took, when given."""
    statement = select(Recipient.id).where(Recipient.phone_e164 == number)
    if withdrawn_by is not None:
        statement = statement.join(ChannelConsent, ChannelConsent.recipient_id == Recipient.id).where(  # type: ignore[arg-type]
            ChannelConsent.channel == Channel.SMS,
            ChannelConsent.state == ConsentState.WITHDRAWN,
            ChannelConsent.source == withdrawn_by,
        )
    return [recipient_id for recipient_id in session.exec(statement) if recipient_id is not None]
