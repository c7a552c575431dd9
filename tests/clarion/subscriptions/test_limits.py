"""Rate limits in the store: a sliding window per key, refused requests count for nothing, and every
process (every connection) sees the same count."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from clarion import store
from clarion.models import RateHit, utcnow
from clarion.subscriptions.limits import KEPT, Limit, admit
from clarion.subscriptions.refusals import Reason, Refused

THREE = Limit("test", 3, timedelta(minutes=10))
ONE_A_DAY = Limit("test-day", 1, timedelta(days=1))


def hits(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(RateHit.__table__)).scalar_one()  # type: ignore[attr-defined]


def admitted(engine: sa.Engine, limits: list[tuple[Limit, str]], at: object = None) -> bool:
    try:
        with store.session_scope(engine) as session:
            admit(session=session, limits=limits, now=at or utcnow())  # type: ignore[arg-type]
    except Refused as refused:
        assert refused.reason is Reason.TOO_MANY and refused.retry_after > 0
        return False
    return True


def test_a_key_gets_its_most_in_a_window_then_is_refused_storing_nothing(engine: sa.Engine) -> None:
    assert [admitted(engine, [(THREE, "k")]) for _ in range(5)] == [True, True, True, False, False]
    assert hits(engine) == 3
    assert admitted(engine, [(THREE, "other")])  # another key has its own count


def test_the_window_slides(engine: sa.Engine) -> None:
    start = utcnow()
    for minute in (0, 1, 2):
        assert admitted(engine, [(THREE, "k")], start + timedelta(minutes=minute))
    assert not admitted(engine, [(THREE, "k")], start + timedelta(minutes=9))
    assert admitted(engine, [(THREE, "k")], start + timedelta(minutes=10, seconds=1))  # the first left


def test_one_full_limit_refuses_the_request_under_all_of_them(engine: sa.Engine) -> None:
    assert admitted(engine, [(THREE, "client"), (ONE_A_DAY, "address")])
    assert not admitted(engine, [(THREE, "client"), (ONE_A_DAY, "address")])
    assert hits(engine) == 2  # the refused request was not counted under the client either


def test_hits_older_than_the_longest_window_are_deleted(engine: sa.Engine) -> None:
    start = utcnow()
    assert admitted(engine, [(THREE, "k")], start)
    assert admitted(engine, [(THREE, "other")], start + KEPT + timedelta(seconds=1))
    assert hits(engine) == 1


def test_concurrent_requests_from_many_connections_never_exceed_the_limit(engine: sa.Engine) -> None:
    """Two processes of the web app are two connections; the count must hold across them."""
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def request() -> None:
        barrier.wait()
        results.append(admitted(engine, [(THREE, "k")]))  # each thread on a connection of its own

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 5 + [True] * 3
    assert hits(engine) == 3


def test_refusal_says_when_to_come_back(engine: sa.Engine) -> None:
    start = utcnow()
    assert admitted(engine, [(ONE_A_DAY, "k")], start)
    with Session(engine) as session, pytest.raises(Refused) as caught:
        admit(session=session, limits=[(ONE_A_DAY, "k")], now=start + timedelta(hours=23))
    assert 3500 <= caught.value.retry_after <= 3602
