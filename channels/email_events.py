"""SendGrid's Event Webhook read for the ledger: which events move a delivery, which withdraw consent.

Each event finds its delivery through our ``delivery_id`` custom arg (custom args are top-level keys
of each event). Its keys for deduplication are ``id:<sg_event_id>`` and, because duplicates sometimes
carry a new ``sg_event_id``, ``msg:<sg_message_id>|<event>|<timestamp>``; a digest of the event when
it has neither. ``unsubscribe``, ``group_unsubscribe``, ``spamreport`` and drops of unsubscribed or
spam-reporting addresses withdraw the person's consent to email. The signature is checked before any
of this (:mod:`channels.signatures`); applying is the core's (:func:`clarion.outbox.events.apply_changes`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session

from clarion.kinds import Channel, DeliveryState
from clarion.models import utcnow
from clarion.outbox.events import (
    MAX_ID_DIGITS,
    Change,
    EventSummary,
    apply_changes,
    bounded_text,
    event_time,
    keys_fit,
)

SENDGRID = "sendgrid"
DELIVERY_ID_ARG = "delivery_id"
_WITHDRAWALS = frozenset({"unsubscribe", "group_unsubscribe", "spamreport"})
_DROPS_WITHDRAWING = frozenset({"unsubscribed address", "spam reporting address"})


def sendgrid_change(event: Mapping[str, Any], *, received_at: datetime) -> Change | None:
    """What one SendGrid event means for the ledger; None for events it does not track, and for
    events whose identifiers are longer than :data:`MAX_KEY_CHARS`."""
    kind = str(event.get("event", ""))
    at = event_time(event.get("timestamp"), received_at)
    reason = bounded_text(event.get("reason"))
    state: DeliveryState | None = None
    status: str | None = kind
    code: str | None = None
    withdraws: str | None = None
    if kind in ("processed", "deferred"):
        state = DeliveryState.ACCEPTED
    elif kind == "delivered":
        state = DeliveryState.DELIVERED
    elif kind == "bounce":
        state, status = DeliveryState.BOUNCED, bounded_text(event.get("type")) or "bounce"
        code = bounded_text(event.get("status")) or status
    elif kind == "dropped":
        state, code = DeliveryState.BOUNCED, "dropped"
        if reason is not None and reason.lower() in _DROPS_WITHDRAWING:
            withdraws = "sendgrid-dropped"
    elif kind in _WITHDRAWALS:
        status, withdraws = None, f"sendgrid-{kind}"
    else:
        return None
    keys = []
    if event.get("sg_event_id"):
        keys.append(f"id:{event['sg_event_id']}")
    if event.get("sg_message_id"):
        keys.append(f"msg:{event['sg_message_id']}|{kind}|{event.get('timestamp')}")
    if not keys:
        canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), default=str)
        keys.append(f"digest:{hashlib.sha256(canonical.encode()).hexdigest()}")
    ref = str(event.get(DELIVERY_ID_ARG, "")).strip()
    if not keys_fit(keys, ref):
        return None
    message_id = str(event.get("sg_message_id") or "")
    return Change(
        keys=tuple(keys),
        copy=message_id.split(".", 1)[0] or None,
        ref=ref if ref.isascii() and ref.isdigit() and len(ref) <= MAX_ID_DIGITS else None,
        state=state,
        provider_status=status,
        at=at,
        error_code=code,
        error_detail=reason if state in (DeliveryState.BOUNCED, DeliveryState.FAILED) else None,
        withdraws=withdraws,
    )


def apply_sendgrid_events(
    *, session: Session, events: Iterable[object], received_at: datetime | None = None
) -> EventSummary:
    """Apply one SendGrid Event Webhook post (its JSON array); entries that are not objects are ignored."""
    received_at = received_at or utcnow()
    summary = EventSummary()
    changes: list[Change] = []
    for event in events:
        change = sendgrid_change(event, received_at=received_at) if isinstance(event, Mapping) else None
        if change is None:
            summary.ignored += 1
        else:
            changes.append(change)
    return apply_changes(
        session=session,
        provider=SENDGRID,
        channel=Channel.EMAIL,
        changes=changes,
        by_provider_id=False,
        summary=summary,
    )
