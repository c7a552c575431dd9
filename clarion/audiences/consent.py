"""Per-channel consent: withdraw it (unsubscribe, STOP, spam report) or grant it, with an audit trail.

One :class:`~clarion.models.ChannelConsent` row per recipient and channel (UNIQUE), upserted here.
The newest decision wins, and an opt-out is honoured whenever it arrives: a late provider event is
not weighed against an earlier grant. Only a change of state is written to the audit log (action
``consent.withdrawn`` or ``consent.granted``, subject ``recipient:<id>``, details the channel and the
source, never an address), so repeating a request (a second click, a provider retry) leaves the log
as it was.

Like every store function, these flush and never commit: the caller owns the transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from clarion import audit
from clarion.kinds import Channel, ConsentState
from clarion.models import ChannelConsent


def subject_of(recipient_id: int) -> str:
    """The audit subject naming a recipient (an opaque id, no personal data)."""
    return f"recipient:{recipient_id}"


def _consent(session: Session, recipient_id: int, channel: Channel) -> ChannelConsent | None:
    statement = select(ChannelConsent).where(
        ChannelConsent.recipient_id == recipient_id, ChannelConsent.channel == channel
    )
    return session.exec(statement).first()


def _set(
    *,
    session: Session,
    recipient_id: int,
    channel: Channel,
    state: ConsentState,
    source: str,
    at: datetime,
    actor: str,
) -> bool:
    row = _consent(session, recipient_id, channel)
    if row is not None and row.state == state:
        return False
    if row is None:
        row = ChannelConsent(recipient_id=recipient_id, channel=channel, state=state, source=source)
    row.state, row.source, row.changed_at = state, source, at
    session.add(row)
    session.flush()
    action = "consent.withdrawn" if state is ConsentState.WITHDRAWN else "consent.granted"
    audit.append(
        session=session,
        actor=actor,
        action=action,
        subject=subject_of(recipient_id),
        details={"channel": channel.value, "source": source},
    )
    return True


def withdraw(
    *,
    session: Session,
    recipient_id: int,
    channel: Channel,
    source: str,
    at: datetime,
    actor: str = "recipient",
) -> bool:
    """Record that the recipient wants no more messages on ``channel``; True when that is news.

    ``source`` says how we learned it (``"unsubscribe"``, ``"sms-stop"``, ``"sendgrid-spamreport"``);
    ``actor`` who told us (``"recipient"``, or the provider that relayed it).
    """
    return _set(
        session=session,
        recipient_id=recipient_id,
        channel=channel,
        state=ConsentState.WITHDRAWN,
        source=source,
        at=at,
        actor=actor,
    )


def grant(
    *,
    session: Session,
    recipient_id: int,
    channel: Channel,
    source: str,
    at: datetime,
    actor: str = "recipient",
) -> bool:
    """Record that the recipient agrees to messages on ``channel`` again; True when that is news."""
    return _set(
        session=session,
        recipient_id=recipient_id,
        channel=channel,
        state=ConsentState.GRANTED,
        source=source,
        at=at,
        actor=actor,
    )


def has_withdrawn(*, session: Session, recipient_id: int, channel: Channel) -> bool:
    """Whether the recipient's consent on ``channel`` is withdrawn (never asked is not withdrawn)."""
    row = _consent(session, recipient_id, channel)
    return row is not None and row.state == ConsentState.WITHDRAWN
