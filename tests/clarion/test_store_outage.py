"""A worker rides out a PostgreSQL restart: :func:`clarion.store_outage.patiently` runs its action
again while the store is unreachable, and raises anything else at once."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from clarion.errors import ConfigError
from clarion.store_outage import lost_store, patiently

POSTGRES = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:1/never", poolclass=sa.pool.NullPool)
SQLITE = sa.create_engine("sqlite://")


def shut_down() -> sa.exc.OperationalError:
    return sa.exc.OperationalError("SELECT 1", {}, Exception("the database system is shutting down"))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def test_an_action_runs_again_until_the_store_answers_with_doubling_pauses() -> None:
    clock, calls = Clock(), []

    def action() -> str:
        calls.append(clock.now)
        if len(calls) < 4:
            raise shut_down()
        return "done"

    told: list[float] = []
    result = patiently(
        POSTGRES,
        action,
        patience=60,
        on_wait=lambda _, s: told.append(s),
        sleep=clock.sleep,
        clock=lambda: clock.now,
    )

    assert result == "done" and len(calls) == 4
    assert clock.pauses == told == [0.5, 1.0, 2.0]


def test_patience_runs_out_and_the_last_error_is_raised() -> None:
    clock = Clock()

    def action() -> None:
        raise shut_down()

    with pytest.raises(sa.exc.OperationalError, match="shutting down"):
        patiently(POSTGRES, action, patience=30, sleep=clock.sleep, clock=lambda: clock.now)
    assert 30 <= sum(clock.pauses) < 45


def test_anything_else_is_raised_at_once() -> None:
    calls = []

    def action() -> None:
        calls.append(1)
        raise sa.exc.IntegrityError("INSERT", {}, Exception("duplicate key"))

    with pytest.raises(sa.exc.IntegrityError):
        patiently(POSTGRES, action, patience=60, sleep=lambda _: None)
    assert calls == [1]


def test_what_counts_as_an_unreachable_store() -> None:
    assert lost_store(POSTGRES, shut_down())
    assert lost_store(POSTGRES, sa.exc.InterfaceError("SELECT 1", {}, Exception("connection closed")))
    try:  # as migrate() says it: the store it cannot open, the driver's error its context
        try:
            raise shut_down()
        except sa.exc.OperationalError:
            raise ConfigError("cannot open the store at …") from None
    except ConfigError as exc:
        assert lost_store(POSTGRES, exc)
    assert not lost_store(POSTGRES, ConfigError("no clarion store at …"))
    assert not lost_store(SQLITE, shut_down())  # a file: "no such table" is no outage
