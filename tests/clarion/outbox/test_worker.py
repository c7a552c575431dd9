"""The outbox worker over a real store, with a fake sender: retries, failures, crashes, doubt."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta

import sqlalchemy as sa

from clarion.errors import (
    InDoubt,
    PermanentChannelError,
    RateLimited,
    RecipientOptedOut,
    TransientChannelError,
)
from clarion.kinds import Channel, ConsentState, DeliveryState
from clarion.models import ChannelConsent, Delivery, ProviderRequest, RequestState, utcnow
from clarion.outbox import ledger
from clarion.outbox.counts import state_counts
from clarion.outbox.port import OutboundMessage, SendResult
from clarion.outbox.rate import RateGate
from clarion.outbox.worker import RUN_OF_BATCHES, Worker, WorkerConfig
from clarion.updates.publish import Staged
from tests.clarion.outbox.conftest import FakeSender

FAST = {"backoff_base": 0.001, "backoff_cap": 0.01, "idle_poll": 0.01, "in_flight": timedelta(0)}


def _senders(**kwargs: object) -> dict[Channel, FakeSender]:
    return {c: FakeSender(c, **kwargs) for c in (Channel.EMAIL, Channel.SMS)}  # type: ignore[arg-type]


def _states(engine: sa.Engine, channel: Channel) -> dict[DeliveryState, int]:
    counts = state_counts(engine)
    return {state: n for (c, state), n in counts.items() if c is channel}


def test_every_message_is_sent_once_and_recorded(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    staged = stage(sqlite_engine, 250)
    senders = _senders()

    stats = Worker(sqlite_engine, senders, WorkerConfig(name="w1", threads=3, **FAST)).run()

    assert staged.audiences["affected-customers"].planned == 500
    for channel, sender in senders.items():
        assert sum(sender.sent.values()) == 250 and max(sender.sent.values()) == 1
        assert _states(sqlite_engine, channel) == {DeliveryState.ACCEPTED: 250}
    assert stats.accepted == 500
    with sqlite_engine.connect() as c:
        assert (
            c.execute(
                sa.select(sa.func.count()).where(
                    Delivery.provider_id.is_(None),  # type: ignore[union-attr]
                    Delivery.channel == Channel.EMAIL,
                )
            ).scalar_one()
            == 0
        )


def test_batches_share_one_rendition(sqlite_engine: sa.Engine, stage: Callable[..., Staged]) -> None:
    stage(sqlite_engine, 60)
    seen: list[set[int | None]] = []
    sender = FakeSender(Channel.EMAIL)
    original = sender.send

    def spy(messages):  # type: ignore[no-untyped-def]
        seen.append({m.content.rendition_id for m in messages})
        return original(messages)

    sender.send = spy  # type: ignore[method-assign]
    Worker(sqlite_engine, {Channel.EMAIL: sender}, WorkerConfig(name="w", threads=1, **FAST)).run()

    assert seen and all(len(s) == 1 for s in seen)
    assert len(seen) == 4  # en/de × the public zone/New York in the example audience


def test_transient_errors_retry_until_delivered_and_permanent_ones_never(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    stage(sqlite_engine, 200)
    rng = random.Random(7)  # noqa: S311 — reproducible faults, not secrets
    calls: dict[int, int] = {}

    def flaky(m: OutboundMessage) -> SendResult | Exception:
        calls[m.delivery_id] = calls.get(m.delivery_id, 0) + 1
        if m.address and m.address.startswith("user1@"):
            return PermanentChannelError("rejected", channel="email", status_code=400)
        if rng.random() < 0.2:
            return TransientChannelError("503", channel="email", status_code=503)
        return SendResult(m.delivery_id, provider_id="ok")

    sender = FakeSender(Channel.EMAIL, behave=flaky)  # type: ignore[arg-type]
    Worker(sqlite_engine, {Channel.EMAIL: sender}, WorkerConfig(name="w", threads=2, **FAST)).run()

    assert _states(sqlite_engine, Channel.EMAIL) == {DeliveryState.ACCEPTED: 199, DeliveryState.FAILED: 1}
    with sqlite_engine.connect() as c:
        failed_id, code = c.execute(
            sa.select(Delivery.id, Delivery.error_code).where(Delivery.state == DeliveryState.FAILED)
        ).one()
    assert calls[failed_id] == 1 and code == "http-400"
    assert max(calls.values()) > 1  # some were retried


def _not_mandatory(engine: sa.Engine) -> None:
    """The staged data-breach audience is mandatory; make its messages ordinary ones."""
    with engine.begin() as c:
        c.execute(sa.update(Delivery).values(mandatory_reason=None))


def test_gives_up_after_max_attempts(sqlite_engine: sa.Engine, stage: Callable[..., Staged]) -> None:
    stage(sqlite_engine, 3)
    _not_mandatory(sqlite_engine)
    sender = FakeSender(Channel.EMAIL, behave=lambda m: TransientChannelError("down", channel="email"))
    Worker(
        sqlite_engine, {Channel.EMAIL: sender}, WorkerConfig(name="w", threads=1, max_attempts=3, **FAST)
    ).run()

    with sqlite_engine.connect() as c:
        rows = c.execute(
            sa.select(Delivery.state, Delivery.attempts, Delivery.error_detail).where(
                Delivery.channel == Channel.EMAIL
            )
        ).all()
    assert {(s, a) for s, a, _ in rows} == {(DeliveryState.FAILED, 3)}
    assert all("gave up after 3 attempts" in d for *_, d in rows)


def test_rate_limit_waits_for_the_provider(sqlite_engine: sa.Engine, stage: Callable[..., Staged]) -> None:
    stage(sqlite_engine, 5)
    limited = {"n": 0}

    def once(m: OutboundMessage) -> SendResult | Exception:
        if limited["n"] < 1:
            limited["n"] += 1
            return RateLimited("slow down", channel="email", retry_after=0.05)
        return SendResult(m.delivery_id, provider_id="ok")

    worker = Worker(
        sqlite_engine,
        {Channel.EMAIL: FakeSender(Channel.EMAIL, behave=once)},  # type: ignore[arg-type]
        WorkerConfig(name="w", threads=1, **FAST),
    )
    assert worker.verdicts.backoff(1, RateLimited("x", channel="email", retry_after=30)) >= 30
    worker.run()
    assert _states(sqlite_engine, Channel.EMAIL) == {DeliveryState.ACCEPTED: 5}


def test_stop_withdraws_sms_consent(sqlite_engine: sa.Engine, stage: Callable[..., Staged]) -> None:
    stage(sqlite_engine, 4)

    def stop(m: OutboundMessage) -> SendResult | Exception:
        if m.address and m.address.endswith("000002"):
            return RecipientOptedOut("unsubscribed", channel="sms", status_code=400, code="21610")
        return SendResult(m.delivery_id, provider_id="SM1")

    Worker(
        sqlite_engine,
        {Channel.SMS: FakeSender(Channel.SMS, behave=stop)},  # type: ignore[arg-type]
        WorkerConfig(name="w", threads=1, **FAST),
    ).run()

    with sqlite_engine.connect() as c:
        consent = c.execute(
            sa.select(ChannelConsent.channel, ChannelConsent.state, ChannelConsent.source)
        ).all()
    assert consent == [(Channel.SMS, ConsentState.WITHDRAWN, "sms-stop")]


def test_abandoned_claims_are_reconciled_not_blindly_resent(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    """A worker died after the provider took half its batch: the others are sent, none twice."""
    stage(sqlite_engine, 10)
    sender = FakeSender(Channel.SMS, no_duplicates=True)
    claimed = ledger.claim(sqlite_engine, worker="dead", channel=Channel.SMS, limit=10, now=utcnow())
    assert len(claimed) >= 2  # one rendition's rows
    half = claimed[: len(claimed) // 2]
    sender.send([c.message for c in half])  # reached the provider; the worker died before recording

    worker = Worker(
        sqlite_engine, {Channel.SMS: sender}, WorkerConfig(name="w", threads=1, lease=timedelta(0), **FAST)
    )
    stats = worker.run()

    assert sorted(sender.sent.values()) == [1] * 10
    assert sorted(sender.reconciled) == sorted(c.message.delivery_id for c in claimed)
    assert stats.reconciled_present == len(half) and stats.uncertain_sends == 0
    assert _states(sqlite_engine, Channel.SMS) == {DeliveryState.ACCEPTED: 10}


def test_a_channel_that_cannot_tell_counts_its_blind_resends(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    stage(sqlite_engine, 4)
    first = {"n": 0}

    def timeout_once(m: OutboundMessage) -> SendResult | Exception:
        if first["n"] < 1:
            first["n"] += 1
            return InDoubt("read timeout", channel="email")
        return SendResult(m.delivery_id, provider_id="ok")

    Worker(
        sqlite_engine,
        {Channel.EMAIL: FakeSender(Channel.EMAIL, behave=timeout_once)},  # type: ignore[arg-type]
        WorkerConfig(name="w", threads=1, **FAST),
    ).run()

    with sqlite_engine.connect() as c:
        rows = c.execute(
            sa.select(Delivery.state, Delivery.uncertain_sends, Delivery.in_doubt).where(
                Delivery.channel == Channel.EMAIL
            )
        ).all()
    assert sorted(rows) == sorted(
        [(DeliveryState.ACCEPTED, 0, False)] * 3 + [(DeliveryState.ACCEPTED, 1, False)]
    )


def test_a_late_worker_cannot_overwrite_a_newer_claim(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    stage(sqlite_engine, 1)
    old = ledger.claim(sqlite_engine, worker="slow", channel=Channel.EMAIL, limit=1, now=utcnow())
    ledger.release_stale(sqlite_engine, lease=timedelta(0), now=utcnow() + timedelta(seconds=1))
    new = ledger.claim(
        sqlite_engine, worker="fast", channel=Channel.EMAIL, limit=1, now=utcnow() + timedelta(seconds=2)
    )
    assert [c.message.delivery_id for c in new] == [c.message.delivery_id for c in old]

    written = ledger.record(
        sqlite_engine,
        worker="slow",
        now=utcnow(),
        outcomes=[ledger.Outcome(old[0].message.delivery_id, DeliveryState.FAILED, error_code="late")],
        request_id=old[0].request_id,
    )

    assert written == 0
    # an email row goes out in its provider request: the request is the newer worker's, the row pending
    assert old[0].request_id is not None and new[0].request_id == old[0].request_id
    assert _states(sqlite_engine, Channel.EMAIL) == {DeliveryState.PENDING: 1}
    with sqlite_engine.connect() as c:
        held = c.execute(sa.select(ProviderRequest.state, ProviderRequest.claimed_by)).all()
    assert held == [(RequestState.CLAIMED, "fast")]


def test_an_idle_thread_never_takes_back_a_batch_in_flight_on_another(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    """Regression: the periodic release took back the worker's own in-flight claims (a 1M run sent
    3 546 emails twice). An idle thread now releases only claims older than the lease."""
    stage(sqlite_engine, 5)
    in_flight = threading.Event()

    def slow(m: OutboundMessage) -> SendResult:
        if not in_flight.is_set():  # one message, once: the batch stays younger than the lease
            in_flight.set()
            time.sleep(1.5)  # longer than the release period (lease / 2)
        return SendResult(m.delivery_id, provider_id="p")

    sender = FakeSender(Channel.EMAIL, behave=slow)
    config = WorkerConfig(name="w", threads=2, lease=timedelta(seconds=2), **FAST)

    Worker(sqlite_engine, {Channel.EMAIL: sender}, config).run()  # type: ignore[dict-item]

    assert in_flight.is_set()
    assert sorted(sender.sent.values()) == [1] * 5
    assert _states(sqlite_engine, Channel.EMAIL) == {DeliveryState.ACCEPTED: 5}


def test_a_bug_in_a_sender_stops_the_worker_and_leaves_rows_claimed(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    stage(sqlite_engine, 3)

    def bug(m: OutboundMessage) -> SendResult:
        raise ZeroDivisionError

    worker = Worker(
        sqlite_engine,
        {Channel.EMAIL: FakeSender(Channel.EMAIL, behave=bug)},  # type: ignore[arg-type]
        WorkerConfig(name="w", threads=2, **FAST),
    )
    try:
        worker.run()
    except ZeroDivisionError:
        pass
    else:
        raise AssertionError("the bug was swallowed")
    states = _states(sqlite_engine, Channel.EMAIL)
    with sqlite_engine.connect() as c:  # an email row is claimed with its provider request
        held = c.execute(sa.select(ProviderRequest.state).where(ProviderRequest.claimed_by == "w")).all()
    assert held and {state for (state,) in held} == {RequestState.CLAIMED}
    assert not states.get(DeliveryState.ACCEPTED)


class _Noting(FakeSender):
    """Notes each message it sends in a list shared with the other channels' senders."""

    def __init__(self, channel: Channel, order: list[Channel], *, per_second: float | None = None) -> None:
        super().__init__(channel)
        self.order, self.requests_per_second = order, per_second
        self.one_request_per_batch = per_second is None  # type: ignore[misc]

    def send(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        self.order.extend(self.channel for _ in messages)
        return super().send(messages)


class _OpenGate(RateGate):
    """Sized as the real gate, but never makes anyone wait: the test counts claims, not seconds."""

    def wait_time(self, cost: float) -> float:
        return 0.0


def test_email_does_not_wait_behind_a_claim_of_paced_sms(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    """A thread that claimed 50 SMS sat paced by the gate through all of them while emails waited:
    a channel paced request by request is claimed no more than the gate's burst at a time."""
    stage(sqlite_engine, 40)
    order: list[Channel] = []
    senders = {
        Channel.SMS: _Noting(Channel.SMS, order, per_second=8.0),  # a burst of two requests
        Channel.EMAIL: _Noting(Channel.EMAIL, order),
    }
    worker = Worker(sqlite_engine, senders, WorkerConfig(name="w", threads=1, claim_size=50, **FAST))
    worker.gates[Channel.SMS] = _OpenGate(8.0)
    burst = int(worker.gates[Channel.SMS].capacity)

    worker.run()

    assert order.count(Channel.SMS) == order.count(Channel.EMAIL) == 40
    sms_first = order.index(Channel.EMAIL)  # the thread starts with SMS, its first channel
    assert 0 < sms_first <= RUN_OF_BATCHES * burst < 40  # claims of the burst, not of 50
