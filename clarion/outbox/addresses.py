"""One message per address and channel in an update, however many ids or audiences share it.

A CRM holds the same person twice, under two ids; a customer is in two audiences of one playbook.
Each would get the message twice. Every outbox row to be sent carries :func:`address_key`, a digest
of its channel's normalised address, and a unique partial index on (update, channel, address key)
(migration 0005) lets the first row in and turns the others into no-ops (``ON CONFLICT DO
NOTHING``, no conflict target, so the idempotency key's index does the same for a recipient written
twice). That holds across chunks, audiences and runs, and between concurrent writers. A suppressed
row carries no key: a recipient who withdrew consent never holds back the same address under an id
that consents.

:func:`insert_deliveries` says what became of each row it was offered, so the caller can count
merged rows, and tell a re-run that writes nothing (everything "already staged") from a merge.
"""

from __future__ import annotations

import hashlib
from enum import Enum

import sqlalchemy as sa

from clarion.channel_table import spec_of
from clarion.kinds import Channel, DeliveryState
from clarion.models import Delivery
from clarion.models.columns import table_of
from clarion.outbox.bulk import among, insert_rows

_delivery = table_of(Delivery)


def address_key(channel: Channel, address: str) -> str:
    """The digest (32 hex digits) of the address as normalised on input: an E.164 phone; an email as
    :func:`~clarion.audiences.email_address.normalized_email` gives it, lower-cased, since mailboxes ignore
    case in practice."""
    normal = address.lower() if spec_of(channel).address == "email" else address
    return hashlib.blake2b(normal.encode(), digest_size=16).hexdigest()


def staging_mark(engine: sa.Engine) -> int:
    """The newest outbox row's id: whatever a staging run started now writes lies above it."""
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.max(_delivery.c.id))).scalar() or 0


class Outcome(Enum):
    """What became of a row offered to the outbox, measured against the staging run's mark."""

    WRITTEN = "written now"
    MERGED = "held back by a message this run wrote, for another id or another audience"
    EARLIER_OWN = "its own message, written by an earlier run of the staging"
    EARLIER = "held back by a message an earlier run wrote for another id or audience"

    @property
    def planned(self) -> bool:
        """The audience has this message in the outbox (its own row)."""
        return self in (Outcome.WRITTEN, Outcome.EARLIER_OWN)

    @property
    def earlier(self) -> bool:
        return self in (Outcome.EARLIER_OWN, Outcome.EARLIER)


def insert_deliveries(
    connection: sa.Connection,
    offered: list[dict[str, object]],
    *,
    audience: str,
    mark: int,
) -> list[tuple[Outcome, bool]]:
    """Insert the rows not there yet; for each offered row, its outcome and whether its message is
    suppressed. ``mark`` is :func:`staging_mark` taken when the staging run began: what held a row
    back above it was written by this run (a merge), below it by an earlier one.

    The insert is one ``executemany`` (compiled once; ``RETURNING`` would make SQLAlchemy render
    every row into the SQL, which doubles the fan-out's cost on PostgreSQL, and drivers do not all
    report an ``executemany``'s row count). The rows written are counted instead, by id above the
    newest before the insert, on the primary key; only when some were held back does one indexed
    query per kind of key find what held them."""
    before = connection.execute(sa.select(sa.func.max(_delivery.c.id))).scalar() or 0
    insert_rows(connection, _delivery, offered, conflict="ON CONFLICT DO NOTHING")
    written = connection.execute(
        sa.select(sa.func.count()).where(
            _delivery.c.id > before,
            _delivery.c.update_id == offered[0]["update_id"],
            _delivery.c.audience == audience,
        )
    ).scalar_one()
    if written == len(offered):
        return [(Outcome.WRITTEN, d["state"] is DeliveryState.SUPPRESSED) for d in offered]
    found = connection.execute(
        sa.select(_delivery.c.idempotency_key, _delivery.c.id, _delivery.c.audience, _delivery.c.state).where(
            among(connection, _delivery.c.idempotency_key, [d["idempotency_key"] for d in offered])
        )
    )
    own = {key: (row_id, owner, DeliveryState(state)) for key, row_id, owner, state in found}
    by_address: dict[tuple[Channel, object], int] = {}
    keys = [d["address_key"] for d in offered if d["idempotency_key"] not in own and d["address_key"]]
    if keys:
        taken = connection.execute(
            sa.select(_delivery.c.channel, _delivery.c.address_key, _delivery.c.id).where(
                _delivery.c.update_id == offered[0]["update_id"],
                among(connection, _delivery.c.address_key, keys),
            )
        )
        by_address = {(Channel(channel), key): row_id for channel, key, row_id in taken}
    return [_outcome(d, own, by_address, audience=audience, before=before, mark=mark) for d in offered]


def _outcome(
    delivery: dict[str, object],
    own: dict[object, tuple[int, str | None, DeliveryState]],
    by_address: dict[tuple[Channel, object], int],
    *,
    audience: str,
    before: int,
    mark: int,
) -> tuple[Outcome, bool]:
    if delivery["idempotency_key"] in own:
        row_id, owner, state = own[delivery["idempotency_key"]]
        if row_id > before and owner == audience:
            return Outcome.WRITTEN, state is DeliveryState.SUPPRESSED
        if row_id > mark:  # the same recipient, written by this run for another audience (or repeated)
            return Outcome.MERGED, False
        if owner == audience:
            return Outcome.EARLIER_OWN, state is DeliveryState.SUPPRESSED
        return Outcome.EARLIER, False
    # held back by another recipient's message to the same address
    row_id = by_address.get((Channel(str(delivery["channel"])), delivery["address_key"]), mark + 1)
    return (Outcome.MERGED if row_id > mark else Outcome.EARLIER), False
