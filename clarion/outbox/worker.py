"""The outbox worker: claim a batch, ask about doubtful ones, send, record; repeat until done.

Each of ``threads`` loops independently over the channels it serves: claim a batch of due rows that
share a rendition (one provider request for email), look up the rows whose last attempt ended in
doubt, send the rest through the channel's :class:`~clarion.outbox.port.Sender`, and record every
outcome in the transaction that claims the next batch. Requests go when their provider's rate gate
lets them (:mod:`clarion.outbox.pacing`); what each answer makes of a message, and when a transient
error is tried again, is :mod:`clarion.outbox.verdicts`'.

A bug (any exception that is not a :class:`~clarion.errors.ChannelError`) stops every thread and is
raised from :meth:`Worker.run`: rows it held stay claimed and are recovered on the next start.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeGuard

import sqlalchemy as sa

from clarion.errors import ChannelError, InDoubt
from clarion.kinds import Channel, DeliveryState
from clarion.models import utcnow
from clarion.outbox import counts, ledger
from clarion.outbox.ledger import Claimed, Outcome, PreparedRequest, UnsubscribeLink, Work
from clarion.outbox.notices import RenderNotice
from clarion.outbox.pacing import Pacing
from clarion.outbox.port import (
    OutboundMessage,
    PreparedSender,
    Sender,
    SendResult,
)
from clarion.outbox.prepared import made_with
from clarion.outbox.verdicts import RESEND_BLIND, Verdicts

RUN_OF_BATCHES = 8
"""Batches of one channel a thread takes in a row, each claimed as the one before is recorded,
before it looks at its other channels again."""


@dataclass(frozen=True)
class WorkerConfig:
    name: str
    threads: int = 4
    claim_size: int | None = None
    """Rows per claim; the sender's ``max_batch`` when None."""
    lease: timedelta = timedelta(minutes=2)
    """A claim older than this is presumed abandoned (longer than any request may take)."""
    in_flight: timedelta = timedelta(seconds=35)
    """The longest a request may stay in the provider's hands (the client's timeout and a margin):
    a row a crash or a timeout left in doubt is not looked up again before this has passed, or the
    provider could answer "absent" for a message it is still creating."""
    max_attempts: int = 12
    backoff_base: float = 1.0
    backoff_cap: float = 300.0
    idle_poll: float = 0.5
    max_wait: float | None = None
    """Run until idle: stop once nothing is due within this many seconds (rows left waiting for a
    retry stay pending for the next run). None: wait for every row to finish."""
    report_every: float = 5.0
    """While waiting for retries, tell ``on_wait`` what is waiting at most this often (seconds)."""
    shared_rates: bool = True
    """Take each provider's rate from the store's bucket, shared with every other worker
    (:mod:`clarion.outbox.shared_rate`); False: this worker alone keeps to it."""


def sends_prepared(sender: Sender) -> TypeGuard[PreparedSender]:
    """Does ``sender`` send requests whose bodies were built at staging (SendGrid)? Only a sender
    that cannot look messages up does: a prepared request in doubt is resent blind, unread."""
    return callable(getattr(sender, "send_prepared", None)) and not sender.no_duplicates


@dataclass
class WorkerStats:
    batches: int = 0
    sent: int = 0
    accepted: int = 0
    retried: int = 0
    failed: int = 0
    reconciled_present: int = 0
    uncertain_sends: int = 0
    released: int = 0
    per_channel: dict[Channel, int] = field(default_factory=dict)


