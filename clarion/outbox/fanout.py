"""Fan-out: turn one update and its audiences into outbox rows, before any network call.

The order matters for "validate everything before sending anything": the caller checks the whole
audience first (:func:`clarion.audiences.audience.check_csv` gives every locale × time zone it holds), renders
and stores every rendition those need (:func:`store_renditions`, where limits and consistency are
enforced), and only then streams recipients into Delivery rows (:func:`enqueue_audience`), a chunk
per transaction. Enqueueing is idempotent: a row's idempotency key names the update, channel and
recipient, so running it again after a crash adds only what is missing.

Recipients whose consent for a channel is withdrawn get a ``suppressed`` row (the ledger shows why
they were not sent to), unless the audience is mandatory (legally required or life-safety) and the
channel is email, whose provider lets us bypass its unsubscribe list. A phone that replied STOP is
never texted: the carrier would refuse anyway.

One message per address and channel in an update: two ids that share an address (a CRM holds the
same person twice), or one person in two audiences, get one message (:mod:`clarion.outbox.addresses`);
the count says how many rows were merged, and tells them apart from rows an earlier run of the same
staging had handled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from clarion.audiences.audience import RecipientRow, chunks
from clarion.channel_table import spec_of
from clarion.kinds import FALLBACK_CHANNELS, Channel, ConsentState, DeliveryState
from clarion.models import AudienceMembership, ChannelConsent, Delivery, Recipient, Rendition, utcnow
from clarion.models.columns import table_of
from clarion.outbox.addresses import Outcome, address_key, insert_deliveries, staging_mark
from clarion.outbox.bulk import among, insert_rows
from clarion.outbox.prepared import Preparation, prepare
from clarion.outbox.quiet_hours import QuietPlan, hold_columns
from clarion.outbox.requests import RequestFormer
from clarion.outbox.superseded import held_earlier, supersede
from clarion.updates.rendition import Rendition as RenderedRendition

RenditionKey = tuple[Channel, str, str]
"""(channel, locale, time zone)"""

_delivery = table_of(Delivery)
_recipient = table_of(Recipient)
_membership = table_of(AudienceMembership)
_consent = table_of(ChannelConsent)
_rendition = table_of(Rendition)


@dataclass
class FanOutCount:
    recipients: int = 0
    planned: int = 0
    """Messages of this audience in the outbox (suppressed ones and those already staged included)."""
    suppressed: int = 0
    without_address: int = 0
    merged: int = 0
    """Rows not written because this staging already sends a message to the same address on the
    channel (for another id, or for the same recipient in another audience)."""
    already_staged: int = 0
    """Rows an earlier run of this staging had handled: their own message (also in ``planned``), or
    another's to the same address. A re-run that writes nothing says so here, not as merged."""
    superseded: int = 0
    """Messages of earlier updates of the incident, held to their recipients' morning, that this
    update's messages replaced (:mod:`clarion.outbox.superseded`)."""
    per_channel: dict[Channel, int] = field(default_factory=dict)

    def add(self, channel: Channel, *, suppressed: bool) -> None:
        self.planned += 1
        self.suppressed += suppressed
        self.per_channel[channel] = self.per_channel.get(channel, 0) + 1


def idempotency_key(
    update_id: int, channel: Channel, *, recipient_id: int | None = None, scope: str = ""
) -> str:
    """The outbox key: one message per update, channel and recipient (or broadcast scope)."""
    who = f"r{recipient_id}" if recipient_id is not None else f"b{scope}"
    return f"u{update_id}.{channel.value}.{who}"


def insert_for(engine: sa.Engine) -> type[sqlite.Insert] | type[postgresql.Insert]:
    """The dialect's INSERT, which knows ``ON CONFLICT``."""
    return postgresql.Insert if engine.dialect.name == "postgresql" else sqlite.Insert


def store_renditions(
    *, engine: sa.Engine, update_id: int, renditions: Iterable[RenderedRendition]
) -> dict[RenditionKey, int]:
    """Store renditions (once each; a second call returns the ids already stored)."""
    insert = insert_for(engine)
    rows = []
    for r in renditions:
        binding = r.binding
        sms = binding.sms if binding is not None else None
        rows.append(
            {
                "update_id": update_id,
                "channel": r.channel,
                "locale": r.locale,
                "time_zone": r.time_zone,
                "subject": r.fields.get("subject"),
                "body": r.fields.get("body", ""),
                "html": r.fields.get("html"),
                "length": binding.length if binding is not None else 0,
                "limit": binding.limit if binding is not None else None,
                "measure": binding.measure if binding is not None else "characters",
                "sms_segments": sms.segments if sms is not None else None,
                "sms_encoding": str(sms.encoding) if sms is not None else None,
                "carried": r.carried.as_json(),
                "thread": list(r.thread) or None,
                "created_at": utcnow(),
            }
        )
    with engine.begin() as connection:
        if rows:
            statement = insert(_rendition).values(rows)
            connection.execute(statement.on_conflict_do_nothing())
        stored = connection.execute(
            sa.select(
                _rendition.c.id, _rendition.c.channel, _rendition.c.locale, _rendition.c.time_zone
            ).where(_rendition.c.update_id == update_id)
        )
        return {(Channel(c), loc, tz): rid for rid, c, loc, tz in stored}


