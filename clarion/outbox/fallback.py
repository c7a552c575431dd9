"""Fallback for must-reach audiences: a message that did not arrive goes again on the other channel.

A must-reach audience's email and SMS rows carry ``fallback_after`` (seconds, from the playbook). When
such a row bounces, is dropped or fails (a provider event, applied by :mod:`clarion.outbox.events`, or
the worker's own permanent failure), or is still only *accepted* ``fallback_after`` after the provider
took it while the provider does report on it (found by :func:`sweep`, which the every-minute
``outbox-sweep`` flow runs), the person gets
the same update on the other channel (:data:`clarion.kinds.FALLBACK_CHANNELS`): a new Delivery row
whose ``fallback_of`` names the one it replaces, rendered in the same locale and time zone.

It is decided once per row: ``fell_back_at`` is set whatever the decision, so a second event or a
second sweep adds nothing, and the fallback row itself has no fallback. The fallback is staged only
when the person has an address on the other channel, a rendition of the update exists for it, and
consent allows it: a phone that replied STOP is never texted; an email unsubscribe is bypassed only
for a legally required (mandatory) audience, as in fan-out. One message per address and channel in
an update still holds: a person who already has a message of the update on the other channel gets
no second one. Every decision, staged or not, is an audit entry (``delivery.fallback`` or
``delivery.fallback-skipped``) naming both deliveries and why; no address is written there.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlmodel import Session, col, select

from clarion import audit
from clarion.kinds import FALLBACK_CHANNELS, Channel, ConsentState, DeliveryState
from clarion.models import ChannelConsent, Delivery, ProviderEvent, Recipient, Rendition
from clarion.models.columns import table_of
from clarion.outbox.addresses import address_key
from clarion.outbox.fanout import idempotency_key, insert_for
from clarion.store import session_scope

if TYPE_CHECKING:
    from clarion.outbox.held import HeldCount

CHUNK = 500
REPORT_GRACE = timedelta(hours=24)
"""How long past ``fallback_after`` a message no event was ever received for is left undecided."""
FAILED = (DeliveryState.BOUNCED, DeliveryState.FAILED)
_d = table_of(Delivery)


@dataclass
class FallbackCount:
    """What a round of fallback decisions did: rows staged, and rows skipped by reason."""

    staged: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def add(self, other: FallbackCount) -> None:
        self.staged += other.staged
        self.skipped.update(other.skipped)


def why(delivery: Delivery) -> str:
    """Why ``delivery`` needs its fallback, in the ledger's words."""
    if delivery.state is DeliveryState.BOUNCED:
        return "dropped" if delivery.error_code == "dropped" else "bounced"
    if delivery.state is DeliveryState.FAILED:
        return delivery.provider_status or "failed"
    return f"not delivered {int(delivery.fallback_after or 0)} s after acceptance"


def due(delivery: Delivery, now: datetime) -> bool:
    """Whether ``delivery`` needs its fallback now."""
    if delivery.fallback_after is None or delivery.fell_back_at is not None or delivery.recipient_id is None:
        return False
    if delivery.state in FAILED:
        return True
    return (
        delivery.state is DeliveryState.ACCEPTED
        and delivery.accepted_at is not None
        and delivery.accepted_at + timedelta(seconds=delivery.fallback_after) <= now
    )


def stage_fallbacks(*, session: Session, deliveries: Sequence[Delivery], now: datetime) -> FallbackCount:
    """Decide the fallback of every row of ``deliveries`` that needs one now (see the module), inside
    the caller's transaction; the rows get ``fell_back_at``."""
    sources = [d for d in deliveries if due(d, now)]
    count = FallbackCount()
    if not sources:
        return count
    recipients = _by_id(session, Recipient, {d.recipient_id for d in sources})
    withdrawn = _withdrawn(session, sources)
    renditions = _renditions(session, sources)
    mandatory = _mandatory(session, sources)
    decided: list[tuple[Delivery, Channel, str | None]] = []
    offered: list[dict[str, object]] = []
    for source in sources:
        source.fell_back_at = now
        target = FALLBACK_CHANNELS[source.channel]
        recipient = recipients.get(source.recipient_id)
        address = None
        if recipient is not None:
            address = recipient.email if target is Channel.EMAIL else recipient.phone_e164
        reason = source.mandatory_reason or mandatory.get((source.update_id, source.audience))
        rendition = renditions.get((source.update_id, source.rendition_id, target))
        skipped = None
        if address is None:
            skipped = f"no {target.value} address"
        elif (source.recipient_id, target) in withdrawn and not (target is Channel.EMAIL and reason):
            # only email bypasses an unsubscribe for a legally required message; a STOP always holds
            skipped = f"{target.value} consent withdrawn"
        elif rendition is None:
            skipped = f"no {target.value} rendition"
        else:
            offered.append(_row(source, target, rendition, address, reason, now))
        decided.append((source, target, skipped))
    made = _insert(session, offered)
    steps: dict[str, list[dict[str, object]]] = {"delivery.fallback": [], "delivery.fallback-skipped": []}
    for source, target, skipped in decided:
        new_id = made.get(source.id) if skipped is None else None
        step: dict[str, object] = {"from": source.id, "channel": target.value, "why": why(source)}
        if new_id is not None:
            count.staged += 1
            steps["delivery.fallback"].append(step | {"to": new_id})
            continue
        skipped = skipped or f"already sent on {target.value}"  # one message per address and channel
        count.skipped[skipped] += 1
        steps["delivery.fallback-skipped"].append(step | {"skipped": skipped})
    for action, listed in steps.items():
        if listed:
            audit.append(
                session=session, actor="clarion", action=action, subject="outbox", details={"steps": listed}
            )
    session.flush()
    return count


