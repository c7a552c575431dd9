"""Twilio's status callbacks read for the ledger: which statuses move a delivery, and the one that
withdraws consent (error 21610: the recipient replied STOP).

A callback finds its delivery through ``provider_id == MessageSid``. Its keys for deduplication are
``token:<I-Twilio-Idempotency-Token>`` when the header came, and ``status:<MessageSid>|<status>``. The
signature is checked before any of this (:mod:`channels.signatures`); applying is the core's
(:func:`clarion.outbox.events.apply_changes`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlmodel import Session

from channels.sms import OPTED_OUT
from clarion.kinds import Channel, DeliveryState
from clarion.models import utcnow
from clarion.outbox.events import Change, EventSummary, apply_changes, keys_fit

TWILIO = "twilio"
_TWILIO_IN_FLIGHT = frozenset({"queued", "accepted", "scheduled", "sending", "sent"})
_TWILIO_FINAL = dict.fromkeys(("delivered", "read"), DeliveryState.DELIVERED) | dict.fromkeys(
    ("undelivered", "failed", "canceled"), DeliveryState.FAILED
)


def twilio_change(
    params: Mapping[str, str], *, idempotency_token: str | None, received_at: datetime
) -> Change | None:
    """What one Twilio status callback means for the ledger; None for statuses it does not track, and
    for callbacks whose identifiers (``MessageSid``, the idempotency token) are too long."""
    status = params.get("MessageStatus") or params.get("SmsStatus") or ""
    sid = params.get("MessageSid") or params.get("SmsSid") or None
    state = DeliveryState.ACCEPTED if status in _TWILIO_IN_FLIGHT else _TWILIO_FINAL.get(status)
    if state is None:
        return None
    error_code = params.get("ErrorCode") or None
    keys = ([f"token:{idempotency_token}"] if idempotency_token else []) + [f"status:{sid}|{status}"]
    if not keys_fit(keys, sid):
        return None
    return Change(
        keys=tuple(keys),
        ref=sid,
        state=state,
        provider_status=status,
        at=received_at,
        error_code=error_code if state is DeliveryState.FAILED else None,
        withdraws="sms-stop" if error_code == OPTED_OUT else None,
    )


def apply_twilio_status(
    *,
    session: Session,
    params: Mapping[str, str],
    idempotency_token: str | None = None,
    received_at: datetime | None = None,
) -> EventSummary:
    """Apply one Twilio status callback (its form parameters, and the idempotency header if sent)."""
    change = twilio_change(params, idempotency_token=idempotency_token, received_at=received_at or utcnow())
    if change is None:
        return EventSummary(ignored=1)
    return apply_changes(
        session=session, provider=TWILIO, channel=Channel.SMS, changes=[change], by_provider_id=True
    )
