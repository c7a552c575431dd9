"""Provider events that came before their message's id was recorded, applied once it is.

A Twilio status callback names its message by the SID, which the worker writes only after Twilio
answered; a fast callback (or a slow worker) arrives first. Such an event is held
(:func:`clarion.outbox.events.hold`: the change as read, its keys already stored as seen, so a retry is
a duplicate) and applied here, after the worker's outcome: its ``accepted`` is written first and the
early event moves the row up from there, so a ``delivered`` or ``failed`` that came early is never
moved back below.

:func:`apply_recorded` runs inside :func:`clarion.outbox.ledger.record`'s transaction, for the rows
it just wrote (one indexed probe when nothing is held). On PostgreSQL a callback held while the
worker's record commits can miss that probe; :func:`apply_ready`, run by the every-minute outbox
sweep, applies every held event whose message is known by now, and forgets, after
:data:`KEEP_UNKNOWN`, the ones that never matched a message of ours.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from clarion.kinds import Channel, DeliveryState
from clarion.models import Delivery, HeldEvent
from clarion.models.columns import table_of
from clarion.outbox.events import CHUNK, Change, EventSummary, find_deliveries, settle

_held = table_of(HeldEvent)

KEEP_UNKNOWN = timedelta(days=7)
"""A held event whose message never became known is kept this long (then it is not ours)."""


@dataclass
class HeldCount:
    applied: int = 0
    forgotten: int = 0
    fallbacks: int = 0


def any_held(connection: sa.Connection) -> bool:
    """Is any provider event held at all? (Usually not: one probe, and no session to open.)"""
    return connection.execute(sa.select(_held.c.id).limit(1)).first() is not None


def apply_recorded(*, session: Session, provider_ids: Collection[str]) -> HeldCount:
    """Apply the held events of the messages whose provider ids were just recorded."""
    if not provider_ids or session.exec(select(HeldEvent.id).limit(1)).first() is None:
        return HeldCount()
    refs = sorted(set(provider_ids))
    held: list[HeldEvent] = []
    for start in range(0, len(refs), CHUNK):
        chunk = refs[start : start + CHUNK]
        held += session.exec(
            select(HeldEvent).where(col(HeldEvent.ref).in_(chunk), HeldEvent.by_provider_id)
        ).all()
    return _apply(session, held)


def apply_ready(*, session: Session, now: datetime) -> HeldCount:
    """Apply every held event whose message is recorded by now; forget those too old to be ours."""
    count = _apply(session, list(session.exec(select(HeldEvent).order_by(col(HeldEvent.id)))))
    stale = session.connection().execute(
        sa.delete(HeldEvent).where(col(HeldEvent.received_at) < now - KEEP_UNKNOWN)
    )
    count.forgotten += stale.rowcount
    return count


def _apply(session: Session, held: list[HeldEvent]) -> HeldCount:
    count = HeldCount()
    groups: dict[tuple[str, Channel, bool], list[HeldEvent]] = {}
    for event in held:
        groups.setdefault((event.provider, Channel(event.channel), event.by_provider_id), []).append(event)
    for (provider, channel, by_provider_id), events in groups.items():
        deliveries = find_deliveries(session, channel, {e.ref for e in events}, by_provider_id=by_provider_id)
        pairs: list[tuple[Change, Delivery]] = []
        done: list[int] = []
        for event in sorted(events, key=lambda e: (e.received_at, e.id or 0)):
            delivery = deliveries.get(event.ref)
            if delivery is None or delivery.state is DeliveryState.CLAIMED:
                continue  # its outcome is still to come
            pairs.append((Change.from_json(event.change), delivery))
            assert event.id is not None
            done.append(event.id)
        if not pairs:
            continue
        summary = EventSummary()
        settle(
            session=session,
            provider=provider,
            channel=channel,
            pairs=pairs,
            summary=summary,
            keys_stored=True,
        )
        session.connection().execute(sa.delete(HeldEvent).where(col(HeldEvent.id).in_(done)))
        count.applied += summary.applied
        count.fallbacks += summary.fallbacks
    return count
