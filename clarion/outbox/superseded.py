"""Held messages a newer update supersedes: a person whose messages wait for their morning (quiet
hours, :mod:`clarion.outbox.quiet_hours`) wakes to the incident's latest word, not to every update
posted in the night.

When an update of an incident is staged, each message of an earlier update of the same incident
that is still held, to a person this update now writes to on the same channel, is superseded: it
leaves the outbox unsent (``suppressed``, ``error_code`` ``superseded``, naming the newer update),
in the transaction that stages its replacement. Only held messages are: one that was due is being
sent or was sent, and a legally required one is never held. A provider request one of whose rows
is superseded is built again from its rows at its claim (:mod:`clarion.outbox.prepared`), without it.

The held rows are found on their own small index (``ix_delivery_held``, migration 0015): staging
an incident's first update, or one after the night, looks at no other row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from clarion.kinds import DeliveryState
from clarion.models import Delivery, Update
from clarion.models.columns import table_of

SUPERSEDED = "superseded"
"""The ``error_code`` of a held message a newer update replaced."""

_d = table_of(Delivery)
_u = table_of(Update)


def held_earlier(connection: sa.Connection, update_id: int) -> tuple[int, list[int]]:
    """The number of update ``update_id``, and the earlier updates of its incident that still hold
    messages (usually none)."""
    incident_id, number = connection.execute(
        sa.select(_u.c.incident_id, _u.c.number).where(_u.c.id == update_id)
    ).one()
    earlier = connection.execute(
        sa.select(_u.c.id).where(_u.c.incident_id == incident_id, _u.c.number < number)
    ).scalars()
    held = [
        u
        for u in earlier
        if connection.execute(sa.select(_d.c.id).where(_held(), _d.c.update_id == u).limit(1)).first()
    ]
    return int(number), held


def supersede(
    connection: sa.Connection,
    *,
    update_id: int,
    number: int,
    earlier: Sequence[int],
    rows: Sequence[dict[str, object]],
    now: datetime,
) -> int:
    """Supersede the held messages of ``earlier`` updates to the people ``rows`` (this update's
    staged rows) write to on their channels, in the caller's transaction; how many."""
    if not earlier:
        return 0
    fresh: dict[object, set[object]] = defaultdict(set)
    for row in rows:
        if row["state"] is DeliveryState.PENDING and row["recipient_id"] is not None:
            fresh[row["channel"]].add(row["recipient_id"])
    count = 0
    for channel, recipients in fresh.items():
        statement = (
            _d.update()
            .where(
                _held(),
                _d.c.update_id.in_(earlier),
                _d.c.recipient_id.in_(sorted(recipients)),
                _d.c.channel == channel,
            )
            .values(
                state=DeliveryState.SUPPRESSED,
                error_code=SUPERSEDED,
                error_detail=f"update {number} was staged while it was held; it went instead",
                updated_at=now,
            )
        )
        count += connection.execute(statement).rowcount
    return count


def _held() -> sa.ColumnElement[bool]:
    return (_d.c.state == DeliveryState.PENDING) & _d.c.held_until.is_not(None)
