"""The outbox ledger: claim due rows, record what became of them, recover abandoned claims.

A claim is a committed state change (``pending → claimed``, with the worker's name and the time)
made *before* the network call; the outcome is committed after it. A worker killed between the two
leaves rows ``claimed``. :func:`release_stale` puts them back to ``pending`` marked ``in_doubt``: the
request may have reached the provider, so the next attempt first asks the adapter whether the
provider already has the message.

On PostgreSQL claims use ``FOR UPDATE SKIP LOCKED``, so any number of workers take disjoint batches
without waiting on each other. On SQLite every transaction starts with ``BEGIN IMMEDIATE`` (see
:mod:`clarion.store`), which serialises claims; run one worker process there.

Recording is guarded by ``claimed_by``: a worker that outlived its lease (its rows were released and
claimed by another) cannot overwrite the newer outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from clarion import consent
from clarion.kinds import Channel, DeliveryState
from clarion.models import Delivery, Incident, Recipient, Rendition, Update
from clarion.outbox.port import Content, OutboundMessage

_d = Delivery.__table__  # type: ignore[attr-defined]
_r = Recipient.__table__  # type: ignore[attr-defined]
_rend = Rendition.__table__  # type: ignore[attr-defined]
_u = Update.__table__  # type: ignore[attr-defined]
_i = Incident.__table__  # type: ignore[attr-defined]

UnsubscribeLink = Callable[[int, Channel], str]


@dataclass(frozen=True, slots=True)
class Claimed:
    message: OutboundMessage
    in_doubt: bool


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to write for one claimed row."""

    delivery_id: int
    state: DeliveryState
    provider_id: str | None = None
    provider_status: str | None = None
    error_code: str | None = None
    error_detail: str | None = None
    next_attempt_at: datetime | None = None
    in_doubt: bool = False
    uncertain_send: bool = False
    """Sent blind (already counted by :func:`count_blind_resends`); for the worker's statistics."""
    withdraw: tuple[int, Channel] | None = None
    """(recipient, channel) whose consent the provider says is withdrawn (an SMS STOP)."""


def release_stale(engine: sa.Engine, *, worker: str, lease: timedelta, now: datetime) -> int:
    """Put back claims this worker held before it restarted, and claims older than ``lease``."""
    statement = (
        _d.update()
        .where(
            _d.c.state == DeliveryState.CLAIMED,
            sa.or_(_d.c.claimed_by == worker, _d.c.claimed_at < now - lease),
        )
        .values(
            state=DeliveryState.PENDING, in_doubt=True, claimed_by=None, next_attempt_at=now, updated_at=now
        )
    )
    with engine.begin() as connection:
        return connection.execute(statement).rowcount


