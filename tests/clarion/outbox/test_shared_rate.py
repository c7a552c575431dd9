"""A provider's rate holds for every worker together: the token bucket is in the store.

Two workers (two :class:`Worker` objects, each with its own threads and its own local gates, as two
processes would have) send SMS, one request per message, to a fake provider that notes the instant of
every request; the busiest second of all of them together stays within the rate and the bucket's
burst. A 429 one worker meets closes the provider for the other too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import ClassVar

import pytest
import sqlalchemy as sa

from channels.sandbox.inbox import Inbox
from clarion.kinds import Channel, DeliveryState
from clarion.outbox.counts import state_counts
from clarion.outbox.port import OutboundMessage, SendResult
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
    burst = SharedRateGate(engine, "twilio", RATE).capacity
    assert busiest_second(instants) <= RATE + burst + 1, busiest_second(instants)
    # all of them together took as long as the rate says (less the first burst), not half of it
    assert max(instants) - min(instants) >= (n - burst) / RATE * 0.9
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

    assert all(0.3 < w <= 0.5 for w in waits), waits  # one token per half second, for all of them


def test_a_provider_without_a_rate_never_waits_nor_asks_the_store(engine: sa.Engine) -> None:
    gate = SharedRateGate(engine, "webhook", None)

    assert [gate.wait_time(1000) for _ in range(3)] == [0.0, 0.0, 0.0]
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM provider_rate")).scalar_one() == 0
