"""What the sandbox accepted, and what happened to every request: :class:`Inbox`.

One :class:`InboxRecord` per accepted recipient (SendGrid: per address in to/cc/bcc; the others: per
message). Records are small (slots, strings shared between the recipients of one request, no copy of
the request), because a benchmark pushes a million recipients through; ``keep_text=False`` drops
subjects and texts. Thread-safe: the server thread writes while a test thread reads.

Duplicates: a record whose key was accepted before on the same channel. The key is clarion's
``delivery_id`` when the request carries one, else the idempotency key; for SMS, which carries
neither, the pair (To, Body).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from clarion.channel_table import channel_table
from clarion.kinds import Channel


@dataclass(slots=True)  # not frozen: a frozen __init__ is 3x slower, and a benchmark makes millions
class InboxRecord:
    """One accepted recipient (or one post). Treat as read-only."""

    channel: Channel
    provider_id: str  # SendGrid X-Message-Id, Twilio sid, Mastodon status id, Bluesky at:// uri
    address: str | None  # email or phone; None on broadcast channels
    delivery_id: str | None
    idempotency_key: str | None  # SendGrid custom_args, Mastodon Idempotency-Key, Bluesky rkey
    subject: str | None
    text: str | None
    accepted_at: float  # epoch seconds

    def as_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel.value,
            "provider_id": self.provider_id,
            "address": self.address,
            "delivery_id": self.delivery_id,
            "idempotency_key": self.idempotency_key,
            "subject": self.subject,
            "text": self.text,
            "accepted_at": datetime.fromtimestamp(self.accepted_at, UTC).isoformat(),
        }


class Inbox:
    """Accepted records plus request statistics; every method is thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self._records: list[InboxRecord] = []
            self._by_channel: defaultdict[Channel, list[InboxRecord]] = defaultdict(list)
            for channel, spec in channel_table().items():
                if spec.sandbox is not None:
                    self._by_channel[channel] = []  # counted from zero
            self._seen: set[int] = set()
            self._requests: Counter[str] = Counter()
            self._recent: defaultdict[str, deque[float]] = defaultdict(deque)
            self._peak: Counter[str] = Counter()
            self._recent_sends: defaultdict[str, deque[float]] = defaultdict(deque)
            self._peak_sends: Counter[str] = Counter()
            self._rejected: Counter[str] = Counter()
            self._faults: Counter[str] = Counter()
            self._duplicates: Counter[str] = Counter()

    # ── writing ──────────────────────────────────────────────────────────────────────────────────

    def add(self, records: list[InboxRecord], keys: list[object | None]) -> None:
        """Record accepted ``records``; ``keys[i]`` is the duplicate key of ``records[i]`` (or None)."""
        with self._lock:
            seen = self._seen
            for record, key in zip(records, keys, strict=True):
                if key is not None:
                    marker = hash((record.channel, key))
                    if marker in seen:
                        self._duplicates[record.channel.value] += 1
                    else:
                        seen.add(marker)
            self._records.extend(records)
            if records:
                by_channel = self._by_channel[records[0].channel]
                if all(r.channel is records[0].channel for r in records):
                    by_channel.extend(records)
                else:
                    for record in records:
                        self._by_channel[record.channel].append(record)

    def count_request(self, provider: str, at: float | None = None, *, lookup: bool = False) -> None:
        """Count a request as it arrives (``at``: monotonic seconds), refused ones too: the peak of
        any one-second window tells whether the clients together kept to a rate. A ``lookup`` (a
        GET: a client asking whether the provider has a message) counts in ``peak_per_second`` but
        not in ``peak_sends_per_second``, the busiest second of the requests that send."""
        now = time.monotonic() if at is None else at
        with self._lock:
            self._requests[provider] += 1
            _slide(self._recent[provider], now, self._peak, provider)
            if not lookup:
                _slide(self._recent_sends[provider], now, self._peak_sends, provider)

    def count_rejected(self, status: int) -> None:
        with self._lock:
            self._rejected[str(status)] += 1

    def count_fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    # ── reading ──────────────────────────────────────────────────────────────────────────────────

    def records(
        self, channel: Channel | None = None, *, limit: int | None = None, offset: int = 0
    ) -> tuple[int, list[InboxRecord]]:
        """(how many match, the slice asked for), oldest first."""
        with self._lock:
            source = self._records if channel is None else self._by_channel[channel]
            end = None if limit is None else offset + limit
            return len(source), source[offset:end]

    def stats(self) -> dict[str, Any]:
        """Requests per provider, accepted and duplicates per channel, rejected per status, faults,
        and per provider the most requests that arrived within any one second (``peak_per_second``;
        ``peak_sends_per_second`` leaves lookups out)."""
        with self._lock:
            return {
                "requests": {"total": sum(self._requests.values()), **self._requests},
                "peak_per_second": dict(self._peak),
                "peak_sends_per_second": dict(self._peak_sends),
                "accepted": {c.value: len(r) for c, r in self._by_channel.items()},
                "rejected": dict(self._rejected),
                "faults": dict(self._faults),
                "duplicates": {c.value: self._duplicates[c.value] for c in self._by_channel},
            }


def _slide(recent: deque[float], now: float, peaks: Counter[str], provider: str) -> None:
    """Add ``now`` to a one-second sliding window and raise the provider's peak if it grew past it."""
    recent.append(now)
    while recent[0] <= now - 1.0:
        recent.popleft()
    if len(recent) > peaks[provider]:
        peaks[provider] = len(recent)


def channel_named(name: str) -> Channel:
    """A channel from its name or its provider's name (``email`` or ``sendgrid``)."""
    for channel, spec in channel_table().items():
        if spec.provider == name:
            return channel
    return Channel(name)
