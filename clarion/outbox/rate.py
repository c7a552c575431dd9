"""Pacing a channel's requests: a token bucket the worker's threads share, that a 429 can close.

The bucket is sized so that the provider's limit ``L`` (requests in any one second, the sender's
``requests_per_second``) holds, burst included. It holds ``burst = max(1, BURST_SECONDS × L)``
tokens and refills at ``refill = (1 − BURST_SECONDS) × L``, which is ``L − burst`` whenever the burst
is more than one request (``L ≥ 10``). Whatever the order of the takes, a span of ``T`` seconds
starts with at most ``burst`` tokens in the bucket and gains at most ``refill × T``, so at most
``burst + refill × T`` requests take a token within it; over one second that is ``L``. Below 10 a
second the burst is one request, and a second holds at most ``1 + 0.9 L`` takes: fewer than
``L + 1``, so never more than a whole-numbered ``L``. A provider with a smaller rate counts over
minutes or hours, and ``refill`` is under its rate. A long run goes at 90 % of ``L``: the tenth
left over is what lets a quiet provider take a burst at once without crowding the second after.

A request takes its token right before it is made (:mod:`clarion.outbox.worker`), so the provider
counts the takes, shifted by the time from take to arrival: only the spread of that time (network,
the provider's own queueing), ``J`` seconds, can crowd a second, by at most ``refill × J``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

BURST_SECONDS = 0.1
"""The bucket holds this many seconds of the limit (at least one request): what may go at once after
a quiet spell, and the most rows a thread claims for a channel paced request by request."""


def burst_of(per_second: float | None) -> float:
    """Tokens the bucket holds: a tenth of a second of the limit, at least one request."""
    return max(1.0, (per_second or 1.0) * BURST_SECONDS)


def refill_of(per_second: float) -> float:
    """Tokens a second: the limit less the burst, so burst and refill together fit in one second."""
    return per_second * (1.0 - BURST_SECONDS)


class RateGate:
    """A token bucket per channel, shared by the worker's threads, that a 429 can also close.

    ``per_second`` is the provider's limit; the bucket keeps every second within it (see the module
    docstring)."""

    def __init__(self, per_second: float | None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second, self.clock = per_second, clock
        self.capacity = burst_of(per_second)
        self.refill = refill_of(per_second) if per_second is not None else None
        self.tokens, self.updated, self.closed_until = self.capacity, clock(), 0.0
        self.lock = threading.Lock()

    def wait_time(self, cost: float) -> float:
        """Take ``cost`` tokens if they are there (0.0), else how long to wait before asking again."""
        with self.lock:
            now = self.clock()
            if now < self.closed_until:
                return self.closed_until - now
            if self.refill is None:
                return 0.0
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.refill)
            self.updated = now
            cost = min(cost, self.capacity)
            if self.tokens >= cost:
                self.tokens -= cost
                return 0.0
            return (cost - self.tokens) / self.refill

    def close_for(self, seconds: float) -> None:
        with self.lock:
            self.closed_until = max(self.closed_until, self.clock() + seconds)