def _insert(session: Session, offered: list[dict[str, object]]) -> dict[int | None, int]:
    """Insert the fallback rows that are not held back by a message already there (one
    ``executemany``); the new rows' ids by the delivery each falls back from."""
    if not offered:
        return {}
    insert = insert_for(session.get_bind().engine)
    session.connection().execute(insert(_d).on_conflict_do_nothing(), offered)
    sources = sorted(int(str(row["fallback_of"])) for row in offered)
    made: dict[int | None, int] = {}
    for start in range(0, len(sources), CHUNK):
        chunk = sources[start : start + CHUNK]
        found = session.connection().execute(
            sa.select(_d.c.fallback_of, _d.c.id).where(_d.c.fallback_of.in_(chunk))
        )
        made.update({source: new_id for source, new_id in found})
    return made


def sweep(*, engine: sa.Engine, now: datetime) -> FallbackCount:
    """Decide every fallback that is due (failed rows, and rows still undelivered ``fallback_after``
    after acceptance), a chunk per transaction; on PostgreSQL concurrent sweeps skip each other's rows.

    "Still undelivered" needs a provider that reports: an accepted row no event was ever received for
    (the webhook is not set up, or is down) is not chased, since nothing says it did not arrive. Once
    :data:`REPORT_GRACE` more has passed (SendGrid retries its posts that long) it is decided, as
    skipped: "no delivery report"."""
    count = FallbackCount()
    watched = sa.and_(
        col(Delivery.fallback_after).is_not(None),
        col(Delivery.fell_back_at).is_(None),
        col(Delivery.state).in_([DeliveryState.ACCEPTED, *FAILED]),
    )
    with session_scope(engine) as session:
        found = session.exec(select(Delivery.fallback_after).where(watched).distinct())
        windows = sorted(w for w in found if w is not None)
    for window in windows:
        overdue = sa.or_(
            col(Delivery.state).in_(FAILED), col(Delivery.accepted_at) <= now - timedelta(seconds=window)
        )
        after = 0
        while True:
            with session_scope(engine) as session:
                rows = session.exec(
                    select(Delivery)
                    .where(watched, Delivery.fallback_after == window, overdue, col(Delivery.id) > after)
                    .order_by(col(Delivery.id))
                    .limit(CHUNK)
                    .with_for_update(skip_locked=True)
                ).all()
                if not rows:
                    break
                after = rows[-1].id or after
                reported = _reported(session, rows)
                chased = [d for d in rows if d.state in FAILED or d.id in reported]
                count.add(stage_fallbacks(session=session, deliveries=chased, now=now))
                give_up = now - timedelta(seconds=window) - REPORT_GRACE
                silent = [
                    d
                    for d in rows
                    if d.state not in FAILED
                    and d.id not in reported
                    and d.accepted_at
                    and d.accepted_at <= give_up
                ]
                count.add(_no_report(session, silent, now))
    return count


def _reported(session: Session, rows: Sequence[Delivery]) -> set[int | None]:
    """The rows of ``rows`` that the provider reported anything of."""
    ids = [d.id for d in rows if d.id is not None]
    return set(session.exec(select(ProviderEvent.delivery_id).where(col(ProviderEvent.delivery_id).in_(ids))))


