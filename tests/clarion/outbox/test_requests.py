"""The ledger by provider request: formed at staging, claimed and recorded as one row, with every
guarantee of the row ledger (claim before send, release in doubt, counted blind resends, no lost row)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa

from clarion.kinds import Channel, DeliveryState
from clarion.models import Delivery, ProviderRequest, RequestState, utcnow
from clarion.outbox import ledger, requests
from clarion.outbox.port import OutboundMessage, SendResult
from clarion.outbox.worker import Worker, WorkerConfig
from clarion.updates.publish import Staged
from tests.clarion.outbox.conftest import FakeSender

FAST = {"backoff_base": 0.001, "backoff_cap": 0.01, "idle_poll": 0.01, "in_flight": timedelta(0)}


def _requests(engine: sa.Engine) -> list[sa.Row[tuple[int, RequestState, int, str | None, int]]]:
    with engine.connect() as c:
        return list(
            c.execute(
                sa.select(
                    ProviderRequest.id,
                    ProviderRequest.state,
                    ProviderRequest.attempts,
                    ProviderRequest.provider_id,
                    ProviderRequest.uncertain_sends,
                ).order_by(ProviderRequest.id)
            ).all()
        )


def _members(engine: sa.Engine) -> dict[int | None, list[int]]:
    with engine.connect() as c:
        rows = c.execute(
            sa.select(Delivery.request_id, Delivery.id, Delivery.rendition_id).where(
                Delivery.channel == Channel.EMAIL
            )
        ).all()
    by_request: dict[int | None, list[int]] = {}
    for request_id, delivery_id, _ in rows:
        by_request.setdefault(request_id, []).append(delivery_id)
    return by_request


def test_staging_puts_each_renditions_email_rows_in_sealed_requests_of_the_set_size(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    stage(sqlite_engine, 40, request_size=7)
    by_request = _members(sqlite_engine)
    assert None not in by_request  # every email row is in a request; SMS rows go one by one
    assert max(len(ids) for ids in by_request.values()) == 7
    assert sum(len(ids) for ids in by_request.values()) == 40
    with sqlite_engine.connect() as c:
        renditions = c.execute(
            sa.select(Delivery.request_id, sa.func.count(sa.distinct(Delivery.rendition_id)))
            .where(Delivery.channel == Channel.EMAIL)
            .group_by(Delivery.request_id)
        ).all()
        sms = c.execute(
            sa.select(sa.func.count()).where(
                Delivery.channel == Channel.SMS, Delivery.request_id.is_not(None)
            )
        ).scalar_one()
    assert {n for _, n in renditions} == {1}  # one request, one rendition
    assert sms == 0
    assert {r.state for r in _requests(sqlite_engine)} == {RequestState.PENDING}  # sealed: none open


def test_a_full_request_is_sealed_with_its_rows_the_last_ones_when_the_audience_is_staged() -> None:
    now = utcnow()
    former = requests.RequestFormer(update_id=1, audience="a", size=2)
    rows = [_email_row(now, None) for _ in range(3)]
    connection = _Recording()
    former.assign(connection, sa.insert, rows, now)  # type: ignore[arg-type]
    assert [r["request_id"] for r in rows] == [1, 1, 2]
    assert connection.kinds == [
        "INSERT",
        "INSERT",
        "UPDATE seal",
        "UPDATE",
    ]  # the first sealed, the second touched


def test_a_request_goes_out_as_one_send_and_its_rows_are_written_once(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    stage(sqlite_engine, 30, request_size=10)
    seen_states: list[set[DeliveryState]] = []

    class Watching(FakeSender):
        def send(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
            with sqlite_engine.connect() as c:  # the rows as they are while their request is out
                seen_states.append(
                    {
                        DeliveryState(s)
                        for (s,) in c.execute(
                            sa.select(Delivery.state).where(
                                Delivery.id.in_([m.delivery_id for m in messages])
                            )
                        )
                    }
                )
            return [SendResult(m.delivery_id, provider_id=f"req-{messages[0].delivery_id}") for m in messages]

    sender = Watching(Channel.EMAIL)
    Worker(sqlite_engine, {Channel.EMAIL: sender}, WorkerConfig(name="w", threads=2, **FAST)).run()

    assert seen_states and all(states == {DeliveryState.PENDING} for states in seen_states)  # no claim write
    requests_ = _requests(sqlite_engine)
    assert len(seen_states) == len(requests_)  # one send per request
    assert {(r.state, r.attempts) for r in requests_} == {(RequestState.DONE, 1)}
    with sqlite_engine.connect() as c:
        rows = c.execute(
            sa.select(Delivery.request_id, Delivery.provider_id, Delivery.state, Delivery.attempts).where(
                Delivery.channel == Channel.EMAIL
            )
        ).all()
    by_request = {r.id: r.provider_id for r in requests_}
    assert all(
        state is DeliveryState.ACCEPTED and attempts == 1 and provider_id == by_request[request_id]
        for request_id, provider_id, state, attempts in rows
    )


def test_a_request_that_failed_comes_due_again_whole_at_one_time(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    stage(sqlite_engine, 6, request_size=100)
    claimed = ledger.claim(sqlite_engine, worker="w", channel=Channel.EMAIL, limit=100, now=utcnow())
    request_id = claimed[0].request_id
    assert request_id is not None and {c.request_id for c in claimed} == {request_id}
    outcomes = [  # each message its own jitter, as the worker draws it
        ledger.Outcome(
            c.message.delivery_id,
            DeliveryState.PENDING,
            error_detail="503",
            next_attempt_at=utcnow() + timedelta(seconds=5 + n),
            attempts=1,
        )
        for n, c in enumerate(claimed)
    ]

    ledger.record(sqlite_engine, worker="w", outcomes=outcomes, now=utcnow(), request_id=request_id)

    with sqlite_engine.connect() as c:
        due = c.execute(
            sa.select(ProviderRequest.state, ProviderRequest.next_attempt_at).where(
                ProviderRequest.id == request_id
            )
        ).one()
        rows = c.execute(
            sa.select(Delivery.state, Delivery.next_attempt_at, Delivery.attempts).where(
                Delivery.request_id == request_id
            )
        ).all()
    assert due.state is RequestState.PENDING
    assert {(r.state, r.next_attempt_at, r.attempts) for r in rows} == {
        (DeliveryState.PENDING, due.next_attempt_at, 1)
    }


def test_a_request_a_dead_worker_held_is_resent_blind_and_counted_on_it_and_its_rows(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    stage(sqlite_engine, 4, request_size=100)
    dead = ledger.claim(sqlite_engine, worker="dead", channel=Channel.EMAIL, limit=100, now=utcnow())
    assert dead
    sender = FakeSender(Channel.EMAIL)
    config = WorkerConfig(name="w", threads=1, lease=timedelta(0), **FAST)
    stats = Worker(sqlite_engine, {Channel.EMAIL: sender}, config).run()

    dead_request = dead[0].request_id
    row = next(r for r in _requests(sqlite_engine) if r.id == dead_request)
    assert (row.state, row.uncertain_sends, row.attempts) == (RequestState.DONE, 1, 2)
    with sqlite_engine.connect() as c:
        counted = c.execute(
            sa.select(Delivery.uncertain_sends, Delivery.attempts, Delivery.state).where(
                Delivery.request_id == dead_request
            )
        ).all()
    assert set(counted) == {(1, 2, DeliveryState.ACCEPTED)}  # each row: one blind resend, two attempts
    assert stats.uncertain_sends == len(dead)


def test_a_row_that_left_pending_before_the_claim_is_not_sent_with_its_request(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    stage(sqlite_engine, 3, request_size=100)
    with sqlite_engine.begin() as c:
        gone = c.execute(
            sa.select(sa.func.min(Delivery.id)).where(Delivery.channel == Channel.EMAIL)
        ).scalar()
        c.execute(sa.update(Delivery).where(Delivery.id == gone).values(state=DeliveryState.SUPPRESSED))
    sender = FakeSender(Channel.EMAIL)
    Worker(sqlite_engine, {Channel.EMAIL: sender}, WorkerConfig(name="w", threads=1, **FAST)).run()
    assert gone not in sender.sent and len(sender.sent) == 2


def test_an_empty_request_is_done_without_a_send(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    stage(sqlite_engine, 1, request_size=100)
    with sqlite_engine.begin() as c:
        c.execute(
            sa.update(Delivery)
            .where(Delivery.channel == Channel.EMAIL)
            .values(state=DeliveryState.SUPPRESSED)
        )
    sender = FakeSender(Channel.EMAIL)
    Worker(sqlite_engine, {Channel.EMAIL: sender}, WorkerConfig(name="w", threads=1, **FAST)).run()
    assert not sender.sent
    assert {r.state for r in _requests(sqlite_engine)} == {RequestState.DONE}


def test_a_request_an_interrupted_staging_left_open_is_sealed_by_the_rerun_or_after_a_lease(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    staged = stage(sqlite_engine, 5, request_size=100)
    with sqlite_engine.begin() as c:  # as if staging had died before sealing
        c.execute(sa.update(ProviderRequest).values(state=RequestState.OPEN))
    assert not ledger.claim(sqlite_engine, worker="w", channel=Channel.EMAIL, limit=100, now=utcnow())

    stage(sqlite_engine, 5, request_size=100)  # the same update staged again: nothing new, all sealed
    assert {r.state for r in _requests(sqlite_engine)} == {RequestState.PENDING}

    with sqlite_engine.begin() as c:
        c.execute(sa.update(ProviderRequest).values(state=RequestState.OPEN))
    later = utcnow() + timedelta(minutes=3)
    ledger.release_stale(sqlite_engine, lease=timedelta(minutes=2), now=later)
    assert {r.state for r in _requests(sqlite_engine)} == {RequestState.PENDING}
    sender = FakeSender(Channel.EMAIL)
    Worker(sqlite_engine, {Channel.EMAIL: sender}, WorkerConfig(name="w", threads=1, **FAST)).run()
    assert sorted(Counter(sender.sent).values()) == [1] * 5
    assert staged.update_id is not None


def test_staging_the_same_update_again_leaves_no_request_without_rows(
    engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    """The rows an earlier run wrote are skipped, and so are the requests formed for them: full ones
    mid-chunk and the open ones sealed at the end (a worker would claim them for nothing)."""
    stage(engine, 40, request_size=3)
    before = _requests(engine)
    stage(engine, 40, request_size=3)  # every row staged already: nothing new

    assert _requests(engine) == before
    assert sorted(_members(engine)) == sorted(r.id for r in before)
    stage(engine, 46, request_size=3)  # six more recipients: requests for them alone
    members = _members(engine)
    assert None not in members and set(members) == {r.id for r in _requests(engine)}
    assert sum(len(ids) for ids in members.values()) == 46


def test_rows_held_for_quiet_hours_go_in_their_own_request_due_at_their_morning() -> None:
    now = utcnow()
    morning = now + timedelta(hours=9)
    former = requests.RequestFormer(update_id=1, audience="a", size=100)
    rows = [_email_row(now, held) for held in (None, morning, None, morning)]
    connection = _Recording()
    former.assign(connection, sa.insert, rows, now)  # type: ignore[arg-type]
    assert [r["request_id"] for r in rows] == [1, 2, 1, 2]
    assert connection.opened == [now, morning]  # each request due when its rows are


def _email_row(now: datetime, held: datetime | None) -> dict[str, object]:
    return {
        "channel": Channel.EMAIL,
        "state": DeliveryState.PENDING,
        "rendition_id": 1,
        "held_until": held,
        "next_attempt_at": held or now,
    }


class _Recording:
    """A connection for :class:`requests.RequestFormer` alone: it keeps each statement's kind ("INSERT",
    "UPDATE seal" for a sealing, "UPDATE"), the due time of each request opened, and numbers them."""

    def __init__(self) -> None:
        self.kinds: list[str] = []
        self.opened: list[object] = []

    def execute(self, statement: sa.Executable) -> object:
        text = str(statement)
        self.kinds.append(text.split()[0] + (" seal" if "state=" in text else ""))
        if isinstance(statement, sa.Insert):
            self.opened.append(statement.compile().params["next_attempt_at"])
        opened = len(self.opened)

        class Result:
            rowcount = 1

            def scalar_one(self) -> int:
                return opened

            def scalars(self) -> list[int]:  # a sealing's ids: the requests it sealed are not recorded
                return []

        return Result()
