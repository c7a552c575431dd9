"""Claiming due outbox rows: the committed ``pending → claimed`` change made before any network call,
and the claimed rows read back as messages (see :mod:`clarion.outbox.ledger` for the whole life).

Notices (:mod:`clarion.outbox.notices`) are claimed before updates' messages: a confirmation code
that waited behind a large fan-out would expire unread. Each is rendered as it is claimed, by the
worker's renderer; one that cannot be rendered (its templates fail, its SMS is too long) is handed
back as unrenderable, and the ledger records it failed with the reason, never sent.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from clarion import store
from clarion.channel_table import spec_of
from clarion.errors import InputError, RenderError
from clarion.kinds import Channel, DeliveryState
from clarion.models import Delivery, Incident, Notice, Recipient, Rendition, Update
from clarion.models.columns import UTCDateTime, table_of
from clarion.outbox import requests
from clarion.outbox.notices import NoticeData, RenderNotice
from clarion.outbox.port import Content, OutboundMessage

_d = table_of(Delivery)
_r = table_of(Recipient)
_rend = table_of(Rendition)
_u = table_of(Update)
_i = table_of(Incident)
_n = table_of(Notice)

UnsubscribeLink = Callable[[int, Channel], str]


@dataclass(frozen=True, slots=True)
class Claimed:
    message: OutboundMessage
    in_doubt: bool
    request_id: int | None = None
    """The provider request it was claimed with (:mod:`clarion.outbox.requests`), None when alone."""


@dataclass
class Batch:
    """What one claim took: the messages to send, and the notices that could not be rendered (by
    delivery id, the reason), claimed and to be recorded failed."""

    claimed: list[Claimed] = field(default_factory=list)
    unrenderable: dict[int, str] = field(default_factory=dict)
    prepared: requests.PreparedRequest | None = None
    """A request claimed with its body built at staging (``claimed`` is then empty)."""


@dataclass(frozen=True, slots=True)
class Taken:
    """What one claim wrote (:func:`take`), to be read as messages once it is committed (:func:`read`)."""

    channel: Channel
    now: datetime
    notice_ids: list[int] = field(default_factory=list)
    rendition_id: int | None = None
    row_ids: list[int] = field(default_factory=list)
    request: requests.ClaimedRequest | None = None

    def __bool__(self) -> bool:
        return bool(self.notice_ids or self.row_ids or self.request)


def claim_batch(
    engine: sa.Engine,
    *,
    worker: str,
    channel: Channel,
    limit: int,
    now: datetime,
    unsubscribe: UnsubscribeLink | None = None,
    writing: AbstractContextManager[object] | None = None,
    notices: RenderNotice | None = None,
    prepared: str | None = None,
) -> Batch:
    """Claim (:func:`take`, committed under ``writing``, the worker's own SQLite lock), then read
    the messages (:func:`read`) in a reading transaction, so other threads may write meanwhile."""
    with writing or nullcontext(), engine.begin() as connection:
        taken = take(connection, worker=worker, channel=channel, limit=limit, now=now, notices=notices)
    return read(
        engine,
        taken,
        worker=worker,
        unsubscribe=unsubscribe,
        writing=writing,
        notices=notices,
        prepared=prepared,
    )


def take(
    connection: sa.Connection,
    *,
    worker: str,
    channel: Channel,
    limit: int,
    now: datetime,
    notices: RenderNotice | None = None,
) -> Taken:
    """Claim up to ``limit`` due notices of one channel or, when none is due, up to ``limit`` due rows
    that share a rendition (one provider request) or, when none is due alone, one due provider
    request (:mod:`clarion.outbox.requests`: its rows are read, not written), in the caller's
    transaction.

    Every lookup runs on the partial indexes of pending rows (migration 0003; a notice's row is a
    pending row without a rendition), so a claim costs the same however many rows the table holds.
    Claiming a notice needs ``notices``, the renderer: without one, a due notice is a LookupError.
    """
    sqlite = connection.dialect.name == "sqlite"
    noticed = connection.execute(
        _SQLITE_CLAIM_NOTICES.bindparams(worker=worker, channel=channel.value, now=now, limit=limit)
        if sqlite
        else _claim_notices(worker=worker, channel=channel, now=now, limit=limit)
    )
    notice_ids = sorted(noticed.scalars())
    if notice_ids:
        if notices is None:
            raise LookupError(f"{channel} notices are due, and this worker has no way to render them")
        return Taken(channel, now, notice_ids=notice_ids)
    first = connection.execute(
        _SQLITE_FIRST.bindparams(channel=channel.value, now=now) if sqlite else _first_due(channel, now)
    ).first()
    if first is None:
        request = requests.claim(connection, worker=worker, channel=channel, now=now)
        return Taken(channel, now, request=request)
    if first.rendition_id is None:
        raise LookupError(f"{channel} delivery rows without a rendition cannot be sent")
    shared = {"channel": channel.value, "rendition": first.rendition_id, "now": now, "limit": limit}
    claimed_ids = connection.execute(
        _SQLITE_CLAIM.bindparams(worker=worker, **shared)
        if sqlite
        else _claim_due(worker=worker, channel=channel, rendition_id=first.rendition_id, now=now, limit=limit)
    ).scalars()
    return Taken(channel, now, rendition_id=first.rendition_id, row_ids=sorted(claimed_ids))


def read(
    engine: sa.Engine,
    taken: Taken,
    *,
    worker: str,
    unsubscribe: UnsubscribeLink | None = None,
    writing: AbstractContextManager[object] | None = None,
    notices: RenderNotice | None = None,
    prepared: str | None = None,
) -> Batch:
    """The messages of a committed claim; with ``prepared`` (what the worker's bodies are made with),
    a request whose body was built at staging with the same, and still fits its rows, comes as that
    body (:attr:`Batch.prepared`), its rows unread."""
    channel, now = taken.channel, taken.now
    if taken.notice_ids:
        assert notices is not None
        return _notice_messages(engine, channel, taken.notice_ids, now, notices)
    if taken.request is not None:
        if prepared is not None:
            with store.reading(engine) as connection:
                ready = requests.prepared(connection, taken.request, channel, made_with=prepared)
            if ready is not None:
                return Batch(prepared=ready)
        return _request_messages(
            engine, channel, taken.request, unsubscribe, worker=worker, now=now, writing=writing
        )
    if taken.rendition_id is None or not taken.row_ids:
        return Batch()
    with store.reading(engine) as connection:
        return Batch(_messages(connection, channel, taken.rendition_id, taken.row_ids, now, unsubscribe))


def _request_messages(
    engine: sa.Engine,
    channel: Channel,
    request: requests.ClaimedRequest,
    unsubscribe: UnsubscribeLink | None,
    *,
    worker: str,
    now: datetime,
    writing: AbstractContextManager[object] | None,
) -> Batch:
    """A claimed request's rows still pending, as messages; an empty request is done at once."""
    with store.reading(engine) as connection:
        claimed = request_messages(connection, channel, request, unsubscribe)
    if not claimed:
        with writing or nullcontext(), engine.begin() as connection:
            requests.finish_empty(connection, request_id=request.id, worker=worker, now=now)
    return Batch(claimed)


def request_messages(
    connection: sa.Connection,
    channel: Channel,
    request: requests.ClaimedRequest,
    unsubscribe: UnsubscribeLink | None,
) -> list[Claimed]:
    """The rows still pending in ``request``, as messages (in doubt with it)."""
    return _messages(
        connection,
        channel,
        request.rendition_id,
        None,
        request.first_attempt_at,
        unsubscribe,
        request=request,
    )


def _first_due(channel: Channel, now: datetime) -> sa.Select[tuple[int | None]]:
    return (
        sa.select(_d.c.rendition_id)
        .where(
            _d.c.channel == channel,
            _d.c.state == DeliveryState.PENDING,
            _d.c.request_id.is_(None),
            _d.c.next_attempt_at <= now,
        )
        .order_by(_d.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


def _claim_notices(*, worker: str, channel: Channel, now: datetime, limit: int) -> sa.Update:
    ids = (
        sa.select(_d.c.id)
        .where(
            _d.c.channel == channel,
            _d.c.state == DeliveryState.PENDING,
            _d.c.request_id.is_(None),
            _d.c.rendition_id.is_(None),
            _d.c.notice_id.is_not(None),
            _d.c.next_attempt_at <= now,
        )
        .order_by(_d.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    return _claiming(ids, worker=worker, now=now)


def _claim_due(*, worker: str, channel: Channel, rendition_id: int, now: datetime, limit: int) -> sa.Update:
    ids = (
        sa.select(_d.c.id)
        .where(
            _d.c.channel == channel,
            _d.c.state == DeliveryState.PENDING,
            _d.c.request_id.is_(None),
            _d.c.rendition_id == rendition_id,
            _d.c.next_attempt_at <= now,
        )
        .order_by(_d.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    return _claiming(ids, worker=worker, now=now)


def _claiming(ids: sa.ScalarSelect[int], *, worker: str, now: datetime) -> sa.Update:
    statement: sa.Update = (
        _d.update()
        .where(_d.c.id.in_(ids))
        .values(
            state=DeliveryState.CLAIMED,
            claimed_by=worker,
            claimed_at=now,
            first_attempt_at=sa.func.coalesce(_d.c.first_attempt_at, now),
        )
        .returning(_d.c.id)
    )
    return statement


# SQLite keeps no statistics unless told to and, left to choose, took an index on the due time and
# sorted every due row, so its two claim statements name their index. Otherwise they are the ones above.
_SQLITE_FIRST = sa.text(
    "SELECT rendition_id FROM delivery INDEXED BY ix_delivery_pending"
    " WHERE channel = :channel AND state = 'pending' AND request_id IS NULL AND next_attempt_at <= :now"
    " ORDER BY id LIMIT 1"
).bindparams(sa.bindparam("now", type_=UTCDateTime))
_SQLITE_CLAIM = sa.text(
    "UPDATE delivery SET state = 'claimed', claimed_by = :worker, claimed_at = :now, updated_at = :now,"
    " first_attempt_at = coalesce(first_attempt_at, :now)"
    " WHERE id IN (SELECT id FROM delivery INDEXED BY ix_delivery_pending_rendition"
    " WHERE channel = :channel AND state = 'pending' AND request_id IS NULL AND rendition_id = :rendition"
    " AND next_attempt_at <= :now ORDER BY id LIMIT :limit) RETURNING id"
).bindparams(sa.bindparam("now", type_=UTCDateTime))
_SQLITE_CLAIM_NOTICES = sa.text(
    "UPDATE delivery SET state = 'claimed', claimed_by = :worker, claimed_at = :now, updated_at = :now,"
    " first_attempt_at = coalesce(first_attempt_at, :now)"
    " WHERE id IN (SELECT id FROM delivery INDEXED BY ix_delivery_pending_rendition"
    " WHERE channel = :channel AND state = 'pending' AND request_id IS NULL AND rendition_id IS NULL"
    " AND notice_id IS NOT NULL"
    " AND next_attempt_at <= :now ORDER BY id LIMIT :limit) RETURNING id"
).bindparams(sa.bindparam("now", type_=UTCDateTime))


def _messages(
    connection: sa.Connection,
    channel: Channel,
    rendition_id: int,
    ids: list[int] | None,
    claimed_at: datetime,
    unsubscribe: UnsubscribeLink | None,
    *,
    request: requests.ClaimedRequest | None = None,
) -> list[Claimed]:
    """The claimed rows (``ids``, or the rows of ``request`` still pending) as messages: what they
    share is read once, each row only its own columns. A request's rows are in doubt with it."""
    shared = connection.execute(
        sa.select(
            _rend.c.locale,
            _rend.c.subject,
            _rend.c.body,
            _rend.c.html,
            _rend.c.carried,
            _rend.c.thread,
            _u.c.id.label("update_id"),
            _u.c.status,
            _i.c.id.label("incident_id"),
            _i.c.reference,
            _i.c.severity,
        )
        .select_from(_rend.join(_u, _u.c.id == _rend.c.update_id).join(_i, _i.c.id == _u.c.incident_id))
        .where(_rend.c.id == rendition_id)
    ).one()
    content = Content(
        rendition_id=rendition_id,
        locale=shared.locale,
        text=shared.body,
        subject=shared.subject,
        html=shared.html,
        link=(shared.carried or {}).get("link"),
        thread=tuple(shared.thread or ()),
    )
    address_column = {"email": _r.c.email, "phone": _r.c.phone_e164}.get(spec_of(channel).address or "")
    rows = connection.execute(
        sa.select(
            _d.c.id,
            _d.c.idempotency_key,
            _d.c.audience,
            _d.c.recipient_id,
            _d.c.mandatory_reason,
            _d.c.attempts,
            _d.c.in_doubt,
            (address_column if address_column is not None else sa.null()).label("address"),
            *((_d.c.created_at, _d.c.first_attempt_at) if request is None else ()),  # a request's are its own
        )
        .select_from(_d.outerjoin(_r, _r.c.id == _d.c.recipient_id))
        .where(_d.c.id.in_(ids) if ids is not None else requests.members(request.id if request else 0))
        .order_by(_d.c.id)
    )
    status, reference, severity = str(shared.status), shared.reference, shared.severity
    claimed = []
    # Rows as plain tuples (a request's thousand rows: attribute access on each Row costs more than
    # the unpacking); a row claimed alone ends with its own times, a request's rows take the request's.
    for (
        delivery_id,
        key,
        audience,
        recipient_id,
        mandatory,
        attempts,
        in_doubt,
        address,
        *times,
    ) in rows:
        link = None
        if unsubscribe is not None and recipient_id is not None and not mandatory:
            link = unsubscribe(recipient_id, channel)
        if request is None:
            created_at, first_attempt_at = times
        else:
            created_at, first_attempt_at = request.created_at, None
        message = OutboundMessage(
            delivery_id=delivery_id,
            idempotency_key=key,
            channel=channel,
            content=content,
            incident_reference=reference,
            severity=severity,
            status=status,
            created_at=created_at,
            attempts=attempts,
            first_attempt_at=first_attempt_at or claimed_at,
            address=address,
            audience=audience,
            recipient_id=recipient_id,
            mandatory_reason=mandatory,
            unsubscribe_url=link,
            incident_id=shared.incident_id,
            update_id=shared.update_id,
        )
        if request is not None:
            claimed.append(Claimed(message, request.in_doubt, request.id))
        else:
            claimed.append(Claimed(message, bool(in_doubt)))
    return claimed


def _notice_messages(
    engine: sa.Engine, channel: Channel, ids: list[int], claimed_at: datetime, render: RenderNotice
) -> Batch:
    """The claimed notices as messages, each rendered now, and those that cannot be."""
    with store.reading(engine) as connection:
        rows = connection.execute(
            sa.select(
                _d.c.id,
                _d.c.idempotency_key,
                _d.c.created_at,
                _d.c.attempts,
                _d.c.first_attempt_at,
                _d.c.in_doubt,
                _n.c.id.label("notice_id"),
                _n.c.kind,
                _n.c.locale,
                _n.c.address,
                _n.c.about,
                _n.c.params,
            )
            .select_from(_d.join(_n, _n.c.id == _d.c.notice_id))
            .where(_d.c.id.in_(ids))
            .order_by(_d.c.id)
        ).all()
    batch = Batch()
    for row in rows:
        data = NoticeData(
            row.notice_id, row.kind, channel, row.locale, row.address, row.about, dict(row.params or {})
        )
        try:
            content = render(data)
        except (InputError, RenderError) as exc:
            batch.unrenderable[row.id] = str(exc)
            continue
        message = OutboundMessage(
            delivery_id=row.id,
            idempotency_key=row.idempotency_key,
            channel=channel,
            content=content,
            incident_reference="",
            severity="",
            status="",
            created_at=row.created_at,
            attempts=row.attempts,
            first_attempt_at=row.first_attempt_at or claimed_at,
            address=row.address,
            notice=row.kind,
        )
        batch.claimed.append(Claimed(message, bool(row.in_doubt)))
    return batch
