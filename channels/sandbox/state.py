"""Everything a running sandbox holds: config, inbox, rate limiters, the fault dice.

One :class:`SandboxState` per server. Provider routers keep their own stores (Twilio messages,
Mastodon statuses, Bluesky records) and register a reset hook here.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from channels.sandbox.config import FaultKind, Provider, SandboxConfig
from channels.sandbox.inbox import Inbox


@dataclass(frozen=True, slots=True)
class RateWindow:
    """The state of one provider's limiter after a request was counted (or refused)."""

    allowed: bool
    limit: int | None  # None: no limit configured
    remaining: int
    reset: float  # epoch seconds when the oldest counted request leaves the window
    window_seconds: int = 1


class RateLimiter:
    """Per provider, at most ``limit`` requests in any 1 s (a sliding log: deterministic in tests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._log: dict[str, deque[float]] = {}

    def take(self, provider: Provider, limit: int | None, now: float) -> RateWindow:
        if limit is None:
            return RateWindow(allowed=True, limit=None, remaining=0, reset=now)
        with self._lock:
            log = self._log.setdefault(provider, deque())
            while log and log[0] <= now - 1.0:
                log.popleft()
            if len(log) >= limit:
                return RateWindow(allowed=False, limit=limit, remaining=0, reset=log[0] + 1.0)
            log.append(now)
            return RateWindow(allowed=True, limit=limit, remaining=limit - len(log), reset=log[0] + 1.0)

    def clear(self) -> None:
        with self._lock:
            self._log.clear()


class SandboxState:
    """Shared by the app (server thread) and the handle (caller's thread)."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self._lock = threading.Lock()
        self._config = config or SandboxConfig()
        self.inbox = Inbox()
        self.limiter = RateLimiter()
        self._dice = random.Random(self._config.seed)  # noqa: S311 — fault injection, not security
        self._reset_hooks: list[Callable[[], None]] = []
        self.closing = False
        """Set when the server stops: hanging requests give up at once."""

    @property
    def config(self) -> SandboxConfig:
        return self._config

    def configure(self, config: SandboxConfig) -> None:
        """Replace the config; a (new or repeated) seed restarts the fault sequence."""
        with self._lock:
            if config.seed is not None:
                self._dice = random.Random(config.seed)  # noqa: S311
            self._config = config

    def on_reset(self, hook: Callable[[], None]) -> None:
        self._reset_hooks.append(hook)

    def reset(self) -> None:
        """Forget everything accepted and counted (the config stays)."""
        self.inbox.clear()
        self.limiter.clear()
        for hook in self._reset_hooks:
            hook()
        self.configure(self._config)

    def fault_for(self, provider: Provider) -> FaultKind | None:
        """Roll the dice for one request: which fault to inject, if any."""
        config = self._config
        if config.fault_rate <= 0 or (config.providers is not None and provider not in config.providers):
            return None
        with self._lock:
            if self._dice.random() >= config.fault_rate:
                return None
            return self._dice.choice(config.fault_kinds)

    def chance(self) -> float:
        """One roll of the dice, in [0, 1): what becomes of a message (seeded like the faults)."""
        with self._lock:
            return self._dice.random()

    def latency(self) -> float:
        """Seconds to wait before answering."""
        config = self._config
        if not config.latency_ms and not config.latency_jitter_ms:
            return 0.0
        with self._lock:
            jitter = self._dice.uniform(-config.latency_jitter_ms, config.latency_jitter_ms)
        return max(0.0, config.latency_ms + jitter) / 1000.0

    def opt_out(self, number: str) -> None:
        """A Twilio recipient replies STOP."""
        with self._lock:
            if number not in self._config.twilio_opted_out:
                numbers = (*self._config.twilio_opted_out, number)
                self._config = self._config.updated({"twilio_opted_out": numbers})
