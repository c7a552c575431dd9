"""What the outbox holds, read without writing: the backlog a worker waits on, what waits for a
retry, deliveries per channel and state, and the email copies a crash or timeout may have doubled.

Every function reads in a reading transaction (:func:`clarion.store.reading`), so on SQLite it
neither waits for a worker's writes nor holds them up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from clarion import store
from clarion.kinds import Channel, DeliveryState
from clarion.models import Delivery
from clarion.models.columns import table_of
from clarion.outbox import requests

_d = table_of(Delivery)


@dataclass(frozen=True, slots=True)
class Backlog:
    due: dict[Channel, int]
    waiting: int
    """Pending rows not yet due (backing off)."""
    next_due_at: datetime | None
    claimed: int


def backlog(engine: sa.Engine, *, now: datetime, channels: Sequence[Channel]) -> Backlog:
    """What is left to do for these channels."""
    with store.reading(engine) as connection:
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
        ).scalar_one() + requests.claimed_count(connection, channels)
    return Backlog(due, waiting, next_due, claimed)


def held(engine: sa.Engine, *, now: datetime) -> tuple[int, datetime | None]:
    """Messages still waiting for the end of their recipient's quiet hours, and the first such end."""
    with store.reading(engine) as connection:
        count, first = connection.execute(
            sa.select(sa.func.count(), sa.func.min(_d.c.held_until)).where(
                _d.c.state == DeliveryState.PENDING, _d.c.held_until > now
            )
        ).one()
    return count, first


@dataclass(frozen=True, slots=True)
class Waiting:
    """Pending rows of one channel that wait for a retry, or for the end of quiet hours (not due yet)."""

    channel: Channel
    count: int
    next_at: datetime
    most_attempts: int
    last_error: str | None
    """The error of the row that comes due first (the provider's words, for the person watching), or
    why it is held when it never failed (quiet hours)."""


def waiting(engine: sa.Engine, *, now: datetime, channels: Sequence[Channel]) -> list[Waiting]:
    """What waits for a retry, per channel, soonest first."""
    found = []
    with store.reading(engine) as connection:
        rows = connection.execute(
            sa.select(
                _d.c.channel, sa.func.count(), sa.func.min(_d.c.next_attempt_at), sa.func.max(_d.c.attempts)
            )
            .where(
                _d.c.state == DeliveryState.PENDING, _d.c.next_attempt_at > now, _d.c.channel.in_(channels)
            )
            .group_by(_d.c.channel)
        ).all()
        for channel, count, next_at, most in rows:
            error = connection.execute(
                sa.select(sa.func.coalesce(_d.c.error_detail, _d.c.hold_reason))  # or why it is held
                .where(
                    _d.c.channel == channel,
                    _d.c.state == DeliveryState.PENDING,
                    _d.c.next_attempt_at == next_at,
                )
                .limit(1)
            ).scalar()
            found.append(Waiting(Channel(channel), count, next_at, most, error))
    return sorted(found, key=lambda w: w.next_at)


@dataclass(frozen=True, slots=True)
class Copies:
    """Email copies beyond one per delivery: what the provider reported, and the most there can be.

    ``confirmed`` extra copies are deliveries whose SendGrid events name more than one of our
    requests. ``at_most`` more may exist: blind resends (:func:`count_blind_resends`) that no event
    has shown to be a second copy yet, because SendGrid offers no lookup; it is an upper bound, and
    the figure to quote is "``confirmed``, and at most ``at_most`` more"."""

    blind_resends: int
    confirmed: int
    at_most: int


_COPIES = sa.text(
    "SELECT d.uncertain_sends, (SELECT count(DISTINCT e.copy_id) FROM provider_event e"
    " WHERE e.delivery_id = d.id AND e.provider = 'sendgrid' AND e.copy_id IS NOT NULL)"
    " FROM delivery d WHERE d.channel = 'email' AND (d.uncertain_sends > 0 OR EXISTS ("
    "SELECT 1 FROM provider_event e WHERE e.delivery_id = d.id AND e.copy_id IS NOT NULL))"
)


def email_copies(engine: sa.Engine, *, update_id: int | None = None) -> Copies:
    """Extra email copies: confirmed by the provider's events, and at most how many more."""
    statement = (
        sa.text(_COPIES.text + " AND d.update_id = :update").bindparams(update=update_id)
        if update_id is not None
        else _COPIES
    )
    blind = confirmed = at_most = 0
    with store.reading(engine) as connection:
        for resends, seen in connection.execute(statement):
            extra = max(seen - 1, 0)
            blind += resends
            confirmed += extra
            at_most += max(resends - extra, 0)
    return Copies(blind, confirmed, at_most)


def state_counts(
    engine: sa.Engine, *, update_id: int | None = None
) -> dict[tuple[Channel, DeliveryState], int]:
    """Deliveries per channel and state (of one update, or all)."""
    statement = sa.select(_d.c.channel, _d.c.state, sa.func.count()).group_by(_d.c.channel, _d.c.state)
    if update_id is not None:
        statement = statement.where(_d.c.update_id == update_id)
    with store.reading(engine) as connection:
        return {(Channel(c), DeliveryState(s)): n for c, s, n in connection.execute(statement)}
