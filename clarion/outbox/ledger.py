"""The outbox ledger: claim due rows, record what became of them, recover abandoned claims.

A claim is a committed state change (``pending → claimed``, with the worker's name and the time)
made *before* the network call; the outcome is committed after it. A worker killed between the two
leaves rows ``claimed``. :func:`release_stale` puts them back to ``pending`` marked ``in_doubt``: the
request may have reached the provider, so the next attempt first asks the adapter whether the
provider already has the message. A request the killed worker had in flight may still be processed
after its death, so a released row is not due again before the longest a request can take
(``in_flight``) has passed since its claim: asked sooner, the provider could answer "absent" for a
message it is about to create.

Two times anchor what the provider is asked. ``first_attempt_at`` is set by a row's first claim and
never moved: no copy of the message can have reached the provider before it, so the in-doubt lookup
searches from there (re-claims after crashes must not move the window past a copy an earlier attempt
delivered). ``attempts`` counts only the attempts that may have reached the provider: a claim is not
an attempt; the outcome of a send is, and so is a claim a crash took back when the provider cannot
say that it never arrived. A crash-looping worker therefore does not burn a row's retry budget.

On PostgreSQL claims use ``FOR UPDATE SKIP LOCKED``, so any number of workers take disjoint batches
without waiting on each other. On SQLite every transaction starts with ``BEGIN IMMEDIATE`` (see
:mod:`clarion.store`), which serialises claims; run one worker process there.

Recording is guarded by ``claimed_by``: a worker that outlived its lease (its rows were released and
claimed by another) cannot overwrite the newer outcome.

Claiming is :mod:`clarion.outbox.claims`' (notices first, each rendered as it is claimed); a notice
that cannot be rendered is recorded here as failed with the reason, never sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from clarion.audiences import consent
from clarion.kinds import Channel, DeliveryState
from clarion.models import Delivery, ProviderRequest
from clarion.models.columns import table_of
from clarion.outbox import requests
from clarion.outbox.claims import Batch, Claimed, UnsubscribeLink, claim_batch, read, take
from clarion.outbox.held import any_held, apply_recorded
from clarion.outbox.notices import RenderNotice
from clarion.outbox.requests import PreparedRequest

__all__ = [
    "Claimed",
    "Outcome",
    "PreparedRequest",
    "UnsubscribeLink",
    "Work",
    "claim",
    "count_blind_resends",
    "record",
    "record_and_claim",
    "release_stale",
]

_d = table_of(Delivery)
_q = table_of(ProviderRequest)

Work = list[Claimed] | PreparedRequest
"""What a claim gives the worker: messages, or a request whose body was built at staging."""


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
    attempts: int = 0
    """Attempts this outcome adds that may have reached the provider: the send (1), and the claim a
    crash took back before it when the provider could not say that it never arrived (1 more)."""


def release_stale(
    engine: sa.Engine,
    *,
    lease: timedelta,
    now: datetime,
    restarted: str | None = None,
    in_flight: timedelta = timedelta(0),
) -> int:
    """Put back claims older than ``lease``, and every claim of worker ``restarted``, in doubt.

    Name ``restarted`` only when that worker is starting: its claims are then certainly abandoned.
    A running worker's own claims are in flight on its other threads; taking them back would have
    them sent twice. A row claimed less than ``in_flight`` ago is due only once that much time has
    passed since ``now`` (a request of the dead worker may still be in the provider's hands).
    """
    abandoned = _d.c.claimed_at < now - lease
    if restarted is not None:
        abandoned = sa.or_(_d.c.claimed_by == restarted, abandoned)
    released = {"state": DeliveryState.PENDING, "in_doubt": True, "claimed_by": None, "updated_at": now}
    settled = _d.c.claimed_at < now - in_flight
    with engine.begin() as connection:
        count = requests.release_stale(
            connection, lease=lease, now=now, restarted=restarted, in_flight=in_flight
        )
        for where, due in ((settled, now), (sa.not_(settled), now + in_flight)):
            statement = (
                _d.update()
                .where(_d.c.state == DeliveryState.CLAIMED, abandoned, where)
                .values(next_attempt_at=due, **released)
            )
            count += connection.execute(statement).rowcount
        return count


def claim(
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
) -> Work:
    """Claim a batch (:func:`clarion.outbox.claims.claim_batch`: due notices first, else rows that
    share a rendition, else a provider request) and record the claimed notices that could not be
    rendered as failed. With ``prepared`` (what this worker's bodies are made with,
    :func:`clarion.outbox.prepared.made_with`), a request whose body was built at staging with the
    same comes as that body (:mod:`clarion.outbox.prepared`); without, every claim is messages."""
    batch = claim_batch(
        engine,
        worker=worker,
        channel=channel,
        limit=limit,
        now=now,
        unsubscribe=unsubscribe,
        writing=writing,
        notices=notices,
        prepared=prepared,
    )
    if batch.prepared is not None:
        return batch.prepared
    return _renderable(engine, batch, worker=worker, now=now, writing=writing)


def record_and_claim(
    engine: sa.Engine,
    *,
    worker: str,
    outcomes: Sequence[Outcome],
    now: datetime,
    channel: Channel,
    limit: int,
    request_id: int | None = None,
    whole: bool = False,
    unsubscribe: UnsubscribeLink | None = None,
    writing: AbstractContextManager[object] | None = None,
    notices: RenderNotice | None = None,
    prepared: str | None = None,
) -> Work:
    """:func:`record` ``outcomes`` and :func:`claim` the next batch of ``channel`` in one
    transaction: one commit (on a disk, one flush to it) per batch instead of two."""
    with writing or nullcontext(), engine.begin() as connection:
        _write(connection, worker=worker, outcomes=outcomes, now=now, request_id=request_id, whole=whole)
        taken = take(connection, worker=worker, channel=channel, limit=limit, now=now, notices=notices)
    batch = read(
        engine,
        taken,
        worker=worker,
        unsubscribe=unsubscribe,
        writing=writing,
        notices=notices,
        prepared=prepared,
    )
    if batch.prepared is not None:
        return batch.prepared
    return _renderable(engine, batch, worker=worker, now=now, writing=writing)


def _renderable(
    engine: sa.Engine,
    batch: Batch,
    *,
    worker: str,
    now: datetime,
    writing: AbstractContextManager[object] | None,
) -> list[Claimed]:
    """The batch's messages; its notices that could not be rendered are recorded as failed."""
    if batch.unrenderable:
        failed = [
            Outcome(delivery_id, DeliveryState.FAILED, error_code="notice-unrenderable", error_detail=reason)
            for delivery_id, reason in sorted(batch.unrenderable.items())
        ]
        record(engine, worker=worker, outcomes=failed, now=now, writing=writing)
    return batch.claimed


def count_blind_resends(
    engine: sa.Engine, *, worker: str, delivery_ids: Sequence[int] | None, request_id: int | None = None
) -> None:
    """Count, before the request goes out, a resend the provider could not rule out as a duplicate
    (on the rows, and on their provider request when they were claimed with one; ``delivery_ids``
    None: every row still pending in the request).

    Committed first: a worker killed during the resend must not leave a duplicate uncounted.
    """
    if delivery_ids is not None and not delivery_ids:
        return
    with engine.begin() as connection:
        if request_id is not None:
            requests.count_blind_resends(
                connection, request_id=request_id, worker=worker, delivery_ids=delivery_ids
            )
            return
        assert delivery_ids is not None, "rows claimed one by one are counted by id"
        connection.execute(
            _d.update()
            .where(_d.c.id.in_(delivery_ids), _d.c.state == DeliveryState.CLAIMED, _d.c.claimed_by == worker)
            .values(uncertain_sends=_d.c.uncertain_sends + 1)
        )


_OUTCOME = (
    "state",
    "provider_id",
    "provider_status",
    "error_code",
    "error_detail",
    "next_attempt_at",
    "in_doubt",
)
_KEPT_WHEN_NONE = {"provider_id", "provider_status"}  # a retry does not forget the provider's id


def _outcome_key(o: Outcome) -> tuple[object, ...]:
    """The values an outcome writes, in ``_OUTCOME``'s order, then its attempts (spelt out: a
    request's thousand outcomes are keyed on every record)."""
    return (
        o.state,
        o.provider_id,
        o.provider_status,
        o.error_code,
        o.error_detail,
        o.next_attempt_at,
        o.in_doubt,
        o.attempts,
    )


def record(
    engine: sa.Engine,
    *,
    worker: str,
    outcomes: Sequence[Outcome],
    now: datetime,
    writing: AbstractContextManager[object] | None = None,
    request_id: int | None = None,
    whole: bool = False,
) -> int:
    """Write outcomes of rows this worker still holds (under ``writing``); the number written.

    Rows claimed with a provider request (``request_id``) are held by the request's claim: the
    request's own outcome is written first, and nothing is when the claim was lost.
    Outcomes that write the same values (an email request's recipients: accepted, one message id)
    go in one ``UPDATE … WHERE id IN (…)``; the others in one executemany. ``whole``: the one
    outcome given is every row's still pending in the request (a prepared request's), written in
    one statement that names no row.
    """
    if not outcomes:
        return 0
    with writing or nullcontext(), engine.begin() as connection:
        return _write(
            connection, worker=worker, outcomes=outcomes, now=now, request_id=request_id, whole=whole
        )


def _write(
    connection: sa.Connection,
    *,
    worker: str,
    outcomes: Sequence[Outcome],
    now: datetime,
    request_id: int | None,
    whole: bool = False,
) -> int:
    """:func:`record`'s writes, in the caller's transaction."""
    if not outcomes:
        return 0
    assert not whole or (request_id is not None and len(outcomes) == 1), "one outcome for a whole request"
    if request_id is not None:
        retry_at = _of_request(outcomes).retry_at  # the request's rows come due again together
        outcomes = [
            replace(o, next_attempt_at=retry_at) if o.state is DeliveryState.PENDING else o for o in outcomes
        ]
    alike: dict[tuple[object, ...], list[int]] = {}
    for o in outcomes:
        alike.setdefault(_outcome_key(o), []).append(o.delivery_id)
    singles = [
        dict(zip((*_OUTCOME, "attempts"), key, strict=True)) | {"id": ids[0]}
        for key, ids in alike.items()
        if len(ids) == 1
    ]
    withdrawals = {o.withdraw for o in outcomes if o.withdraw is not None}
    written = 0
    if request_id is not None and not requests.end_claim(
        connection, request_id=request_id, worker=worker, outcome=_of_request(outcomes), now=now
    ):
        return 0  # the lease was lost: another worker has the request now
    if request_id is not None and (whole or len(alike) == 1):  # one outcome for the whole request
        [key] = alike
        values = {f"w_{n}": v for n, v in zip(_OUTCOME, key[:-1], strict=True)}
        values |= {"w_request": request_id, "w_now": now, "w_attempts": key[-1]}
        values["w_accepted_at"] = _accepted_at(values["w_state"], now)
        written += connection.execute(_WHOLE_REQUEST, values).rowcount  # names no row: one statement
        alike, singles = {}, []
    held = sa.and_(_d.c.state == DeliveryState.CLAIMED, _d.c.claimed_by == worker)
    ends: dict[str, object] = {}
    if request_id is not None and alike:
        held = requests.members(request_id)
        ends = {
            "first_attempt_at": sa.func.coalesce(_d.c.first_attempt_at, requests.first_attempt(request_id))
        }
    for key, ids in alike.items():
        if len(ids) > 1:
            values = dict(zip(_OUTCOME, key[:-1], strict=True))
            assignments = (
                {n: v for n, v in values.items() if v is not None or n not in _KEPT_WHEN_NONE}
                | _claim_ends(now, accepted_at=_accepted_at(values["state"], now), attempts=key[-1])
                | ends
            )
            written += connection.execute(
                _d.update().where(_d.c.id.in_(ids), held).values(assignments)
            ).rowcount
    if singles:
        assignments = (
            {
                n: sa.func.coalesce(sa.bindparam(f"b_{n}"), _d.c[n])
                if n in _KEPT_WHEN_NONE
                else sa.bindparam(f"b_{n}")
                for n in _OUTCOME
            }
            | _claim_ends(now, accepted_at=sa.bindparam("b_accepted_at"), attempts=sa.bindparam("b_attempts"))
            | ends
        )
        statement = _d.update().where(_d.c.id == sa.bindparam("b_id"), held).values(assignments)
        params = [
            {f"b_{n}": v for n, v in single.items()} | {"b_accepted_at": _accepted_at(single["state"], now)}
            for single in singles
        ]
        written += connection.execute(statement, params).rowcount
    provider_ids = [o.provider_id for o in outcomes if o.provider_id is not None]
    if provider_ids and any_held(connection):
        with Session(bind=connection) as session:  # early provider events, in the same transaction
            apply_recorded(session=session, provider_ids=provider_ids)
            session.flush()
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


def _whole_request() -> sa.Update:
    """One outcome written to every row still pending in a request, built once (each record would
    otherwise build it again): ``w_request``, ``w_now``, ``w_attempts``, ``w_accepted_at`` and
    ``w_<column>`` for each of ``_OUTCOME`` are bound at each execution."""
    request: sa.BindParameter[int] = sa.bindparam("w_request", type_=sa.Integer)
    first = sa.select(_q.c.first_attempt_at).where(_q.c.id == request).scalar_subquery()
    values: dict[str, object] = {
        n: sa.func.coalesce(sa.bindparam(f"w_{n}"), _d.c[n])
        if n in _KEPT_WHEN_NONE
        else sa.bindparam(f"w_{n}")
        for n in _OUTCOME
    }
    values |= _claim_ends(
        sa.bindparam("w_now"), accepted_at=sa.bindparam("w_accepted_at"), attempts=sa.bindparam("w_attempts")
    )
    values["first_attempt_at"] = sa.func.coalesce(_d.c.first_attempt_at, first)
    return _d.update().where(_d.c.request_id == request, _d.c.state == DeliveryState.PENDING).values(values)


def _of_request(outcomes: Sequence[Outcome]) -> requests.RequestOutcome:
    """A request's outcome from its rows': pending again when any row is (at the first retry time)."""
    retries = [o.next_attempt_at for o in outcomes if o.state is DeliveryState.PENDING and o.next_attempt_at]
    accepted = next((o.provider_id for o in outcomes if o.state is DeliveryState.ACCEPTED), None)
    errors = [o.error_detail for o in outcomes if o.error_detail]
    return requests.RequestOutcome(
        retry_at=min(retries) if retries else None,
        in_doubt=any(o.in_doubt for o in outcomes if o.state is DeliveryState.PENDING),
        attempts=max(o.attempts for o in outcomes),
        provider_id=accepted,
        error_detail=errors[0] if errors else None,
    )


def _accepted_at(state: object, now: datetime) -> datetime | None:
    return now if state is DeliveryState.ACCEPTED else None


def _claim_ends(now: object, *, accepted_at: object, attempts: object) -> dict[str, object]:
    """What every outcome writes besides its own values: the claim ends, the time of acceptance, the
    attempts it made."""
    return {
        "accepted_at": accepted_at,
        "claimed_by": None,
        "updated_at": now,
        "attempts": _d.c.attempts + attempts,
    }


_WHOLE_REQUEST = _whole_request()