def _no_report(session: Session, rows: Sequence[Delivery], now: datetime) -> FallbackCount:
    count = FallbackCount()
    if not rows:
        return count
    reason = "no delivery report from the provider"
    for delivery in rows:
        delivery.fell_back_at = now
    count.skipped[reason] = len(rows)
    steps = [
        {"from": d.id, "channel": FALLBACK_CHANNELS[d.channel].value, "why": why(d), "skipped": reason}
        for d in rows
    ]
    audit.append(
        session=session,
        actor="clarion",
        action="delivery.fallback-skipped",
        subject="outbox",
        details={"steps": steps},
    )
    session.flush()
    return count


def sweep_all(*, engine: sa.Engine, now: datetime) -> tuple[HeldCount, FallbackCount]:
    """The outbox sweep's share: apply the early provider events whose message is recorded by now
    (:func:`clarion.outbox.held.apply_ready`), then decide every fallback that is due."""
    from clarion.outbox.held import apply_ready  # held imports events, which imports this module

    with session_scope(engine) as session:
        early = apply_ready(session=session, now=now)
    return early, sweep(engine=engine, now=now)


# ── what a decision needs ─────────────────────────────────────────────────────────────────────────


def _by_id(session: Session, model: type[Recipient], ids: set[int | None]) -> dict[int | None, Recipient]:
    wanted = sorted(i for i in ids if i is not None)
    return {r.id: r for r in session.exec(select(model).where(col(model.id).in_(wanted)))}


def _withdrawn(session: Session, sources: Sequence[Delivery]) -> set[tuple[int | None, Channel]]:
    ids = sorted({d.recipient_id for d in sources if d.recipient_id is not None})
    rows = session.exec(
        select(ChannelConsent.recipient_id, ChannelConsent.channel).where(
            col(ChannelConsent.recipient_id).in_(ids), ChannelConsent.state == ConsentState.WITHDRAWN
        )
    )
    return {(recipient_id, Channel(channel)) for recipient_id, channel in rows}


def _renditions(
    session: Session, sources: Sequence[Delivery]
) -> dict[tuple[int | None, int | None, Channel], int]:
    """The other channel's rendition in the same locale and time zone, by (update, source rendition,
    channel)."""
    own = {r.id: r for r in session.exec(select(Rendition).where(col(Rendition.id).in_(_ids(sources))))}
    updates = sorted({d.update_id for d in sources if d.update_id is not None})
    others: dict[tuple[int, Channel, str, str], int] = {}
    for r in session.exec(select(Rendition).where(col(Rendition.update_id).in_(updates))):
        if r.id is not None:
            others[(r.update_id, Channel(r.channel), r.locale, r.time_zone)] = r.id
    found: dict[tuple[int | None, int | None, Channel], int] = {}
    for d in sources:
        mine = own.get(d.rendition_id)
        target = FALLBACK_CHANNELS[d.channel]
        if mine is not None and (other := others.get((mine.update_id, target, mine.locale, mine.time_zone))):
            found[(d.update_id, d.rendition_id, target)] = other
    return found


def _ids(sources: Sequence[Delivery]) -> list[int]:
    return sorted({d.rendition_id for d in sources if d.rendition_id is not None})


def _mandatory(session: Session, sources: Sequence[Delivery]) -> dict[tuple[int | None, str | None], str]:
    """Why an audience's messages are legally required, by (update, audience) of the SMS sources, as
    its email rows say: SMS rows staged before fan-out wrote the reason on every channel have none."""
    found: dict[tuple[int | None, str | None], str] = {}
    for update_id, audience in {(d.update_id, d.audience) for d in sources if d.channel is Channel.SMS}:
        reason = session.exec(
            select(Delivery.mandatory_reason)
            .where(
                Delivery.update_id == update_id,
                Delivery.audience == audience,
                Delivery.channel == Channel.EMAIL,
                col(Delivery.mandatory_reason).is_not(None),
            )
            .limit(1)
        ).first()
        if reason:
            found[(update_id, audience)] = reason
    return found


def _row(
    source: Delivery,
    target: Channel,
    rendition_id: int | None,
    address: str,
    reason: str | None,
    now: datetime,
) -> dict[str, object]:
    assert source.update_id is not None
    return {
        "update_id": source.update_id,
        "rendition_id": rendition_id,
        "recipient_id": source.recipient_id,
        "channel": target,
        "audience": source.audience,
        "idempotency_key": idempotency_key(source.update_id, target, recipient_id=source.recipient_id),
        "state": DeliveryState.PENDING,
        "address_key": address_key(target, address),
        "mandatory_reason": reason,
        "fallback_of": source.id,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }
