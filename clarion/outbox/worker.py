"""The outbox worker: claim a batch, ask about doubtful ones, send, record; repeat until done.

Each of ``threads`` loops independently over the channels it serves: claim a batch of due rows that
share a rendition (one provider request for email), reconcile the rows whose last attempt ended in
doubt, send the rest through the channel's :class:`~clarion.outbox.port.Sender`, and record every
outcome in one transaction. Transient errors come back after exponential backoff with full jitter
(or the provider's ``Retry-After``, which also pauses the whole channel); permanent errors are
recorded and never retried; after ``max_attempts`` a row fails for good with its last error.

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
from typing import Protocol, TypeGuard

import sqlalchemy as sa

from clarion.channel_table import spec_of
from clarion.errors import ChannelError, InDoubt, PermanentChannelError, RateLimited, RecipientOptedOut
from clarion.kinds import Channel, DeliveryState
from clarion.models import utcnow
from clarion.outbox import counts, ledger
from clarion.outbox.ledger import Claimed, Outcome, PreparedRequest, UnsubscribeLink, Work
from clarion.outbox.notices import RenderNotice
from clarion.outbox.port import (
    OutboundMessage,
    PreparedSender,
    Presence,
    Reconciled,
    RequestSent,
    Sender,
    SendResult,
)
from clarion.outbox.rate import RateGate
from clarion.outbox.shared_rate import SharedRateGate

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


class Subject(Protocol):
    """What the worker's decisions read of what was sent: a message, or a prepared request."""

    @property
    def delivery_id(self) -> int: ...
    @property
    def channel(self) -> Channel: ...
    @property
    def attempts(self) -> int: ...
    @property
    def mandatory_reason(self) -> str | None: ...
    @property
    def recipient_id(self) -> int | None: ...


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
        self.rng = rng or random.Random()  # noqa: S311 — jitter, not secrets
        self.stats = WorkerStats()
        self._lock = threading.Lock()
        # SQLite has one writer: threads that queue on its busy handler sleep in coarse steps. A
        # lock of our own hands the database from thread to thread at once (PostgreSQL needs none).
        self._db: AbstractContextManager[object] = (
            threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()
        )
        self.gates = {c: self._gate(c, s) for c, s in self.senders.items()}
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
                if self._gate_wait(channel) > 0:
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
            gate_pauses = [w for c in channels if (w := self._gate_wait(c)) > 0]
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

    def _gate(self, channel: Channel, sender: Sender) -> RateGate:
        if not self.config.shared_rates:
            return RateGate(sender.requests_per_second)
        provider = spec_of(channel).provider or channel.value
        return SharedRateGate(self.engine, provider, sender.requests_per_second, writing=self._db)

    def _gate_wait(self, channel: Channel) -> float:
        """Seconds the channel stays closed by a provider's rate limit (0.0 when open)."""
        gate = self.gates[channel]
        with gate.lock:
            return max(0.0, gate.closed_until - gate.clock())

    # ── one batch ─────────────────────────────────────────────────────────────────────────────────

    def step(self, channel: Channel) -> bool:
        """Claim, send and record batches of ``channel`` (each outcome recorded in the transaction that
        claims the next batch, up to ``RUN_OF_BATCHES``); False when nothing was due."""
        sender = self.senders[channel]
        size = self._claim_size(sender)
        prepared = sends_prepared(sender)
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
            last = run == RUN_OF_BATCHES - 1 or self._stop.is_set() or self._gate_wait(channel) > 0
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
        self._take(self.gates[work.channel], 1.0)
        try:
            sent = sender.send_prepared(work.body)
        except ChannelError as exc:
            sent = RequestSent(error=exc)
        return self._judge(work, sent.error, sent.provider_id, None, blind=blind)

    def _claim_size(self, sender: Sender) -> int:
        """Rows per claim: the configured size, at most the sender's batch; for a sender paced request
        by request, at most the gate's burst, so the thread is back at its other channels (email
        waiting behind SMS) after about what the gate lets go at once, not after 50 paced requests."""
        size = min(self.config.claim_size or sender.max_batch, sender.max_batch)
        if self._paced_per_message(sender):
            size = min(size, max(1, int(self.gates[sender.channel].capacity)))
        return size

    def _process(self, sender: Sender, claimed: Sequence[Claimed]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        doubtful = [c.message for c in claimed if c.in_doubt]
        to_send = [c.message for c in claimed if not c.in_doubt]
        uncertain: set[int] = set()
        if doubtful:
            try:
                answers = {a.delivery_id: a for a in self._reconcile(sender, doubtful)}
            except ChannelError as exc:  # a failed lookup is no attempt: the message was not sent again
                return [self._retry(m, exc, in_doubt=True, made=0) for m in doubtful] + self._send(
                    sender, to_send, set()
                )
            for message in doubtful:
                answer = answers.get(message.delivery_id)
                if answer is not None and answer.error is not None:  # this lookup failed: ask again later
                    if isinstance(answer.error, PermanentChannelError):
                        outcomes.append(self._fail(message, answer.error))
                    else:
                        outcomes.append(self._retry(message, answer.error, in_doubt=True, made=0))
                    continue
                if answer is not None and answer.presence is Presence.PRESENT:
                    outcomes.append(
                        Outcome(
                            message.delivery_id,
                            DeliveryState.ACCEPTED,
                            provider_id=answer.provider_id,
                            attempts=1,  # the earlier attempt arrived
                        )
                    )
                    with self._lock:
                        self.stats.reconciled_present += 1
                    continue
                if answer is None or answer.presence is Presence.UNKNOWN:
                    uncertain.add(message.delivery_id)
                elif message.attempts >= self.config.max_attempts and not message.mandatory_reason:
                    out = PermanentChannelError(  # looked up at the end of its budget: it never arrived
                        f"gave up after {message.attempts} attempts; the provider has no copy",
                        channel=message.channel,
                    )
                    outcomes.append(self._fail(message, out, made=0))
                    continue
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

    def _reconcile(self, sender: Sender, messages: list[OutboundMessage]) -> list[Reconciled]:
        """Look ``messages`` up: a sender that asks once per message takes the gate's token of each
        lookup right before it, as its sends do (a lookup is a request too). After a 429 the rest are
        not asked: they carry it, and stay in doubt for a later lookup."""
        if not self._paced_per_message(sender):
            return sender.reconcile(messages)  # no request per message: SendGrid's cannot tell
        gate = self.gates[messages[0].channel]
        answers: list[Reconciled] = []
        for message in messages:
            if answers and isinstance(limited := answers[-1].error, RateLimited):
                answers.append(Reconciled(message.delivery_id, Presence.UNKNOWN, error=limited))
                continue
            self._take(gate, 1.0)
            answers += (found := sender.reconcile([message]))
            for answer in found:
                if isinstance(answer.error, RateLimited):
                    gate.close_for(_retry_after(answer.error))
        return answers

    def _send(self, sender: Sender, messages: list[OutboundMessage], uncertain: set[int]) -> list[Outcome]:
        """Send ``messages``: one request for the batch, or (a sender that makes one request per
        message, on a channel with a rate) one request at a time, each taking its token from the gate
        right before it is made, so the provider counts the requests as the gate let them go
        (:mod:`clarion.outbox.shared_rate`). After a 429 the rest are not sent: they carry it."""
        if not messages:
            return []
        if not self._paced_per_message(sender):
            return self._outcomes(messages, self._send_block(sender, messages), uncertain)
        results: list[SendResult] = []
        for message in messages:
            if results and isinstance(limited := results[-1].error, RateLimited):
                results.append(SendResult(message.delivery_id, error=limited))
                continue
            results += self._send_block(sender, [message])
        return self._outcomes(messages, results, uncertain)

    def _paced_per_message(self, sender: Sender) -> bool:
        """True when the sender makes one request per message and its channel has a rate to keep."""
        return self.gates[sender.channel].per_second is not None and not sender.one_request_per_batch

    def _send_block(self, sender: Sender, messages: list[OutboundMessage]) -> list[SendResult]:
        """Send ``messages`` once the gate lets their requests go (a 429 closes it: :meth:`_judge`)."""
        self._take(
            self.gates[messages[0].channel], 1.0 if sender.one_request_per_batch else float(len(messages))
        )
        try:
            return sender.send(messages)
        except ChannelError as exc:
            return [SendResult(m.delivery_id, error=exc) for m in messages]

    @staticmethod
    def _take(gate: RateGate, cost: float) -> None:
        """Wait until the gate is open and has ``cost`` tokens, and take them."""
        while (wait := gate.wait_time(cost)) > 0:
            time.sleep(min(wait, 1.0))

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
                outcomes.append(self._judge(message, bug, None, None, blind=blind))
            else:
                outcomes.append(
                    self._judge(
                        message, result.error, result.provider_id, result.provider_status, blind=blind
                    )
                )
        return outcomes

    def _judge(
        self,
        subject: Subject,
        error: ChannelError | None,
        provider_id: str | None,
        provider_status: str | None,
        *,
        blind: bool,
    ) -> Outcome:
        """What an attempt's answer makes of what was sent: accepted, failed, or tried again later."""
        made = 2 if blind else 1
        if error is None:
            return Outcome(
                subject.delivery_id,
                DeliveryState.ACCEPTED,
                provider_id=provider_id,
                provider_status=provider_status,
                uncertain_send=blind,
                attempts=made,
            )
        if isinstance(error, PermanentChannelError):
            return self._fail(subject, error, blind=blind, made=made)
        if isinstance(error, RateLimited):
            self.gates[subject.channel].close_for(_retry_after(error))
        doubt = isinstance(error, InDoubt) or blind
        return self._retry(subject, error, in_doubt=doubt, blind=blind, made=made)

    def _fail(self, message: Subject, error: ChannelError, *, blind: bool = False, made: int = 1) -> Outcome:
        withdraw = None
        if isinstance(error, RecipientOptedOut) and message.recipient_id is not None:
            withdraw = (message.recipient_id, message.channel)
        return Outcome(
            message.delivery_id,
            DeliveryState.FAILED,
            error_code=error.code or _status(error),
            error_detail=str(error),
            uncertain_send=blind,
            withdraw=withdraw,
            attempts=made,
        )

    def _retry(
        self,
        message: Subject,
        error: ChannelError,
        *,
        in_doubt: bool,
        blind: bool = False,
        made: int = 1,
    ) -> Outcome:
        """Try again later, or give up after ``max_attempts`` attempts that may have reached the
        provider. A message that must reach someone (a mandatory audience's) is never given up on
        transient errors: it keeps trying at the longest backoff, and says so in its error.

        A 429 is no attempt (the provider refused to process the request). A message whose last
        attempt may have arrived is not given up on while its provider can be asked: it is looked up
        first, and given up only if the provider has no copy (:meth:`_process`)."""
        if isinstance(error, RateLimited) and made > 0:
            made -= 1
        attempts = message.attempts + made
        detail = str(error)
        can_tell = self.senders[message.channel].no_duplicates
        if attempts >= self.config.max_attempts and in_doubt and can_tell and not message.mandatory_reason:
            detail = f"out of attempts ({attempts}), and the last may have arrived: looked up first; {error}"
        elif attempts >= self.config.max_attempts:
            if not message.mandatory_reason:
                given_up = PermanentChannelError(
                    f"gave up after {attempts} attempts; last: {error}",
                    channel=error.channel,
                    status_code=error.status_code,
                    code=error.code,
                )
                return self._fail(message, given_up, blind=blind, made=made)
            must = message.mandatory_reason
            detail = f"must reach ({must}): still trying after {attempts} attempts; last: {error}"
        delay = self.backoff(attempts, error)
        if isinstance(error, InDoubt) and error.in_flight:
            delay = max(delay, self.config.in_flight.total_seconds())  # not asked before it could be done
        return Outcome(
            message.delivery_id,
            DeliveryState.PENDING,
            error_code=error.code or _status(error),
            error_detail=detail,
            next_attempt_at=utcnow() + timedelta(seconds=delay),
            in_doubt=in_doubt,
            uncertain_send=blind,
            attempts=made,
        )

    def backoff(self, attempts: int, error: ChannelError) -> float:
        """Seconds before the next attempt: the provider's word, else capped exponential with full jitter."""
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return error.retry_after + self.rng.uniform(0, self.config.backoff_base)
        ceiling = min(self.config.backoff_cap, self.config.backoff_base * 2 ** min(max(attempts - 1, 0), 60))
        return self.rng.uniform(ceiling / 2, ceiling)

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


def _retry_after(error: RateLimited) -> float:
    """How long a 429 closes the provider: its ``Retry-After``, else a second (Twilio sends none)."""
    return error.retry_after if error.retry_after is not None else 1.0


def _status(error: ChannelError) -> str | None:
    return f"http-{error.status_code}" if error.status_code is not None else type(error).__name__