@dataclass(frozen=True)
class AudiencePlan:
    """How one audience receives one update."""

    update_id: int
    audience: str
    channels: Sequence[Channel]
    renditions: Mapping[RenditionKey, int]
    locales: Sequence[str]
    """The playbook's locales; the first is used for recipients whose locale it does not ship."""
    default_time_zone: str
    mandatory_reason: str | None = None
    quiet: QuietPlan | None = None
    """Quiet hours its personal messages keep (:mod:`clarion.outbox.quiet_hours`); None: none."""
    fallback_after: int | None = None
    """Seconds, for a must-reach audience: its email and SMS messages fall back to the other channel
    (:mod:`clarion.outbox.fallback`)."""
    request_size: int | None = None
    """Recipients per provider request (:mod:`clarion.outbox.requests`); the provider's most when None."""

    def rendition_for(self, channel: Channel, row: RecipientRow) -> int:
        locale = row.locale if row.locale is not None and row.locale in self.locales else self.locales[0]
        return self.renditions[(channel, locale, row.time_zone or self.default_time_zone)]


def enqueue_audience(
    *,
    engine: sa.Engine,
    plan: AudiencePlan,
    rows: Iterable[RecipientRow],
    chunk: int = 2_000,
    since: int | None = None,
    preparation: Preparation | None = None,
) -> FanOutCount:
    """Import the audience's recipients and write one Delivery per recipient and personal channel,
    one per address (see the module's docstring). Each provider request is sealed as it fills, and
    its body built then with ``preparation`` (:mod:`clarion.outbox.prepared`) when there is one.

    ``since`` is the :func:`staging_mark` taken before the staging run wrote its first audience (by
    default, at this call): a row held back by a message written above it was merged in this run; one
    held back by a message written before it was handled by an earlier run of the same staging.
    """
    mark = staging_mark(engine) if since is None else since
    count = FanOutCount()
    personal: list[Channel] = [c for c in plan.channels if spec_of(c).personal]
    requests = RequestFormer(update_id=plan.update_id, audience=plan.audience, size=plan.request_size)
    with engine.connect() as connection:
        number, earlier = held_earlier(connection, plan.update_id)
    for batch in chunks(rows, chunk):
        with engine.begin() as connection:
            ids = _upsert_recipients(connection, batch, plan.audience)
            withdrawn = _withdrawn(connection, list(ids.values()), personal)
            now = utcnow()
            offered: list[dict[str, object]] = []
            first: dict[object, int] = {}  # idempotency key, (channel, address key) → its row in offered
            followers: list[int] = []  # a repeat in this chunk: the offered row it repeats
            for row in batch:
                recipient_id = ids[row.external_id]
                count.recipients += 1
                for channel in personal:
                    address = row.email if spec_of(channel).address == "email" else row.phone
                    if address is None:
                        count.without_address += 1
                        continue
                    suppressed = (recipient_id, channel) in withdrawn and not (
                        channel is Channel.EMAIL and plan.mandatory_reason
                    )
                    delivery = _delivery_row(
                        plan, channel, now, recipient_id, plan.rendition_for(channel, row), suppressed
                    )
                    if not suppressed:  # held to the recipient's morning in quiet hours
                        delivery |= hold_columns(plan.quiet, now, row.time_zone or plan.default_time_zone)
                    key = delivery["address_key"] = None if suppressed else address_key(channel, address)
                    repeated = first.get(delivery["idempotency_key"])
                    if repeated is None and key is not None:
                        repeated = first.get((channel, key))
                    if repeated is not None:
                        followers.append(repeated)
                        continue
                    first[delivery["idempotency_key"]] = len(offered)
                    if key is not None:
                        first[(channel, key)] = len(offered)
                    offered.append(delivery)
            if offered:
                offered, followers = _grouped(offered, followers)
                filled = requests.assign(connection, insert_for(engine), offered, now)
                outcomes = insert_deliveries(connection, offered, audience=plan.audience, mark=mark)
                requests.drop_empty(connection, filled)  # every row offered to one was staged before
                if preparation is not None:
                    prepare(connection, filled, preparation, now)
                count.superseded += supersede(
                    connection,
                    update_id=plan.update_id,
                    number=number,
                    earlier=earlier,
                    rows=offered,
                    now=now,
                )
                for delivery, (outcome, suppressed) in zip(offered, outcomes, strict=True):
                    if outcome.planned:
                        count.add(cast(Channel, delivery["channel"]), suppressed=suppressed)
                    count.merged += outcome is Outcome.MERGED
                    count.already_staged += outcome.earlier
                for repeated in followers:  # merged in this run, unless an earlier run had its address
                    count.merged += not outcomes[repeated][0].earlier
                    count.already_staged += outcomes[repeated][0].earlier
    with engine.begin() as connection:
        now = utcnow()
        sealed = requests.seal(connection, now)
        if preparation is not None:
            prepare(connection, sealed, preparation, now)
    return count


