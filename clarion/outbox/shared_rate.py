"""Provider request rates that hold for every worker together: a token bucket in the store.

Each worker paces its threads with a :class:`~clarion.outbox.rate.RateGate`; several workers on
one store would each take the provider's whole rate. :class:`SharedRateGate` keeps the bucket in
the store instead, one ``provider_rate`` row per provider: a worker takes the token of each request
right before it makes it (one email request carries a whole batch; an SMS, or a lookup of one in
doubt, is a request of its own) in one short transaction that locks the row (``SELECT … FOR
UPDATE`` on PostgreSQL; on SQLite every transaction is ``BEGIN IMMEDIATE`` already). The bucket
refills from the **store's** clock, so workers on several machines agree on the time. A 429 closes
the row too (``closed_until``): every worker waits out the provider's ``Retry-After``, not only the
one that met it. Providers without a rate never touch the store.

What it promises: the requests of all workers together, lookups included, take their tokens at
most ``L`` (the provider's limit) in any one second, and reach the provider in a second that holds
at most ``L + 0.9 L × J`` of them, ``J`` the spread of the time from take to arrival. The arithmetic
(:mod:`clarion.outbox.rate`): the bucket holds ``burst = L/10`` tokens (at least one) and refills at
``0.9 L``; a second starts with at most ``burst`` and gains ``0.9 L``, so it holds at most ``L``
takes. Each request arrives ``d`` seconds after its take; the requests that arrive within one second
were taken within ``1 + J`` seconds (``J = max d − min d``): at most ``L + 0.9 L × J``. That is why
a token is taken per request, right before it is made: a block's tokens taken at once and then
posted one by one spread ``d`` over the whole block (up to a second at Twilio's latency, more when a
request hangs until its timeout), which broke the old promise of ``rate + burst`` a second "plus
network jitter" against a sliding one-second window even at 90 % of the rate. What is left of ``J``
is the network's and the provider's own queueing (the sandbox's latency is 40 ± 20 ms: 4 requests
at 100 a second); a rate configured that much under the provider's limit covers it.

The cost is one row lock per provider request, about a millisecond against the request's tens;
SendGrid, whose one request carries a batch of 1000, pays one per batch as before.

Why not Prefect's global concurrency limits (``rate_limit("sms")``): they need the Prefect API for
every acquisition (``clarion outbox work`` runs without a server, and the domain never imports
Prefect), an HTTP round trip per request, and they pace coarsely (measured: a limit of 1/s gave
0.6/s, with gaps of 1.1–2.5 s; ``../shared/reference/prefect.md`` §8). The store is already shared
by every worker that could exceed the rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import sqlalchemy as sa

from clarion.models import ProviderRate
from clarion.models.columns import table_of
from clarion.outbox.fanout import insert_for
from clarion.outbox.rate import RateGate

_rate = table_of(ProviderRate)


def store_clock(dialect: str) -> sa.ColumnElement[float]:
    """The store's clock in seconds (fractions included), read in the transaction that uses it."""
    if dialect == "postgresql":
        return sa.cast(sa.func.extract("epoch", sa.func.clock_timestamp()), sa.Float)
    return (sa.func.julianday("now") - 2440587.5) * 86400.0


class SharedRateGate(RateGate):
    """A :class:`RateGate` whose tokens and 429 closures live in the store, shared by every worker.

    ``wait_time`` and ``close_for`` keep the local gate's contract: 0.0 when the tokens were taken,
    else how long to wait before asking again. A closure seen in the store is mirrored locally, so
    the worker's threads stop asking until it ends.
    """

    def __init__(
        self,
        engine: sa.Engine,
        provider: str,
        per_second: float | None,
        *,
        writing: AbstractContextManager[object] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(per_second, clock=clock)
        self.engine, self.provider = engine, provider
        self._writing = writing or nullcontext()
        self._now = store_clock(engine.dialect.name)

    def wait_time(self, cost: float) -> float:
        with self.lock:
            local = self.clock()
            if local < self.closed_until:
                return self.closed_until - local
        if self.refill is None:
            return 0.0
        wait, closed_for = self._take(min(cost, self.capacity))
        if closed_for > 0:
            with self.lock:
                self.closed_until = max(self.closed_until, self.clock() + closed_for)
        return wait

    def close_for(self, seconds: float) -> None:
        with self.lock:
            until = self.clock() + seconds
            if until <= self.closed_until:  # this closure is known already (a batch's other 429s)
                return
            self.closed_until = until
        with self._writing, self.engine.begin() as connection:
            *_, closed_until, now = self._locked_row(connection)
            connection.execute(
                _rate.update()
                .where(_rate.c.provider == self.provider)
                .values(closed_until=max(closed_until, now + seconds))
            )

    def _take(self, cost: float) -> tuple[float, float]:
        """Take ``cost`` tokens from the store's bucket: (seconds to wait, 0.0 when taken; seconds the
        provider stays closed by a 429, 0.0 when open)."""
        rate = self.refill
        assert rate is not None
        with self._writing, self.engine.begin() as connection:
            tokens, refilled_at, closed_until, now = self._locked_row(connection)
            if now < closed_until:
                return closed_until - now, closed_until - now
            tokens = min(self.capacity, tokens + max(0.0, now - refilled_at) * rate)
            wait = 0.0
            if tokens >= cost:
                tokens -= cost
            else:
                wait = (cost - tokens) / rate
            connection.execute(
                _rate.update().where(_rate.c.provider == self.provider).values(tokens=tokens, refilled_at=now)
            )
            return wait, 0.0

    def _locked_row(self, connection: sa.Connection) -> tuple[float, float, float, float]:
        """The provider's row, locked for this transaction (made full on first use), and the store's
        clock read after the lock was granted."""
        query = (
            sa.select(_rate.c.tokens, _rate.c.refilled_at, _rate.c.closed_until)
            .where(_rate.c.provider == self.provider)
            .with_for_update()
        )
        row = connection.execute(query).one_or_none()
        if row is None:
            now = float(connection.execute(sa.select(self._now)).scalar_one())
            full = {"provider": self.provider, "tokens": self.capacity, "refilled_at": now, "closed_until": 0}
            connection.execute(insert_for(self.engine)(_rate).values(full).on_conflict_do_nothing())
            row = connection.execute(query).one()
        now = float(connection.execute(sa.select(self._now)).scalar_one())
        return float(row.tokens), float(row.refilled_at), float(row.closed_until), now
