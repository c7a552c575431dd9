"""The incident's deliveries, read in chunks: who was sent what, on which channel, and what the
provider said and when.

``deliveries.jsonl`` holds one line per outbox row of the incident's updates, update by update in
the order of their numbers and by delivery id within each, then one line per delivery of a
**notice about the incident**: a notice whose ``about`` starts with the incident's reference and a
slash (approval requests, reminders, escalations and deadline alerts to the people inside). Those are
the notices the store ties to the incident by itself; survey invitations and reminders name their
invitation (``survey-invite:12``) and are left out. A notice's words are rendered when it is sent
and never stored, so its line names its kind and channel, not a text.

Each chunk of :data:`CHUNK` rows is one keyset query (``id > last``, on the index of
``update_id`` or ``notice_id``), and its provider events one more query: memory does not grow with
the number of deliveries.

The address a line shows is the recipient's address **now** (the store keeps only a digest of the
address a message went to); ``address_as_sent`` says whether that digest still matches it (False: the
person's address changed since, and the pack cannot say the old one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import sqlalchemy as sa

from clarion.channel_table import spec_of
from clarion.evidence.manifest import iso
from clarion.evidence.pseudonyms import Pseudonyms
from clarion.kinds import Channel
from clarion.models import Delivery, Notice, ProviderEvent, Recipient
from clarion.models.columns import table_of
from clarion.outbox.addresses import address_key

CHUNK = 1000
"""Deliveries per query (and ids per ``IN`` list of the events' query)."""

_d, _r, _n, _e = table_of(Delivery), table_of(Recipient), table_of(Notice), table_of(ProviderEvent)
_COLUMNS = (
    _d.c.id,
    _d.c.update_id,
    _d.c.notice_id,
    _d.c.rendition_id,
    _d.c.recipient_id,
    _d.c.channel,
    _d.c.audience,
    _d.c.state,
    _d.c.attempts,
    _d.c.first_attempt_at,
    _d.c.accepted_at,
    _d.c.provider_id,
    _d.c.provider_status,
    _d.c.error_code,
    _d.c.error_detail,
    _d.c.uncertain_sends,
    _d.c.in_doubt,
    _d.c.address_key,
    _d.c.mandatory_reason,
    _d.c.held_until,
    _d.c.hold_reason,
    _d.c.created_at,
)


@dataclass
class DeliveryCount:
    """Lines written: per update id, and of notices."""

    by_update: dict[int, int] = field(default_factory=dict)
    notices: int = 0

    @property
    def total(self) -> int:
        return sum(self.by_update.values()) + self.notices


def count(connection: sa.Connection, update_ids: list[int], reference: str) -> int:
    """How many lines :func:`records` will write (for a progress bar)."""
    total = 0
    if update_ids:
        total += connection.execute(
            sa.select(sa.func.count()).select_from(_d).where(_d.c.update_id.in_(update_ids))
        ).scalar_one()
    notices = sa.select(_n.c.id).where(_about(reference))
    total += connection.execute(
        sa.select(sa.func.count()).select_from(_d).where(_d.c.notice_id.in_(notices))
    ).scalar_one()
    return int(total)


def _about(reference: str) -> sa.ColumnElement[bool]:
    prefix = f"{reference}/"
    return sa.func.substr(_n.c.about, 1, len(prefix)) == prefix


def records(
    connection: sa.Connection,
    *,
    updates: dict[int, int],
    reference: str,
    names: Pseudonyms,
    counted: DeliveryCount,
    chunk: int | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """The lines of ``deliveries.jsonl``, a chunk at a time. ``updates`` maps each update's id to its
    number; ``counted`` is filled in as lines are produced; ``chunk`` defaults to :data:`CHUNK`."""
    chunk = chunk or CHUNK
    for update_id, number in sorted(updates.items(), key=lambda item: item[1]):
        statement = (
            sa.select(*_COLUMNS, _r.c.external_id, _r.c.email, _r.c.phone_e164)
            .select_from(_d.outerjoin(_r, _r.c.id == _d.c.recipient_id))
            .where(_d.c.update_id == update_id)
        )
        for rows in _keyset(connection, statement, chunk):
            counted.by_update[update_id] = counted.by_update.get(update_id, 0) + len(rows)
            yield _with_events(connection, rows, partial(_update_line, number=number, names=names))
    notices = sa.select(_n.c.id).where(_about(reference))
    statement = (
        sa.select(*_COLUMNS, _n.c.kind, _n.c.about, _n.c.address)
        .select_from(_d.join(_n, _n.c.id == _d.c.notice_id))
        .where(_d.c.notice_id.in_(notices))
    )
    for rows in _keyset(connection, statement, chunk):
        counted.notices += len(rows)
        yield _with_events(connection, rows, lambda row: _notice_line(row, names))


def _keyset(connection: sa.Connection, statement: sa.Select[Any], chunk: int) -> Iterator[list[sa.Row[Any]]]:
    last = 0
    while True:
        rows = list(connection.execute(statement.where(_d.c.id > last).order_by(_d.c.id).limit(chunk)))
        if not rows:
            return
        yield rows
        last = rows[-1].id


def _with_events(
    connection: sa.Connection, rows: list[sa.Row[Any]], line: Callable[[sa.Row[Any]], dict[str, Any]]
) -> list[dict[str, Any]]:
    events: dict[int, list[dict[str, Any]]] = {}
    found = connection.execute(
        sa.select(
            _e.c.delivery_id,
            _e.c.provider,
            _e.c.state,
            _e.c.provider_status,
            _e.c.occurred_at,
            _e.c.received_at,
            _e.c.copy_id,
        )
        .where(_e.c.delivery_id.in_([row.id for row in rows]))
        .order_by(_e.c.delivery_id, _e.c.id)
    )
    for event in found:
        events.setdefault(event.delivery_id, []).append(
            {
                "provider": event.provider,
                "state": None if event.state is None else str(event.state),
                "provider_status": event.provider_status,
                "occurred_at": iso(event.occurred_at),
                "received_at": iso(event.received_at),
                "copy_id": event.copy_id,
            }
        )
    lines = []
    for row in rows:
        record = line(row)
        record["events"] = events.get(row.id, [])
        lines.append(record)
    return lines


def _common(row: sa.Row[Any], names: Pseudonyms) -> dict[str, Any]:
    return {
        "id": row.id,
        "channel": str(row.channel),
        "audience": row.audience,
        "state": str(row.state),
        "attempts": row.attempts,
        "first_attempt_at": iso(row.first_attempt_at),
        "accepted_at": iso(row.accepted_at),
        "provider_id": row.provider_id,
        "provider_status": row.provider_status,
        "error_code": row.error_code,
        "error_detail": names.text(row.error_detail),
        "uncertain_sends": row.uncertain_sends,
        "in_doubt": bool(row.in_doubt),
        "mandatory_reason": row.mandatory_reason,
        "held_until": iso(row.held_until),
        "hold_reason": row.hold_reason,
        "created_at": iso(row.created_at),
    }


def _update_line(row: sa.Row[Any], *, number: int, names: Pseudonyms) -> dict[str, Any]:
    channel = Channel(str(row.channel))
    kind = spec_of(channel).address
    address = row.email if kind == "email" else row.phone_e164 if kind == "phone" else None
    as_sent = None
    if address is not None and row.address_key is not None:
        as_sent = address_key(channel, address) == row.address_key
    recipient = None
    if row.recipient_id is not None:
        recipient = {
            "id": names.recipient_id(row.recipient_id),
            "external_id": names.person(row.external_id),
            "address": names.person(address),
            "address_as_sent": as_sent,
        }
    return {
        **_common(row, names),
        "update": number,
        "rendition_id": row.rendition_id,
        "notice": None,
        "recipient": recipient,
    }


def _notice_line(row: sa.Row[Any], names: Pseudonyms) -> dict[str, Any]:
    names.remember(row.address)
    return {
        **_common(row, names),
        "update": None,
        "rendition_id": None,
        "notice": {"kind": row.kind, "about": row.about},
        "recipient": {
            "id": None,
            "external_id": None,
            "address": names.person(row.address),
            "address_as_sent": True,
        },
    }
