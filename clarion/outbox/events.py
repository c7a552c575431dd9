"""The delivery ledger: provider webhook events applied to Delivery rows, once each, never backwards.

States form a lattice, and an event only ever moves a delivery up it::

    pending, claimed  <  accepted  <  delivered | bounced | failed   (suppressed, never sent: final)

A finished delivery stays finished: a late ``delivered`` after ``bounced`` changes nothing, nor does
an ``accepted`` after ``delivered``. Inside ``accepted`` the provider's own progress is ordered too
(queued/processed < sending/deferred < sent), so an out-of-order ``sending`` cannot overwrite ``sent``
in ``provider_status``.

Providers retry and duplicate, so every applied event leaves its keys in ``provider_event`` (UNIQUE per
provider and key), and an event any of whose keys is already there is a duplicate. What a provider's
event means (:class:`Change`: its keys, the delivery it names, the state it moves to, whether it
withdraws consent) is read by the channel's own module (``channels/email_events.py`` for SendGrid,
``channels/sms_events.py`` for Twilio); this module applies it, for any provider.

A change names its delivery by our delivery id or by the provider's id (``by_provider_id``); the
delivery's channel must match. A change for no known delivery is counted as ``unknown`` and not stored,
so a retry is counted again, except one by the provider's id: the worker may not have recorded that
id yet (a Twilio callback can beat the worker's write), so it is held (:func:`hold`, counted as
``held``) and applied once the id is recorded (:mod:`clarion.outbox.held`). A must-reach delivery
that an event finishes as bounced or failed gets its fallback here (:mod:`clarion.outbox.fallback`).
A change that withdraws consent goes through :mod:`clarion.audiences.consent`.
Each stored event also keeps the ``copy`` it is about (SendGrid: the X-Message-Id of the request): a
delivery resent after a crash shows two copies once the provider reports both, and
:func:`clarion.outbox.counts.email_copies` turns that into the number of copies the provider really
received, where it can tell.

A batch costs a few statements per thousand events: chunked ``IN`` queries for known keys and
deliveries, one executemany for the updates and one for the new keys. The caller owns the transaction;
of two racing on the same new event the later fails on the UNIQUE constraint, and the provider's
retry is then a duplicate.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from clarion.audiences import consent
from clarion.kinds import Channel, DeliveryState
from clarion.models import Delivery, HeldEvent, ProviderEvent, utcnow
from clarion.models.columns import table_of
from clarion.outbox.fallback import FAILED, stage_fallbacks

CHUNK = 1000  # bound parameters per IN (...) query; far below SQLite's and PostgreSQL's limits
MAX_KEY_CHARS = 200
"""No stored event key, and no delivery reference, is longer. Providers' ids are far shorter
(SendGrid's ``sg_event_id`` is at most 100 characters, Twilio's SIDs 34), so an event carrying a
longer one is not theirs: it is counted as ``ignored`` and nothing of it is stored."""
MAX_DETAIL = 1000
MAX_ID_DIGITS = 18  # fits a 64-bit integer column

_FINISHED = 2
_RANK = {DeliveryState.PENDING: 0, DeliveryState.CLAIMED: 0, DeliveryState.ACCEPTED: 1} | {
    state: _FINISHED for state in (DeliveryState.DELIVERED, DeliveryState.BOUNCED, DeliveryState.FAILED)
}
_PROGRESS = {"sending": 1, "deferred": 1, "sent": 2}  # inside "accepted"; anything else is 0


@dataclass
class EventSummary:
    """What a batch did: events applied, duplicates skipped, events for unknown deliveries, events of
    kinds the ledger does not track, and consents that this batch withdrew."""

    applied: int = 0
    duplicates: int = 0
    unknown: int = 0
    ignored: int = 0
    withdrawn: int = 0
    held: int = 0
    """Events that came before their message's outcome was recorded, kept to be applied then."""
    fallbacks: int = 0
    """Fallback messages staged because a must-reach delivery bounced or failed."""

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

    def as_json(self) -> dict[str, Any]:
        """What :class:`~clarion.models.HeldEvent` keeps of it."""
        return asdict(self) | {"keys": list(self.keys), "at": self.at.isoformat()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Change:
        state = data.get("state")
        return cls(
            **data
            | {
                "keys": tuple(data["keys"]),
                "at": datetime.fromisoformat(data["at"]),
                "state": DeliveryState(state) if state is not None else None,
            }
        )


# ── reading provider events ───────────────────────────────────────────────────────────────────────


def event_time(value: object, default: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(int(str(value)), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return default


def bounded_text(value: object) -> str | None:
    return None if value is None or value == "" else str(value)[:MAX_DETAIL]


def keys_fit(keys: list[str], ref: str | None) -> bool:
    return all(len(text) <= MAX_KEY_CHARS for text in (*keys, ref or ""))


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


def find_deliveries(
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
    """Apply parsed events of one provider: dedupe, find deliveries, advance them, withdraw consent,
    stage the fallbacks of must-reach ones that failed; hold what comes before its outcome."""
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
    deliveries = find_deliveries(session, channel, refs, by_provider_id=by_provider_id)
    ready: list[tuple[Change, Delivery]] = []
    early: list[Change] = []
    for change in fresh:
        delivery = deliveries.get(change.ref) if change.ref is not None else None
        if delivery is not None:
            ready.append((change, delivery))
        elif by_provider_id and change.ref is not None:
            early.append(change)  # the worker has not recorded the provider's id yet: kept until it does
        else:
            summary.unknown += 1
    hold(session=session, provider=provider, channel=channel, changes=early, by_provider_id=by_provider_id)
    summary.held += len(early)
    settle(session=session, provider=provider, channel=channel, pairs=ready, summary=summary)
    return summary


def _event_rows(
    provider: str, change: Change, delivery_id: int | None, now: datetime
) -> list[dict[str, Any]]:
    return [
        {
            "provider": provider,
            "event_key": key,
            "delivery_id": delivery_id,
            "received_at": now,
            "copy_id": change.copy,
            "state": change.state,
            "provider_status": (change.provider_status or None) and change.provider_status[:64],
            "occurred_at": change.at,
        }
        for key in change.keys
    ]


def hold(
    *, session: Session, provider: str, channel: Channel, changes: Sequence[Change], by_provider_id: bool
) -> None:
    """Keep events that came before their message's outcome was recorded (:mod:`clarion.outbox.held`
    applies them once it is); their keys are stored now, without a delivery, so a retry is a duplicate."""
    if not changes:
        return
    now = utcnow()
    session.connection().execute(
        sa.insert(HeldEvent),
        [
            {
                "provider": provider,
                "channel": channel,
                "ref": change.ref,
                "by_provider_id": by_provider_id,
                "change": change.as_json(),
                "received_at": now,
            }
            for change in changes
        ],
    )
    rows = [row for change in changes for row in _event_rows(provider, change, None, now)]
    session.connection().execute(sa.insert(ProviderEvent), rows)


def settle(
    *,
    session: Session,
    provider: str,
    channel: Channel,
    pairs: Sequence[tuple[Change, Delivery]],
    summary: EventSummary,
    keys_stored: bool = False,
) -> None:
    """Apply each change to its delivery (whose outcome is recorded), record its keys (or, when they
    were stored as it was held, give them their delivery), withdraw consent and stage fallbacks."""
    now = utcnow()
    records: list[dict[str, Any]] = []
    withdrawals: dict[int, Change] = {}
    for change, delivery in pairs:
        advance(delivery, change)
        summary.applied += 1
        records.extend(_event_rows(provider, change, delivery.id, now))
        if change.withdraws is not None and delivery.recipient_id is not None:
            withdrawals.setdefault(delivery.recipient_id, change)
    session.flush()
    if records and keys_stored:
        events = table_of(ProviderEvent)
        session.connection().execute(
            events.update()
            .where(events.c.provider == provider, events.c.event_key == sa.bindparam("b_key"))
            .values(delivery_id=sa.bindparam("b_delivery")),
            [{"b_key": r["event_key"], "b_delivery": r["delivery_id"]} for r in records],
        )
    elif records:
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
    failed = [d for _, d in pairs if d.fallback_after is not None and d.state in FAILED]
    if failed:
        summary.fallbacks += stage_fallbacks(session=session, deliveries=failed, now=now).staged