def claim(
    engine: sa.Engine,
    *,
    worker: str,
    channel: Channel,
    limit: int,
    now: datetime,
    unsubscribe: UnsubscribeLink | None = None,
) -> list[Claimed]:
    """Claim up to ``limit`` due rows of one channel that share a rendition (one provider request)."""
    due = sa.and_(_d.c.channel == channel, _d.c.state == DeliveryState.PENDING, _d.c.next_attempt_at <= now)
    with engine.begin() as connection:
        first = connection.execute(
            sa.select(_d.c.rendition_id)
            .where(due)
            .order_by(_d.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if first is None:
            return []
        ids = (
            sa.select(_d.c.id)
            .where(due, _d.c.rendition_id.is_not_distinct_from(first.rendition_id))
            .order_by(_d.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        claimed = connection.execute(
            _d.update()
            .where(_d.c.id.in_(ids))
            .values(
                state=DeliveryState.CLAIMED, claimed_by=worker, claimed_at=now, attempts=_d.c.attempts + 1
            )
            .returning(_d.c.id)
        ).scalars()
        claimed_ids = sorted(claimed)
        if not claimed_ids:
            return []
        return _messages(connection, claimed_ids, unsubscribe)


def _messages(
    connection: sa.Connection, ids: list[int], unsubscribe: UnsubscribeLink | None
) -> list[Claimed]:
    rows = connection.execute(
        sa.select(
            _d.c.id,
            _d.c.idempotency_key,
            _d.c.channel,
            _d.c.audience,
            _d.c.recipient_id,
            _d.c.mandatory_reason,
            _d.c.created_at,
            _d.c.attempts,
            _d.c.in_doubt,
            _d.c.claimed_at,
            _d.c.update_id,
            _r.c.email,
            _r.c.phone_e164,
            _rend.c.id.label("rendition_id"),
            _rend.c.locale,
            _rend.c.subject,
            _rend.c.body,
            _rend.c.html,
            _rend.c.carried,
            _u.c.status,
            _i.c.id.label("incident_id"),
            _i.c.reference,
            _i.c.severity,
        )
        .select_from(
            _d.join(_rend, _rend.c.id == _d.c.rendition_id)
            .join(_u, _u.c.id == _d.c.update_id)
            .join(_i, _i.c.id == _u.c.incident_id)
            .outerjoin(_r, _r.c.id == _d.c.recipient_id)
        )
        .where(_d.c.id.in_(ids))
        .order_by(_d.c.id)
    )
    contents: dict[int, Content] = {}
    claimed = []
    for row in rows:
        channel = Channel(row.channel)
        content = contents.get(row.rendition_id)
        if content is None:
            content = contents[row.rendition_id] = Content(
                rendition_id=row.rendition_id,
                locale=row.locale,
                text=row.body,
                subject=row.subject,
                html=row.html,
                link=(row.carried or {}).get("link"),
            )
        address = (
            row.email if channel is Channel.EMAIL else row.phone_e164 if channel is Channel.SMS else None
        )
        link = None
        if unsubscribe is not None and row.recipient_id is not None and not row.mandatory_reason:
            link = unsubscribe(row.recipient_id, channel)
        message = OutboundMessage(
            delivery_id=row.id,
            idempotency_key=row.idempotency_key,
            channel=channel,
            content=content,
            incident_reference=row.reference,
            severity=row.severity,
            status=str(row.status),
            created_at=row.created_at,
            attempts=row.attempts,
            last_attempt_at=row.claimed_at,
            address=address,
            audience=row.audience,
            recipient_id=row.recipient_id,
            mandatory_reason=row.mandatory_reason,
            unsubscribe_url=link,
            incident_id=row.incident_id,
            update_id=row.update_id,
        )
        claimed.append(Claimed(message, bool(row.in_doubt)))
    return claimed


def count_blind_resends(engine: sa.Engine, *, worker: str, delivery_ids: Sequence[int]) -> None:
    """Count, before the request goes out, a resend the provider could not rule out as a duplicate.

    Committed first: a worker killed during the resend must not leave a duplicate uncounted.
    """
    if not delivery_ids:
        return
    with engine.begin() as connection:
        connection.execute(
            _d.update()
            .where(_d.c.id.in_(delivery_ids), _d.c.state == DeliveryState.CLAIMED, _d.c.claimed_by == worker)
            .values(uncertain_sends=_d.c.uncertain_sends + 1)
        )


def record(engine: sa.Engine, *, worker: str, outcomes: Sequence[Outcome], now: datetime) -> int:
    """Write outcomes of rows this worker still holds; the number written."""
    if not outcomes:
        return 0
    statement = (
        _d.update()
        .where(
            _d.c.id == sa.bindparam("b_id"),
            _d.c.state == DeliveryState.CLAIMED,
            _d.c.claimed_by == worker,
        )
        .values(
            state=sa.bindparam("b_state"),
            provider_id=sa.func.coalesce(sa.bindparam("b_provider_id"), _d.c.provider_id),
            provider_status=sa.func.coalesce(sa.bindparam("b_provider_status"), _d.c.provider_status),
            error_code=sa.bindparam("b_error_code"),
            error_detail=sa.bindparam("b_error_detail"),
            next_attempt_at=sa.bindparam("b_next"),
            in_doubt=sa.bindparam("b_in_doubt"),
            accepted_at=sa.bindparam("b_accepted_at"),
            claimed_by=None,
            updated_at=now,
        )
    )
    params = [
        {
            "b_id": o.delivery_id,
            "b_state": o.state,
            "b_provider_id": o.provider_id,
            "b_provider_status": o.provider_status,
            "b_error_code": o.error_code,
            "b_error_detail": o.error_detail,
            "b_next": o.next_attempt_at,
            "b_in_doubt": o.in_doubt,
            "b_accepted_at": now if o.state is DeliveryState.ACCEPTED else None,
        }
        for o in outcomes
    ]
    withdrawals = {o.withdraw for o in outcomes if o.withdraw is not None}
    with engine.begin() as connection:
        written = connection.execute(statement, params).rowcount
        if withdrawals:
            with Session(bind=connection) as session:  # the same transaction as the outcomes
                for recipient_id, channel in sorted(withdrawals):
                    consent.withdraw(
                        session=session,
                        recipient_id=recipient_id,
                        channel=channel,
                        source="sms-stop",
                        at=now,
                        actor="twilio",
                    )
                session.flush()
    return written


@dataclass(frozen=True, slots=True)
class Backlog:
    due: dict[Channel, int]
    waiting: int
    """Pending rows not yet due (backing off)."""
    next_due_at: datetime | None
    claimed: int


def backlog(engine: sa.Engine, *, now: datetime, channels: Sequence[Channel]) -> Backlog:
    """What is left to do for these channels."""
    with engine.connect() as connection:
        due_rows = connection.execute(
            sa.select(_d.c.channel, sa.func.count())
            .where(
                _d.c.state == DeliveryState.PENDING, _d.c.next_attempt_at <= now, _d.c.channel.in_(channels)
            )
            .group_by(_d.c.channel)
        )
        due = {Channel(c): n for c, n in due_rows}
        waiting, next_due = connection.execute(
            sa.select(sa.func.count(), sa.func.min(_d.c.next_attempt_at)).where(
                _d.c.state == DeliveryState.PENDING, _d.c.next_attempt_at > now, _d.c.channel.in_(channels)
            )
        ).one()
        claimed = connection.execute(
            sa.select(sa.func.count()).where(_d.c.state == DeliveryState.CLAIMED, _d.c.channel.in_(channels))
        ).scalar_one()
    return Backlog(due, waiting, next_due, claimed)


def state_counts(
    engine: sa.Engine, *, update_id: int | None = None
) -> dict[tuple[Channel, DeliveryState], int]:
    """Deliveries per channel and state (of one update, or all)."""
    statement = sa.select(_d.c.channel, _d.c.state, sa.func.count()).group_by(_d.c.channel, _d.c.state)
    if update_id is not None:
        statement = statement.where(_d.c.update_id == update_id)
    with engine.connect() as connection:
        return {(Channel(c), DeliveryState(s)): n for c, s, n in connection.execute(statement)}