class Worker:
    def __init__(
        self,
        engine: sa.Engine,
        senders: Mapping[Channel, Sender],
        config: WorkerConfig,
        *,
        unsubscribe: UnsubscribeLink | None = None,
        notices: RenderNotice | None = None,
        progress: Callable[[WorkerStats], None] | None = None,
        on_wait: Callable[[list[counts.Waiting]], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.engine, self.senders, self.config = engine, dict(senders), config
        self.unsubscribe, self.progress, self.on_wait = unsubscribe, progress, on_wait
        self.notices = notices  # renders notices (confirmation links, codes) as they are claimed
        self._reported, self._reported_last = 0.0, False
        self.stats = WorkerStats()
        self._lock = threading.Lock()
        # SQLite has one writer: threads that queue on its busy handler sleep in coarse steps. A
        # lock of our own hands the database from thread to thread at once (PostgreSQL needs none).
        self._db: AbstractContextManager[object] = (
            threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()
        )
        self.pacing = Pacing(engine, self.senders, shared=config.shared_rates, writing=self._db)
        self.gates = self.pacing.gates
        self.verdicts = Verdicts(
            can_tell={c: s.no_duplicates for c, s in self.senders.items()},
            max_attempts=config.max_attempts,
            backoff_base=config.backoff_base,
            backoff_cap=config.backoff_cap,
            in_flight=config.in_flight,
            rng=rng or random.Random(),  # noqa: S311 — jitter, not secrets
            rate_limited=self.pacing.close,
        )
        # What this worker's request bodies are made with: a body staged otherwise is built again.
        self.made_with = {
            c: made_with(s.prepare, unsubscribe, c) for c, s in self.senders.items() if sends_prepared(s)
        }
        self._stop = threading.Event()
        # Idle threads wait on this; every finished batch and ``stop`` wake them, so the last
        # thread out does not sleep a whole ``idle_poll`` after the work is done.
        self._changed = threading.Condition()
        self._failure: BaseException | None = None

    # ── running ───────────────────────────────────────────────────────────────────────────────────

    def run(self, *, until_idle: bool = True, stop: threading.Event | None = None) -> WorkerStats:
        """Work until nothing is left (``until_idle``) or ``stop`` is set; raises a thread's bug."""
        self.stats.released += ledger.release_stale(
            self.engine,
            lease=self.config.lease,
            now=utcnow(),
            restarted=self.config.name,
            in_flight=self.config.in_flight,
        )
        threads = [
            threading.Thread(target=self._guarded, args=(until_idle, stop), name=f"{self.config.name}-{n}")
            for n in range(self.config.threads)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if self._failure is not None:
            raise self._failure
        return self.stats

    def stop(self) -> None:
        self._stop.set()
        self._wake()

    def _wake(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def _guarded(self, until_idle: bool, stop: threading.Event | None) -> None:
        try:
            self._loop(until_idle, stop)
        except BaseException as exc:
            with self._lock:
                self._failure = self._failure or exc
            self.stop()

    def _loop(self, until_idle: bool, stop: threading.Event | None) -> None:
        channels = list(self.senders)
        turn = 0
        last_release = time.monotonic()
        while not self._stop.is_set() and not (stop is not None and stop.is_set()):
            worked = False
            for offset in range(len(channels)):
                channel = channels[(turn + offset) % len(channels)]
                if self.pacing.closed_for(channel) > 0:
                    continue
                if self.step(channel):
                    worked = True
                    turn = (turn + offset + 1) % len(channels)
                    break
            if worked:
                continue
            if time.monotonic() - last_release > self.config.lease.total_seconds() / 2:
                last_release = time.monotonic()
                released = ledger.release_stale(
                    self.engine, lease=self.config.lease, now=utcnow(), in_flight=self.config.in_flight
                )
                with self._lock:
                    self.stats.released += released
            now = utcnow()
            left = counts.backlog(self.engine, now=now, channels=channels)
            later = left.next_due_at is not None and (
                self.config.max_wait is not None
                and (left.next_due_at - now).total_seconds() > self.config.max_wait
            )
            if until_idle and not left.due and not left.claimed and (not left.waiting or later):
                if left.waiting:
                    self._report_waiting(channels, last=True)  # what is left for the next run
                return
            if not left.due and left.waiting:
                self._report_waiting(channels)
            pause = self.config.idle_poll
            if left.next_due_at is not None and not left.due:
                pause = min(pause, max(0.0, (left.next_due_at - utcnow()).total_seconds()))
            gate_pauses = [w for c in channels if (w := self.pacing.closed_for(c)) > 0]
            if left.due and gate_pauses:
                pause = min(pause, *gate_pauses)
            with self._changed:
                if not self._stop.is_set():
                    self._changed.wait(max(pause, 0.005))

    def _report_waiting(self, channels: list[Channel], *, last: bool = False) -> None:
        """Tell ``on_wait`` what waits for a retry (channel, how many, next try, attempts, last error),
        at most every ``report_every`` seconds (and once more when the run ends with rows waiting)."""
        if self.on_wait is None:
            return
        with self._lock:
            if self._reported_last or (
                not last and time.monotonic() - self._reported < self.config.report_every
            ):
                return
            self._reported, self._reported_last = time.monotonic(), last
        self.on_wait(counts.waiting(self.engine, now=utcnow(), channels=channels))

    # ── one batch ─────────────────────────────────────────────────────────────────────────────────

    def step(self, channel: Channel) -> bool:
        """Claim, send and record batches of ``channel`` (each outcome recorded in the transaction that
        claims the next batch, up to ``RUN_OF_BATCHES``); False when nothing was due."""
        sender = self.senders[channel]
        size = self.pacing.claim_size(sender, self.config.claim_size)
        prepared = self.made_with.get(channel)
        work: Work = ledger.claim(
            self.engine,
            worker=self.config.name,
            channel=channel,
            limit=size,
            now=utcnow(),
            unsubscribe=self.unsubscribe,
            writing=self._db,
            notices=self.notices,
            prepared=prepared,
        )
        if not work:
            return False
        for run in range(RUN_OF_BATCHES):
            if isinstance(work, PreparedRequest):
                assert sends_prepared(sender)
                outcomes = [self._process_prepared(sender, work)]
                request_id: int | None = work.request.id
                whole, weight = True, work.rows
            else:
                outcomes = self._process(sender, work)
                request_id, whole, weight = work[0].request_id, False, 1
            last = run == RUN_OF_BATCHES - 1 or self._stop.is_set() or self.pacing.closed_for(channel) > 0
            if last:
                ledger.record(
                    self.engine,
                    worker=self.config.name,
                    outcomes=outcomes,
                    now=utcnow(),
                    writing=self._db,
                    request_id=request_id,
                    whole=whole,
                )
                work = []
            else:
                work = ledger.record_and_claim(
                    self.engine,
                    worker=self.config.name,
                    outcomes=outcomes,
                    now=utcnow(),
                    channel=channel,
                    limit=size,
                    request_id=request_id,
                    whole=whole,
                    unsubscribe=self.unsubscribe,
                    writing=self._db,
                    notices=self.notices,
                    prepared=prepared,
                )
            self._count(channel, outcomes, weight=weight)
            self._wake()
            if not work:
                break
        return True

    def _process_prepared(self, sender: PreparedSender, work: PreparedRequest) -> Outcome:
        """Send a request as it was built at staging: one outcome for all its rows. A request in doubt
        is resent blind (its provider cannot be asked), the resend counted first."""
        blind = work.request.in_doubt
        if blind:
            with self._db:
                ledger.count_blind_resends(
                    self.engine, worker=self.config.name, delivery_ids=None, request_id=work.request.id
                )
        sent = self.pacing.send_prepared(sender, work.channel, work.body)
        return self.verdicts.of_send(work, sent.error, sent.provider_id, None, blind=blind)

    def _process(self, sender: Sender, claimed: Sequence[Claimed]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        doubtful = [c.message for c in claimed if c.in_doubt]
        to_send = [c.message for c in claimed if not c.in_doubt]
        uncertain: set[int] = set()
        if doubtful:
            try:
                answers = {a.delivery_id: a for a in self.pacing.look_up(sender, doubtful)}
            except ChannelError as exc:  # a failed lookup is no attempt: the message was not sent again
                failed = [self.verdicts.retry(m, exc, in_doubt=True, made=0) for m in doubtful]
                return failed + self._send(sender, to_send, set())
            for message in doubtful:
                verdict = self.verdicts.of_lookup(message, answers.get(message.delivery_id))
                if isinstance(verdict, Outcome):
                    outcomes.append(verdict)
                    if verdict.state is DeliveryState.ACCEPTED:
                        with self._lock:
                            self.stats.reconciled_present += 1
                    continue
                if verdict == RESEND_BLIND:
                    uncertain.add(message.delivery_id)
                to_send.append(message)
        if uncertain:
            with self._db:
                ledger.count_blind_resends(
                    self.engine,
                    worker=self.config.name,
                    delivery_ids=sorted(uncertain),
                    request_id=claimed[0].request_id,
                )
        return outcomes + self._send(sender, to_send, uncertain)

    def _send(self, sender: Sender, messages: list[OutboundMessage], uncertain: set[int]) -> list[Outcome]:
        return self._outcomes(messages, self.pacing.send(sender, messages), uncertain) if messages else []

    def _outcomes(
        self, messages: list[OutboundMessage], results: list[SendResult], uncertain: set[int]
    ) -> list[Outcome]:
        """Each message's outcome from its result; an ``uncertain`` one was resent blind after an
        attempt that may have arrived, so its outcome counts that attempt too."""
        channel = messages[0].channel
        by_id = {r.delivery_id: r for r in results}
        outcomes = []
        for message in messages:
            result = by_id.get(message.delivery_id)
            blind = message.delivery_id in uncertain
            if result is None:
                bug = InDoubt("the adapter returned no result for this message", channel=channel)
                outcomes.append(self.verdicts.of_send(message, bug, None, None, blind=blind))
            else:
                outcomes.append(
                    self.verdicts.of_send(
                        message, result.error, result.provider_id, result.provider_status, blind=blind
                    )
                )
        return outcomes

    def _count(self, channel: Channel, outcomes: Sequence[Outcome], *, weight: int = 1) -> None:
        """Count ``outcomes``, each standing for ``weight`` messages (a prepared request's rows)."""
        with self._lock:
            s = self.stats
            s.batches += 1
            s.sent += len(outcomes) * weight
            for o in outcomes:
                s.accepted += (o.state is DeliveryState.ACCEPTED) * weight
                s.retried += (o.state is DeliveryState.PENDING) * weight
                s.failed += (o.state is DeliveryState.FAILED) * weight
                s.uncertain_sends += o.uncertain_send * weight
            s.per_channel[channel] = s.per_channel.get(channel, 0) + weight * sum(
                o.state is DeliveryState.ACCEPTED for o in outcomes
            )
            stats = s
        if self.progress is not None:
            self.progress(stats)
