"""Pacing a channel's requests: a token bucket the worker's threads share, that a 429 can close."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateGate:
    """A token bucket per channel, shared by the worker's threads, that a 429 can also close."""

    def __init__(self, per_second: float | None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second, self.clock = per_second, clock
        self.capacity = max(1.0, per_second or 1.0)
        self.tokens, self.updated, self.closed_until = self.capacity, clock(), 0.0
        self.lock = threading.Lock()

    def wait_time(self, cost: float) -> float:
        """Take ``cost`` tokens if they are there (0.0), else how long to wait before asking again."""
        with self.lock:
            now = self.clock()
            if now < self.closed_until:
                return self.closed_until - now
            if self.per_second is None:
                return 0.0
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.per_second)
            self.updated = now
            cost = min(cost, self.capacity)
            if self.tokens >= cost:
                self.tokens -= cost
                return 0.0
            return (cost - self.tokens) / self.per_second

    def close_for(self, seconds: float) -> None:
        with self.lock:
            self.closed_until = max(self.closed_until, self.clock() + seconds)
