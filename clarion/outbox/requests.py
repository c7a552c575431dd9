"""The ledger by provider request: a SendGrid request of up to 1000 recipients is one row, claimed,
sent and recorded as a unit, so a message costs a share of one row write, not two writes of its own.

Requests are formed while an audience is staged (:class:`RequestFormer`): each email row of one
rendition and one hold (quiet hours hold a time zone's rows to its morning) joins the open request
of its kind, up to the provider's ``max_batch``. A request stays ``open`` while staging adds to it
and is sealed (``pending``) when it is full or the audience is staged, so no worker sends it half-
filled and the first requests of a large audience go while the rest is staged; a request a staging
run that died left open is sealed by its re-run, or by :func:`release_stale` once nothing was added
to it for a lease. A request's rows are in no claim index (migration 0014): they are claimed with
it.

The guarantees are the row ledger's (:mod:`clarion.outbox.ledger`), held by the request row: the
claim is committed before the request goes out; a worker killed in flight leaves the request
``claimed``, and :func:`release_stale` puts it back in doubt; every resend the provider cannot rule
out is counted before it goes out, on the request and on each of its rows
(:func:`count_blind_resends`); and the outcome is written to the rows still ``pending`` in the
request in the transaction that ends the claim (:func:`end_claim`), guarded by the claim, so a
worker that outlived its lease writes nothing. A row that left ``pending`` meanwhile (erased,
superseded) is not in the next attempt's request: the rows are read at every claim, or, when the
request's body was built at staging (:mod:`clarion.outbox.prepared`), counted, and a body built for
other rows than those still pending is built again from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from clarion.channel_table import spec_of
from clarion.kinds import Channel, DeliveryState
from clarion.models import Delivery, ProviderRequest, RequestState
from clarion.models.columns import UTCDateTime, table_of

_d = table_of(Delivery)
_q = table_of(ProviderRequest)

GroupKey = tuple[object, object, object]
"""(channel, rendition, held until): rows held to a morning go together, and not with the others"""


def batched(channel: Channel) -> bool:
    """Does ``channel`` send its messages in provider requests of several recipients?"""
    spec = spec_of(channel)
    return spec.one_request_per_batch and spec.max_batch > 1


class RequestFormer:
    """Puts one audience's staged rows into requests (see the module's docstring)."""

    def __init__(self, *, update_id: int, audience: str, size: int | None = None) -> None:
        self.update_id, self.audience, self.size = update_id, audience, size
        self._open: dict[GroupKey, tuple[int, int]] = {}  # group → (request id, rows given to it)
        self._opened: list[int] = []  # every request this former opened, for the empty ones to go

    def assign(
        self,
        connection: sa.Connection,
        insert: type[sqlite.Insert] | type[postgresql.Insert],
        rows: Sequence[dict[str, object]],
        now: datetime,
    ) -> list[int]:
        """Set ``request_id`` on each pending row of a batched channel, opening requests as needed.
        A request this fills is sealed at once (in the caller's transaction, so with its rows): the
        first emails of a large audience go while the rest is staged. The ids of those sealed."""
        filled: list[int] = []
        for row in rows:
            channel = row["channel"]
            if row["state"] is not DeliveryState.PENDING or not isinstance(channel, Channel):
                continue
            if not batched(channel):
                continue
            key = (channel, row["rendition_id"], row["held_until"])
            most = min(spec_of(channel).max_batch, self.size or spec_of(channel).max_batch)
            request_id, given = self._open.get(key, (0, most))
            if given >= most:
                due = row["next_attempt_at"]
                request_id, given = self._open_request(connection, insert, key, due, now), 0
            self._open[key] = (request_id, given + 1)
            row["request_id"] = request_id
            if given + 1 == most:
                filled.append(request_id)
        if filled:
            seal(connection, now, _q.c.id.in_(filled))
        if self._open:
            touched = sorted({request_id for request_id, _ in self._open.values()} - set(filled))
            connection.execute(_q.update().where(_q.c.id.in_(touched)).values(updated_at=now))
        return filled

    def _open_request(
        self,
        connection: sa.Connection,
        insert: type[sqlite.Insert] | type[postgresql.Insert],
        key: GroupKey,
        due: object,
        now: datetime,
    ) -> int:
        channel, rendition_id, _ = key
        values = {
            "update_id": self.update_id,
            "rendition_id": rendition_id,
            "audience": self.audience,
            "channel": channel,
            "state": RequestState.OPEN,
            "next_attempt_at": due,
            "attempts": 0,
            "in_doubt": False,
            "uncertain_sends": 0,
            "created_at": now,
            "updated_at": now,
        }
        request_id = int(connection.execute(insert(_q).values(values).returning(_q.c.id)).scalar_one())
        self._opened.append(request_id)
        return request_id

    def seal(self, connection: sa.Connection, now: datetime) -> list[int]:
        """Open every request of this update and audience to the workers (an earlier, interrupted
        staging's too), in the caller's transaction; the ids sealed. One this former opened that no
        row joined is deleted (another staging of the same audience running now may still fill its own).
        """
        if self._opened:
            _drop_empty(connection, _q.c.id.in_(self._opened) & (_q.c.state == RequestState.OPEN))
        return seal(connection, now, (_q.c.update_id == self.update_id) & (_q.c.audience == self.audience))

    def drop_empty(self, connection: sa.Connection, filled: Sequence[int]) -> None:
        """Once a chunk's rows are written: delete the requests it filled that no row joined."""
        if filled:
            _drop_empty(connection, _q.c.id.in_(filled))


def _drop_empty(connection: sa.Connection, which: sa.ColumnElement[bool]) -> None:
    """Delete the requests ``which`` selects that no row joined. Staging the same update again
    offers the rows an earlier run wrote; the insert skips them, so the requests formed for them
    carry nothing, and a worker would claim them for nothing."""
    unclaimed = _q.c.state.in_([RequestState.OPEN, RequestState.PENDING]) & _q.c.claimed_by.is_(None)
    empty = ~sa.exists().where(_d.c.request_id == _q.c.id)
    connection.execute(_q.delete().where(which, unclaimed, empty))


def seal(connection: sa.Connection, now: datetime, which: sa.ColumnElement[bool]) -> list[int]:
    """Seal the open requests ``which`` selects; their ids."""
    statement = (
        _q.update()
        .where(_q.c.state == RequestState.OPEN, which)
        .values(state=RequestState.PENDING, updated_at=now)
        .returning(_q.c.id)
    )
    return sorted(connection.execute(statement).scalars())


# ── claiming ──────────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class ClaimedRequest:
    id: int
    rendition_id: int
    attempts: int
    first_attempt_at: datetime
    in_doubt: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PreparedRequest:
    """A claimed request whose body, built at staging, still fits its rows: it goes as built, and
    its outcome is every row's. It answers the names the worker's decisions read of a message."""

    request: ClaimedRequest
    channel: Channel
    body: bytes
    rows: int
    mandatory_reason: str | None
    delivery_id: int = 0
    recipient_id: int | None = None

    @property
    def attempts(self) -> int:
        return self.request.attempts


def prepared(
    connection: sa.Connection, request: ClaimedRequest, channel: Channel, *, made_with: str
) -> PreparedRequest | None:
    """The claimed ``request`` with its body, when it has one built ``made_with`` what the claiming
    worker would build with, for exactly the rows still pending in it; None when it has none, it was
    built otherwise (another sender address, another link base), or a row left it since (erased,
    recorded elsewhere)."""
    body, rows, made = connection.execute(
        sa.select(_q.c.body, _q.c.body_rows, _q.c.body_made_with).where(_q.c.id == request.id)
    ).one()
    if body is None or made != made_with:
        return None
    count, reason = connection.execute(
        sa.select(sa.func.count(), sa.func.max(_d.c.mandatory_reason)).where(members(request.id))
    ).one()
    if count != rows:
        return None
    return PreparedRequest(request, channel, bytes(body), int(rows), reason)


_NO_BODY = {"body": None, "body_rows": None, "body_made_with": None}
"""A done request keeps no body: it holds its recipients' addresses."""


def store_body(connection: sa.Connection, request_id: int, body: bytes, rows: int, made_with: str) -> None:
    values = {"body": body, "body_rows": rows, "body_made_with": made_with}
    connection.execute(_q.update().where(_q.c.id == request_id).values(**values))


def claim(
    connection: sa.Connection, *, worker: str, channel: Channel, now: datetime
) -> ClaimedRequest | None:
    """Claim the first due request of ``channel`` (one row write), or None."""
    if connection.dialect.name == "sqlite":
        first = connection.execute(_SQLITE_FIRST_REQUEST.bindparams(channel=channel.value, now=now)).scalar()
    else:
        first = connection.execute(
            sa.select(_q.c.id)
            .where(_q.c.channel == channel, _q.c.state == RequestState.PENDING, _q.c.next_attempt_at <= now)
            .order_by(_q.c.next_attempt_at, _q.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).scalar()
    if first is None:
        return None
    row = connection.execute(
        _q.update()
        .where(_q.c.id == first, _q.c.state == RequestState.PENDING)
        .values(
            state=RequestState.CLAIMED,
            claimed_by=worker,
            claimed_at=now,
            updated_at=now,
            first_attempt_at=sa.func.coalesce(_q.c.first_attempt_at, now),
        )
        .returning(
            _q.c.id, _q.c.rendition_id, _q.c.attempts, _q.c.first_attempt_at, _q.c.in_doubt, _q.c.created_at
        )
    ).one_or_none()
    if row is None:
        return None
    return ClaimedRequest(
        row.id, row.rendition_id, row.attempts, row.first_attempt_at, bool(row.in_doubt), row.created_at
    )


_SQLITE_FIRST_REQUEST = sa.text(
    "SELECT id FROM provider_request INDEXED BY ix_provider_request_due"
    " WHERE channel = :channel AND state = 'pending' AND next_attempt_at <= :now"
    " ORDER BY next_attempt_at, id LIMIT 1"
).bindparams(sa.bindparam("now", type_=UTCDateTime))


def members(request_id: int) -> sa.ColumnElement[bool]:
    """The rows a claim of the request sends: those still pending in it."""
    return (_d.c.request_id == request_id) & (_d.c.state == DeliveryState.PENDING)


def first_attempt(request_id: int) -> sa.ScalarSelect[datetime]:
    """The request's first attempt, for its rows (never claimed one by one)."""
    return sa.select(_q.c.first_attempt_at).where(_q.c.id == request_id).scalar_subquery()


def finish_empty(connection: sa.Connection, *, request_id: int, worker: str, now: datetime) -> None:
    """A request with no pending row left (all erased, or recorded by a worker that outlived its
    lease) is done without a send."""
    connection.execute(
        _q.update()
        .where(_q.c.id == request_id, _q.c.claimed_by == worker, _q.c.state == RequestState.CLAIMED)
        .values(state=RequestState.DONE, claimed_by=None, updated_at=now, **_NO_BODY)
    )


# ── counting and recording ────────────────────────────────────────────────────────────────────────


def count_blind_resends(
    connection: sa.Connection, *, request_id: int, worker: str, delivery_ids: Sequence[int] | None
) -> None:
    """Count a resend the provider cannot rule out, on the request and on each of its rows
    (``delivery_ids``; None: every row still pending in it)."""
    counted = connection.execute(
        _q.update()
        .where(_q.c.id == request_id, _q.c.claimed_by == worker, _q.c.state == RequestState.CLAIMED)
        .values(uncertain_sends=_q.c.uncertain_sends + 1)
    ).rowcount
    if counted:
        rows = members(request_id)
        if delivery_ids is not None:
            rows = _d.c.id.in_(delivery_ids) & rows
        connection.execute(_d.update().where(rows).values(uncertain_sends=_d.c.uncertain_sends + 1))


@dataclass(frozen=True, slots=True)
class RequestOutcome:
    """What the request row becomes: done, or pending again (a retry) at ``next_attempt_at``."""

    retry_at: datetime | None
    in_doubt: bool
    attempts: int
    provider_id: str | None
    error_detail: str | None


def end_claim(
    connection: sa.Connection, *, request_id: int, worker: str, outcome: RequestOutcome, now: datetime
) -> bool:
    """Write the request's outcome if this worker still holds its claim; whether it did."""
    state = RequestState.DONE if outcome.retry_at is None else RequestState.PENDING
    values: dict[str, object] = {
        "state": state,
        "claimed_by": None,
        "updated_at": now,
        "in_doubt": outcome.in_doubt,
        "attempts": _q.c.attempts + outcome.attempts,
        "error_detail": outcome.error_detail,
    }
    if outcome.retry_at is not None:
        values["next_attempt_at"] = outcome.retry_at
    else:  # done: the body (its recipients' addresses) is not kept beyond its use
        values |= {"body": None, "body_rows": None}
    if outcome.provider_id is not None:
        values["provider_id"] = outcome.provider_id
    ended = connection.execute(
        _q.update()
        .where(_q.c.id == request_id, _q.c.claimed_by == worker, _q.c.state == RequestState.CLAIMED)
        .values(values)
    ).rowcount
    return bool(ended)


# ── recovery ──────────────────────────────────────────────────────────────────────────────────────


def release_stale(
    connection: sa.Connection,
    *,
    lease: timedelta,
    now: datetime,
    restarted: str | None,
    in_flight: timedelta,
) -> int:
    """Put abandoned claims of requests back in doubt (as :func:`clarion.outbox.ledger.release_stale`
    does for rows), and seal requests an interrupted staging left open for longer than ``lease``."""
    abandoned = _q.c.claimed_at < now - lease
    if restarted is not None:
        abandoned = sa.or_(_q.c.claimed_by == restarted, abandoned)
    settled = _q.c.claimed_at < now - in_flight
    count = 0
    for where, due in ((settled, now), (sa.not_(settled), now + in_flight)):
        count += connection.execute(
            _q.update()
            .where(_q.c.state == RequestState.CLAIMED, abandoned, where)
            .values(
                state=RequestState.PENDING,
                in_doubt=True,
                claimed_by=None,
                updated_at=now,
                next_attempt_at=due,
            )
        ).rowcount
    seal(connection, now, _q.c.updated_at < now - lease)
    return count


def claimed_count(connection: sa.Connection, channels: Sequence[Channel]) -> int:
    """Requests of these channels that a worker holds."""
    statement = sa.select(sa.func.count()).where(
        _q.c.state == RequestState.CLAIMED, _q.c.channel.in_(channels)
    )
    return int(connection.execute(statement).scalar_one())
