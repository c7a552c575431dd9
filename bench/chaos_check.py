"""What the chaos run proves, counted by the sandbox and set against the ledger: :func:`verify`.

* lost: a delivery (email by its ``delivery_id``, SMS by its number, a social post by its key) that
  the sandbox never accepted;
* duplicates: copies beyond the first, per channel; SMS, Mastodon and Bluesky must have none, and an
  email's second copies must not outnumber the blind resends the ledger counted for that delivery;
* rate: each limited provider's busiest second at most its limit, of sends and of all requests
  (in-doubt lookups included, told apart), and no 429 of the limiter's own (injected 429s are
  faults, counted apart);
* the ledger: every row accepted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from bench.chaos_workers import Crash
    from channels.sandbox import SandboxHandle

SENT = ("email", "sms", "mastodon", "bluesky")
ONCE_ONLY = ("sms", "mastodon", "bluesky")


@dataclass
class Verdict:
    expected: Counter[str]
    received: Counter[str]
    duplicates: Counter[str]
    email_over: dict[str, tuple[int, int]]
    """delivery id → (second copies received, blind resends counted) where copies exceed the count."""
    blind_resends: int
    ledger: dict[str, int]
    stats: dict[str, Any]
    limits: dict[str, int]
    kills: int = 0
    crashes: list[Crash] = field(default_factory=list)
    seconds: float = 0.0
    store_waits: int = 0
    """Pauses the workers took, all together, waiting for the store to come back."""
    unfinished: list[str] = field(default_factory=list)
    """Each ledger row not accepted: its channel, id, state, attempts and last error."""

    @property
    def lost(self) -> int:
        return sum(max(0, self.expected[c] - self.received[c]) for c in SENT)

    @property
    def accepted(self) -> int:
        return sum(min(self.expected[c], self.received[c]) for c in SENT)

    @property
    def total(self) -> int:
        return sum(self.expected[c] for c in SENT)

    def over_limit(self) -> dict[str, tuple[int, int]]:
        """Providers whose busiest second of sends exceeded the limit: (peak, limit)."""
        peaks = self.stats["peak_sends_per_second"]
        return {p: (peaks.get(p, 0), limit) for p, limit in self.limits.items() if peaks.get(p, 0) > limit}

    def lookups_over_limit(self) -> dict[str, tuple[int, int]]:
        """Providers whose busiest second, lookups included, exceeded the limit: (peak, limit)."""
        peaks = self.stats["peak_per_second"]
        return {p: (peaks.get(p, 0), limit) for p, limit in self.limits.items() if peaks.get(p, 0) > limit}

    @property
    def limiter_429s(self) -> int:
        return int(self.stats["rejected"].get("429", 0))

    def problems(self) -> list[str]:
        found = []
        if self.lost:
            found.append(f"lost {self.lost} messages")
        for channel in ONCE_ONLY:
            if self.duplicates[channel]:
                found.append(f"{channel}: {self.duplicates[channel]} duplicates")
        if self.email_over:
            found.append(
                f"email: {len(self.email_over)} deliveries with more copies than blind resends counted"
            )
        for provider, (peak, limit) in self.over_limit().items():
            found.append(f"{provider}: {peak} sends in one second, over the limit of {limit}")
        for provider, (peak, limit) in self.lookups_over_limit().items():
            found.append(
                f"{provider}: {peak} requests in one second, lookups included, over the limit of {limit}"
            )
        if self.limiter_429s:
            found.append(f"{self.limiter_429s} 429s from the rate limit (not injected)")
        unfinished = {s: n for s, n in self.ledger.items() if s != "accepted" and n}
        if unfinished:
            found.append(f"ledger rows not accepted: {unfinished}")
            found += [f"  {line}" for line in self.unfinished[:10]]
        if self.crashes:
            found.append(f"{len(self.crashes)} worker crashes (exits without a kill)")
        return found

    @property
    def held(self) -> bool:
        return not self.problems()

    def report(self) -> list[str]:
        stats = self.stats
        lines = [
            f"run: {self.seconds:.0f} s of sending, {self.kills} SIGKILLs, "
            f"{len(self.crashes)} worker crashes, {self.store_waits} pauses waiting for the store",
            f"requests: {stats['requests']}",
            f"faults injected: {stats['faults']}; refused by status: {stats['rejected']}",
        ]
        for provider, limit in sorted(self.limits.items()):
            sends = stats["peak_sends_per_second"].get(provider, 0)
            peak = stats["peak_per_second"].get(provider, 0)
            lines.append(
                f"rate: {provider} limit {limit}/s; busiest second: {sends} sends, "
                f"{peak} requests with the in-doubt lookups"
            )
        lines.append(f"429s from the rate limit (not injected): {self.limiter_429s}")
        for channel in SENT:
            lines.append(
                f"{channel}: expected {self.expected[channel]}, accepted {self.received[channel]}, "
                f"duplicates {self.duplicates[channel]}"
            )
        lines.append(
            f"email: {self.duplicates['email']} second copies, {self.blind_resends} blind resends counted "
            f"by the ledger; deliveries with more copies than counted: {len(self.email_over)}"
        )
        lines.append(f"ledger: {self.ledger}")
        for crash in self.crashes:
            lines.append(f"crash: {crash.worker} exit {crash.code}: {crash.tail.splitlines()[-1:]}")
        lines.append("invariants: " + ("all held" if self.held else "BROKEN: " + "; ".join(self.problems())))
        return lines

    def summary(self) -> str:
        return (
            f"chaos: kills {self.kills}, accepted {self.accepted} of {self.total}, lost {self.lost}, "
            f"duplicates {sum(self.duplicates.values())}, blind email resends {self.blind_resends}"
        )


def verify(url: str, *, update_id: int, box: SandboxHandle, plan_limits: dict[str, int]) -> Verdict:
    """Count the sandbox's inbox against the ledger of ``update_id``."""
    from clarion.kinds import Channel
    from clarion.models import Delivery, Rendition
    from clarion.models.columns import table_of
    from clarion.store import make_engine

    d, r = table_of(Delivery), table_of(Rendition)
    engine = make_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.select(d.c.id, d.c.channel, d.c.state, d.c.uncertain_sends, r.c.thread)
                .add_columns(d.c.attempts, d.c.error_detail)
                .join(r, r.c.id == d.c.rendition_id)
                .where(d.c.update_id == update_id)
            ).all()
    finally:
        engine.dispose()
    expected: Counter[str] = Counter()
    ledger: Counter[str] = Counter()
    blind: dict[str, int] = {}
    unfinished: list[str] = []
    for row in rows:
        channel = Channel(row.channel).value
        state = str(getattr(row.state, "value", row.state))
        ledger[state] += 1
        if state != "accepted":
            unfinished.append(
                f"{channel} {row.id}: {state} after {row.attempts} attempts: {row.error_detail}"
            )
        expected[channel] += 1 + len(row.thread or ()) if channel in ("mastodon", "bluesky") else 1
        if channel == "email":
            blind[str(row.id)] = row.uncertain_sends
    copies: dict[str, Counter[str]] = {c: Counter() for c in SENT}
    for record in box.inbox():
        channel = record.channel.value
        if channel in copies:
            key = record.delivery_id if channel == "email" else record.address or record.idempotency_key
            copies[channel][key or ""] += 1
    received = Counter({c: len(copies[c]) for c in SENT})
    duplicates = Counter({c: sum(n - 1 for n in copies[c].values()) for c in SENT})
    email_over = {
        key: (n - 1, blind.get(key, 0)) for key, n in copies["email"].items() if n - 1 > blind.get(key, 0)
    }
    received["email"] = len(set(copies["email"]) & set(blind))  # only this update's deliveries count
    return Verdict(
        expected=expected,
        received=received,
        duplicates=duplicates,
        email_over=email_over,
        blind_resends=sum(blind.values()),
        ledger=dict(ledger),
        stats=box.stats(),
        unfinished=unfinished,
        limits=dict(plan_limits),
    )
