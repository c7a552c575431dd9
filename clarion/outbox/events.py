"""The delivery ledger: provider webhook events applied to Delivery rows, once each, never backwards.

States form a lattice, and an event only ever moves a delivery up it::

    pending, claimed  <  accepted  <  delivered | bounced | failed   (suppressed, never sent: final)

A finished delivery stays finished: a late ``delivered`` after ``bounced`` changes nothing, nor does
an ``accepted`` after ``delivered``. Inside ``accepted`` the provider's own progress is ordered too
(queued/processed < sending/deferred < sent), so an out-of-order ``sending`` cannot overwrite ``sent``
in ``provider_status``.

Providers retry and duplicate, so every applied event leaves its keys in ``provider_event`` (UNIQUE per
provider and key), and an event any of whose keys is already there is a duplicate:

* SendGrid: ``id:<sg_event_id>`` and, because duplicates sometimes carry a new ``sg_event_id``,
  ``msg:<sg_message_id>|<event>|<timestamp>``; a digest of the event when it has neither;
* Twilio: ``token:<I-Twilio-Idempotency-Token>`` when the header came, and ``status:<MessageSid>|<status>``.

Each stored SendGrid event also keeps its ``copy_id``: the X-Message-Id of the request it is about
(the part of ``sg_message_id`` before the first dot). A delivery resent after a crash, where SendGrid
could not be asked whether the first request arrived, shows two copy ids once SendGrid reports both
copies: :func:`clarion.outbox.counts.email_copies` turns that into the number of copies the provider
really received, where it can tell.

SendGrid events find their delivery through the ``delivery_id`` custom arg (custom args are top-level
keys of each event), Twilio callbacks through ``provider_id == MessageSid``; the delivery's channel must
match the provider. An event for no known delivery is counted as ``unknown`` and not stored, so a
retry is counted again. Events that withdraw consent (SendGrid ``unsubscribe``, ``group_unsubscribe``,
``spamreport`` and drops of unsubscribed or spam-reporting addresses; Twilio error 21610, the recipient
replied STOP) go through :mod:`clarion.consent`. Opens, clicks and other engagement are ignored.

A batch costs a few statements per thousand events: chunked ``IN`` queries for known keys and
deliveries, one executemany for the updates and one for the new keys. The caller owns the transaction;
of two racing on the same new event the later fails on the UNIQUE constraint, and the provider's
retry is then a duplicate.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from clarion import consent
from clarion.kinds import Channel, DeliveryState
from clarion.models import Delivery, ProviderEvent, utcnow

SENDGRID = "sendgrid"
TWILIO = "twilio"
CHUNK = 1000  # bound parameters per IN (...) query; far below SQLite's and PostgreSQL's limits
SMS_STOP_ERROR = "21610"
DELIVERY_ID_ARG = "delivery_id"
MAX_KEY_CHARS = 200
"""No stored event key, and no delivery reference, is longer. Providers' ids are far shorter
(SendGrid's ``sg_event_id`` is at most 100 characters, Twilio's SIDs 34), so an event carrying a
longer one is not theirs: it is counted as ``ignored`` and nothing of it is stored."""
_MAX_DETAIL = 1000
_MAX_ID_DIGITS = 18  # fits a 64-bit integer column

_FINISHED = 2
_RANK = {DeliveryState.PENDING: 0, DeliveryState.CLAIMED: 0, DeliveryState.ACCEPTED: 1} | {
    state: _FINISHED for state in (DeliveryState.DELIVERED, DeliveryState.BOUNCED, DeliveryState.FAILED)
}
_PROGRESS = {"sending": 1, "deferred": 1, "sent": 2}  # inside "accepted"; anything else is 0

_SENDGRID_WITHDRAWALS = frozenset({"unsubscribe", "group_unsubscribe", "spamreport"})
_SENDGRID_DROPS_WITHDRAWING = frozenset({"unsubscribed address", "spam reporting address"})
_TWILIO_IN_FLIGHT = frozenset({"queued", "accepted", "scheduled", "sending", "sent"})
_TWILIO_FINAL = dict.fromkeys(("delivered", "read"), DeliveryState.DELIVERED) | dict.fromkeys(
    ("undelivered", "failed", "canceled"), DeliveryState.FAILED
)


@dataclass
class EventSummary:
    """What a batch did: events applied, duplicates skipped, events for unknown deliveries, events of
    kinds the ledger does not track, and consents that this batch withdrew."""

    applied: int = 0
    duplicates: int = 0
    unknown: int = 0
    ignored: int = 0
    withdrawn: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Change:
    """What one provider event says. ``state`` None: it says nothing about delivery (an unsubscribe)."""

    keys: tuple[str, ...]
    ref: str | None
    state: DeliveryState | None
    provider_status: str | None
    at: datetime
    error_code: str | None = None
    error_detail: str | None = None
    withdraws: str | None = None
    copy: str | None = None
    """Which of our requests the event is about (SendGrid: the X-Message-Id that starts
    ``sg_message_id``); a delivery with events of two copies reached the provider twice."""


# ── reading provider events ───────────────────────────────────────────────────────────────────────


def _event_time(value: object, default: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(int(str(value)), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return default


def _text(value: object) -> str | None:
    return None if value is None or value == "" else str(value)[:_MAX_DETAIL]


def _bounded(keys: list[str], ref: str | None) -> bool:
    return all(len(text) <= MAX_KEY_CHARS for text in (*keys, ref or ""))


def sendgrid_change(event: Mapping[str, Any], *, received_at: datetime) -> Change | None:
    """What one SendGrid event means for the ledger; None for events it does not track, and for
    events whose identifiers are longer than :data:`MAX_KEY_CHARS`."""
    kind = str(event.get("event", ""))
    at = _event_time(event.get("timestamp"), received_at)
    reason = _text(event.get("reason"))
    state: DeliveryState | None = None
    status: str | None = kind
    code: str | None = None
    withdraws: str | None = None
    if kind in ("processed", "deferred"):
        state = DeliveryState.ACCEPTED
    elif kind == "delivered":
        state = DeliveryState.DELIVERED
    elif kind == "bounce":
        state, status = DeliveryState.BOUNCED, _text(event.get("type")) or "bounce"
        code = _text(event.get("status")) or status
    elif kind == "dropped":
        state, code = DeliveryState.BOUNCED, "dropped"
        if reason is not None and reason.lower() in _SENDGRID_DROPS_WITHDRAWING:
            withdraws = "sendgrid-dropped"
    elif kind in _SENDGRID_WITHDRAWALS:
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
    if not _bounded(keys, ref):
        return None
    message_id = str(event.get("sg_message_id") or "")
    return Change(
        keys=tuple(keys),
        copy=message_id.split(".", 1)[0] or None,
        ref=ref if ref.isascii() and ref.isdigit() and len(ref) <= _MAX_ID_DIGITS else None,
        state=state,
        provider_status=status,
        at=at,
        error_code=code,
        error_detail=reason if state in (DeliveryState.BOUNCED, DeliveryState.FAILED) else None,
        withdraws=withdraws,
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
    if not _bounded(keys, sid):
        return None
    return Change(
        keys=tuple(keys),
        ref=sid,
        state=state,
        provider_status=status,
        at=received_at,
        error_code=error_code if state is DeliveryState.FAILED else None,
        withdraws="sms-stop" if error_code == SMS_STOP_ERROR else None,
    )


# ── applying ──────────────────────────────────────────────────────────────────────────────────────


def advance(delivery: Delivery, change: Change) -> bool:
    """Move ``delivery`` as far up the lattice as ``change`` says, never down; True when it moved."""
    if change.state is None:
        return False
    current, target = _RANK.get(delivery.state, _FINISHED), _RANK[change.state]
    if current >= _FINISHED or target < current:
        return False
    if target == current and _PROGRESS.get(change.provider_status or "", 0) < _PROGRESS.get(
        delivery.provider_status or "", 0
    ):
        return False
    if current == 0:
        delivery.in_doubt = False  # the provider has it: no resend, no question to ask
    delivery.state = change.state
    delivery.provider_status = change.provider_status
    if delivery.accepted_at is None:
        delivery.accepted_at = change.at
    if change.error_code is not None or change.error_detail is not None:
        delivery.error_code, delivery.error_detail = change.error_code, change.error_detail
    return True


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _known_keys(session: Session, provider: str, keys: set[str]) -> set[str]:
    known: set[str] = set()
    for chunk in _chunks(sorted(keys)):
        statement = select(ProviderEvent.event_key).where(
            ProviderEvent.provider == provider, col(ProviderEvent.event_key).in_(chunk)
        )
        known.update(session.exec(statement).all())
    return known


def _deliveries(
    session: Session, channel: Channel, refs: set[str], *, by_provider_id: bool
) -> dict[str, Delivery]:
    found: dict[str, Delivery] = {}
    column = col(Delivery.provider_id) if by_provider_id else col(Delivery.id)
    values: list[Any] = sorted(refs) if by_provider_id else sorted(int(ref) for ref in refs)
    for chunk in _chunks(values):
        statement = select(Delivery).where(column.in_(chunk), Delivery.channel == channel)
        for delivery in session.exec(statement):
            found.setdefault(str(delivery.provider_id if by_provider_id else delivery.id), delivery)
    return found


def apply_changes(
    *,
    session: Session,
    provider: str,
    channel: Channel,
    changes: Iterable[Change],
    by_provider_id: bool,
    summary: EventSummary | None = None,
) -> EventSummary:
    """Apply parsed events of one provider: dedupe, find deliveries, advance them, withdraw consent."""
    summary = summary or EventSummary()
    changes = list(changes)
    known = _known_keys(session, provider, {key for change in changes for key in change.keys})
    fresh: list[Change] = []
    for change in changes:
        if known.intersection(change.keys):
            summary.duplicates += 1
            continue
        known.update(change.keys)
        fresh.append(change)
    refs = {change.ref for change in fresh if change.ref is not None}
    deliveries = _deliveries(session, channel, refs, by_provider_id=by_provider_id)
    now = utcnow()
    records: list[dict[str, Any]] = []
    withdrawals: dict[int, Change] = {}
    for change in fresh:
        delivery = deliveries.get(change.ref) if change.ref is not None else None
        if delivery is None:
            summary.unknown += 1
            continue
        advance(delivery, change)
        summary.applied += 1
        records.extend(
            {
                "provider": provider,
                "event_key": key,
                "delivery_id": delivery.id,
                "received_at": now,
                "copy_id": change.copy,
            }
            for key in change.keys
        )
        if change.withdraws is not None and delivery.recipient_id is not None:
            withdrawals.setdefault(delivery.recipient_id, change)
    session.flush()
    if records:
        session.connection().execute(sa.insert(ProviderEvent), records)
    for recipient_id, change in withdrawals.items():
        withdrew = consent.withdraw(
            session=session,
            recipient_id=recipient_id,
            channel=channel,
            source=change.withdraws or provider,
            at=change.at,
            actor=provider,
        )
        summary.withdrawn += withdrew
    return summary


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
