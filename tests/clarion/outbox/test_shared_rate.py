"""A provider's rate holds for every worker together: the token bucket is in the store.

Two workers (two :class:`Worker` objects, each with its own threads and its own local gates, as two
processes would have) send SMS, one request per message, to a fake provider that notes the instant of
every request; the busiest second of all of them together stays within the provider's limit. A 429
one worker meets closes the provider for the other too.

The promise itself is checked on the store's clock, set by the test (no timing): gates that take as
fast as the bucket lets them never put more takes in one second, as the provider's sliding window
counts it, than the limit, burst included; and a worker takes each request's token right before it
makes that request, so what the provider counts is what the gate let go.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import ClassVar

import pytest
import sqlalchemy as sa

from channels.sandbox.inbox import Inbox
from clarion.kinds import Channel, DeliveryState
from clarion.models import utcnow
from clarion.outbox import ledger, shared_rate
from clarion.outbox.counts import state_counts
from clarion.outbox.port import OutboundMessage, Reconciled, SendResult
from clarion.outbox.rate import RateGate
from clarion.outbox.shared_rate import SharedRateGate
from clarion.outbox.worker import Worker, WorkerConfig
from clarion.updates.publish import Staged
from tests.clarion.outbox.conftest import FakeSender

RATE = 40.0
FAST = {"backoff_base": 0.001, "backoff_cap": 0.01, "idle_poll": 0.01, "in_flight": timedelta(0)}


class TimedSms(FakeSender):
    """One request per message, each taking a millisecond; notes when each request was made."""

    one_request_per_batch: ClassVar[bool] = False

    def __init__(self, instants: list[float], lock: threading.Lock) -> None:
        super().__init__(Channel.SMS)
        self.requests_per_second = RATE
        self.instants, self.instants_lock = instants, lock

    def send(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        results = []
        for message in messages:
            with self.instants_lock:
                self.instants.append(time.monotonic())
            time.sleep(0.001)
            results += super().send([message])
        return results


def busiest_second(instants: list[float]) -> int:
    """Counted as the provider sandbox counts arrivals."""
    inbox = Inbox()
    for at in sorted(instants):
        inbox.count_request("twilio", at=at)
    return int(inbox.stats()["peak_per_second"]["twilio"])


def two_workers(engine: sa.Engine, *, shared: bool) -> list[float]:
    instants: list[float] = []
    lock = threading.Lock()
    workers = [
        Worker(
            engine,
            {Channel.SMS: TimedSms(instants, lock)},
            WorkerConfig(name=f"w{n}", threads=2, claim_size=20, shared_rates=shared, **FAST),
        )
        for n in range(2)
    ]
    runs = [threading.Thread(target=w.run) for w in workers]
    for run in runs:
        run.start()
    for run in runs:
        run.join(timeout=120)
    assert all(w.stats.accepted > 0 for w in workers), [w.stats for w in workers]  # both worked
    return instants


def _check_within_rate(engine: sa.Engine, stage: Callable[..., Staged], *, n: int) -> None:
    staged = stage(engine, n)
    instants = two_workers(engine, shared=True)

    assert len(instants) == n
    gate = SharedRateGate(engine, "twilio", RATE)
    # the limit, burst included; a request or two more for the spread of the threads' scheduling
    # between a take and its request (the provider counts arrivals)
    assert busiest_second(instants) <= RATE + 2, busiest_second(instants)
    # all of them together took as long as the refill says (less the first burst), not half of it
    assert gate.refill is not None
    assert max(instants) - min(instants) >= (n - gate.capacity) / gate.refill * 0.9
    counts = state_counts(engine, update_id=staged.update_id)
    assert counts[(Channel.SMS, DeliveryState.ACCEPTED)] == n


@pytest.mark.postgres
def test_two_workers_on_postgresql_never_exceed_the_rate_together(
    pg_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    _check_within_rate(pg_engine, stage, n=160)


def test_two_workers_on_sqlite_keep_the_rate_too(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    _check_within_rate(sqlite_engine, stage, n=100)


@pytest.mark.postgres
def test_workers_that_each_keep_the_rate_alone_exceed_it_together(
    pg_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    """What the shared bucket prevents (and proof that the check above can fail)."""
    stage(pg_engine, 160)
    instants = two_workers(pg_engine, shared=False)

    assert busiest_second(instants) > RATE * 1.5


def test_a_429_closes_the_provider_for_every_worker(engine: sa.Engine) -> None:
    one, other = (SharedRateGate(engine, "twilio", RATE) for _ in range(2))
    assert other.wait_time(1) == 0.0

    one.close_for(2.0)

    wait = other.wait_time(1)
    assert 1.5 < wait <= 2.0
    assert 1.5 < other.wait_time(1) <= 2.0  # now known locally: no need to ask the store
    assert SharedRateGate(engine, "sendgrid", RATE).wait_time(1) == 0.0  # another provider is open


def test_the_bucket_is_one_for_all_gates_of_a_provider(engine: sa.Engine) -> None:
    gates = [SharedRateGate(engine, "sendgrid", 2.0) for _ in range(3)]  # burst: one request

    assert gates[0].wait_time(1) == 0.0
    waits = [g.wait_time(1) for g in gates[1:]]

    # one token per 1/1.5 s (the limit less a quarter of it), for all of them
    assert all(0.5 < w <= 1 / 1.5 for w in waits), waits


def test_a_provider_without_a_rate_never_waits_nor_asks_the_store(engine: sa.Engine) -> None:
    gate = SharedRateGate(engine, "webhook", None)

    assert [gate.wait_time(1000) for _ in range(3)] == [0.0, 0.0, 0.0]
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM provider_rate")).scalar_one() == 0


# ── the promise, on the store's clock ─────────────────────────────────────────────────────────────


class StoreClock:
    """Stands in for :func:`~clarion.outbox.shared_rate.store_clock`: the store's clock reads
    ``now``, which only the test moves."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self, dialect: str) -> sa.ColumnElement[float]:
        return sa.bindparam("store_now", callable_=lambda: self.now, type_=sa.Float)