def _grouped(
    offered: list[dict[str, object]], followers: list[int]
) -> tuple[list[dict[str, object]], list[int]]:
    """``offered`` in the order of the claims that will take them (channel, rendition, hold), and
    ``followers`` (positions in ``offered``) moved with them. Rows claimed together are then written
    next to each other: recording a request of 1000 rows touches the pages of 1000 rows, not of the
    whole chunk's (an audience of 20 renditions interleaves them)."""
    order = sorted(range(len(offered)), key=lambda i: _claim_key(offered[i]))
    moved = {old: new for new, old in enumerate(order)}
    return [offered[i] for i in order], [moved[i] for i in followers]


def _claim_key(row: Mapping[str, object]) -> tuple[str, int, str]:
    held = row["held_until"]
    return (
        str(row["channel"]),
        cast(int, row["rendition_id"]),
        held.isoformat() if isinstance(held, datetime) else "",
    )


def enqueue_broadcast(
    *,
    engine: sa.Engine,
    update_id: int,
    channel: Channel,
    rendition_id: int,
    scope: str,
    audience: str | None = None,
) -> None:
    """One Delivery for a broadcast (a social post per locale, a banner per audience and locale)."""
    row = {
        "update_id": update_id,
        "rendition_id": rendition_id,
        "recipient_id": None,
        "channel": channel,
        "audience": audience,
        "idempotency_key": idempotency_key(update_id, channel, scope=scope),
        "state": DeliveryState.PENDING,
        "next_attempt_at": utcnow(),
        "created_at": utcnow(),
        "updated_at": utcnow(),
    }
    with engine.begin() as connection:
        statement = insert_for(engine)(_delivery).on_conflict_do_nothing(index_elements=["idempotency_key"])
        connection.execute(statement, [row])


def _delivery_row(
    plan: AudiencePlan,
    channel: Channel,
    now: datetime,
    recipient_id: int,
    rendition_id: int,
    suppressed: bool,
) -> dict[str, object]:
    return {
        "update_id": plan.update_id,
        "rendition_id": rendition_id,
        "recipient_id": recipient_id,
        "channel": channel,
        "audience": plan.audience,
        "idempotency_key": idempotency_key(plan.update_id, channel, recipient_id=recipient_id),
        "state": DeliveryState.SUPPRESSED if suppressed else DeliveryState.PENDING,
        "error_code": "consent-withdrawn" if suppressed else None,
        "mandatory_reason": plan.mandatory_reason,  # on every channel: a fallback keeps it
        "fallback_after": plan.fallback_after if channel in FALLBACK_CHANNELS and not suppressed else None,
        "next_attempt_at": now,
        "held_until": None,
        "hold_reason": None,
        "request_id": None,
        "created_at": now,
        "updated_at": now,
    }


def _upsert_recipients(connection: sa.Connection, batch: list[RecipientRow], audience: str) -> dict[str, int]:
    """Insert or refresh the batch's recipients and memberships; their ids by external id."""
    latest = {row.external_id: row for row in batch}  # a repeated id: the last row wins
    now = utcnow()
    values = [
        {
            "external_id": r.external_id,
            "email": r.email,
            "phone_e164": r.phone,
            "locale": r.locale or "en",
            "time_zone": r.time_zone,
            "created_at": now,
        }
        for r in latest.values()
    ]
    insert_rows(connection, _recipient, values, conflict=_RECIPIENT_CONFLICT)
    found = connection.execute(
        sa.select(_recipient.c.external_id, _recipient.c.id).where(
            among(connection, _recipient.c.external_id, list(latest))
        )
    )
    ids = {external_id: recipient_id for external_id, recipient_id in found}
    memberships = [{"audience": audience, "recipient_id": i} for i in ids.values()]
    insert_rows(connection, _membership, memberships, conflict="ON CONFLICT DO NOTHING")
    return ids


_RECIPIENT_CONFLICT = (
    "ON CONFLICT (external_id) DO UPDATE SET email = EXCLUDED.email, phone_e164 = EXCLUDED.phone_e164,"
    " locale = EXCLUDED.locale, time_zone = EXCLUDED.time_zone"
)
"""A recipient written again takes the row's address, locale and time zone (:mod:`clarion.outbox.bulk`)."""


def _withdrawn(
    connection: sa.Connection, recipient_ids: list[int], channels: list[Channel]
) -> set[tuple[int, Channel]]:
    if not recipient_ids or not channels:
        return set()
    rows = connection.execute(
        sa.select(_consent.c.recipient_id, _consent.c.channel).where(
            among(connection, _consent.c.recipient_id, recipient_ids),
            _consent.c.channel.in_(channels),
            _consent.c.state == ConsentState.WITHDRAWN,
        )
    )
    return {(recipient_id, Channel(channel)) for recipient_id, channel in rows}