@pytest.fixture
def store_clock(monkeypatch: pytest.MonkeyPatch) -> StoreClock:
    clock = StoreClock()
    monkeypatch.setattr(shared_rate, "store_clock", clock)
    return clock


def greedy_takes(
    gates: list[SharedRateGate], clock: StoreClock, n: int, *, pause_after: int = 0
) -> list[float]:
    """``n`` requests from ``gates`` in turn, each taken the moment the bucket allows (the clock moves
    on by the wait the gate names), with a quiet spell after ``pause_after`` of them
    that fills the bucket again: the store-clock instants of the takes."""
    instants: list[float] = []
    turn = 0
    while len(instants) < n:
        if pause_after and len(instants) == pause_after:
            clock.now += 10.0
            pause_after = 0
        gate = gates[turn % len(gates)]
        turn += 1
        wait = gate.wait_time(1.0)
        if wait > 0:
            clock.now += max(wait, 1e-9)  # a wait below the clock's resolution at 1000 s moves nothing
        else:
            instants.append(clock.now)
    return instants


@pytest.mark.parametrize("limit", [100, 40, 4, 3, 2, 1])
def test_no_second_holds_more_takes_than_the_limit_burst_included(
    engine: sa.Engine, store_clock: StoreClock, limit: int
) -> None:
    """Three workers' gates, as greedy as the bucket allows, burst after a quiet spell included."""
    gates = [SharedRateGate(engine, "twilio", float(limit)) for _ in range(3)]
    n = 4 * limit + 8

    instants = greedy_takes(gates, store_clock, n, pause_after=2 * limit + 4)

    assert busiest_second(instants) <= limit  # the old bucket (refill at the limit) let 5/4 of it by
    burst, refill = gates[0].capacity, gates[0].refill
    assert refill is not None and burst + refill <= limit + 1
    # and no slower than that: after each burst the takes go at the refill rate
    first = instants[: 2 * limit + 4]
    assert first[-1] - first[0] == pytest.approx((len(first) - math.floor(burst)) / refill, abs=1 / refill)


def test_a_provider_without_a_limit_per_second_is_kept_over_a_longer_window(
    engine: sa.Engine, store_clock: StoreClock
) -> None:
    """Bluesky (0.45 a second, counted by the hour): one request at once, then under the rate."""
    gate = SharedRateGate(engine, "bluesky", 0.45)

    instants = greedy_takes([gate], store_clock, 100)

    assert busiest_second(instants) == 1
    assert 99 / (instants[-1] - instants[0]) <= 0.45


# ── each request takes its token right before it is made ──────────────────────────────────────────


class RecordingGate(RateGate):
    """Never makes anyone wait; notes every take in ``events``, in order with the requests."""

    def __init__(self, events: list[str]) -> None:
        super().__init__(RATE)
        self.events = events

    def wait_time(self, cost: float) -> float:
        self.events.append(f"take {cost:g}")
        return 0.0


class RecordingSms(FakeSender):
    """One request per message (sends and lookups), noted in ``events``."""

    one_request_per_batch: ClassVar[bool] = False

    def __init__(self, events: list[str]) -> None:
        super().__init__(Channel.SMS, no_duplicates=True)
        self.requests_per_second = RATE
        self.events = events

    def send(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        self.events.extend("send" for _ in messages)
        return super().send(messages)

    def reconcile(self, messages: Sequence[OutboundMessage]) -> list[Reconciled]:
        self.events.extend("lookup" for _ in messages)
        return super().reconcile(messages)


def recorded_run(engine: sa.Engine) -> list[str]:
    """Run a worker over the due SMS: its takes and its requests, in the order they happened."""
    events: list[str] = []
    config = WorkerConfig(name="w", threads=1, claim_size=20, **FAST)
    worker = Worker(engine, {Channel.SMS: RecordingSms(events)}, config)
    worker.gates[Channel.SMS] = RecordingGate(events)
    worker.run()
    return events


def test_every_request_takes_its_own_token_right_before_it_is_made(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    """A block's tokens taken at once and its requests made one by one after spread them over the
    block's time; the provider's window then saw more than the gate let go (issue 17)."""
    stage(sqlite_engine, 30)

    events = recorded_run(sqlite_engine)

    assert events == ["take 1", "send"] * 30


def test_every_lookup_takes_its_own_token_right_before_it_is_made(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    """A lookup of a message in doubt is a request too."""
    stage(sqlite_engine, 12)
    while ledger.claim(sqlite_engine, worker="crashy", channel=Channel.SMS, limit=50, now=utcnow()):
        pass  # every rendition's rows, in doubt once the crashed worker's claims are released
    ledger.release_stale(sqlite_engine, lease=timedelta(minutes=2), now=utcnow(), restarted="crashy")

    events = recorded_run(sqlite_engine)

    assert events.count("lookup") == events.count("send") == 12  # looked up, absent, sent
    requests = [e for e in events if e != "take 1"]
    assert events == [step for e in requests for step in ("take 1", e)]
