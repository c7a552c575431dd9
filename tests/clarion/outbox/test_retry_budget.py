"""Crashes, timeouts and retries: what an attempt is, where an in-doubt lookup searches, when to stop.

Issue 12 found that repeated crashes sent SMS twice without the ledger knowing (the lookup searched
only from the latest claim), burnt rows' retry budgets without a request (every claim counted as an
attempt), and let must-reach messages end as failed. These tests pin each mechanism.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from email.utils import format_datetime
from typing import Any, ClassVar

import httpx
import sqlalchemy as sa
from pydantic import SecretStr

from channels.sms import SmsAdapter
from clarion.errors import InDoubt, RateLimited, TransientChannelError
from clarion.kinds import Channel, DeliveryState
from clarion.models import Delivery, utcnow
from clarion.outbox import counts, ledger
from clarion.outbox.port import OutboundMessage, Presence, Reconciled, SendResult
from clarion.outbox.worker import Worker, WorkerConfig
from clarion.updates.publish import Staged
from tests.clarion.outbox.conftest import FakeSender

FAST: dict[str, Any] = {
    "backoff_base": 0.001,
    "backoff_cap": 0.01,
    "idle_poll": 0.01,
    "in_flight": timedelta(0),
}
SID = "AC" + "0" * 32


def _rows(engine: sa.Engine, channel: Channel) -> list[sa.Row[Any]]:
    with engine.connect() as c:
        return list(
            c.execute(
                sa.select(
                    Delivery.id,
                    Delivery.state,
                    Delivery.attempts,
                    Delivery.error_detail,
                    Delivery.next_attempt_at,
                ).where(Delivery.channel == channel)
            )
        )


def _crash(engine: sa.Engine, channel: Channel, times: int, *, start: Any = None) -> list[ledger.Claimed]:
    """Claim every due row as worker "crashy" and die, ``times`` times; the first claim's messages."""
    now = start or utcnow()
    first: list[ledger.Claimed] = []
    for _ in range(times):
        claimed: list[ledger.Claimed] = []
        while batch := ledger.claim(engine, worker="crashy", channel=channel, limit=50, now=now):
            claimed.extend(batch)  # every rendition's rows
        first = first or claimed
        ledger.release_stale(engine, lease=timedelta(minutes=2), now=now, restarted="crashy")
    return first


def test_in_doubt_lookups_are_anchored_on_the_first_attempt(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    """An earlier attempt's copy arrived; later claims after crashes must not move the lookup past it."""
    stage(sqlite_engine, 1)
    start = utcnow()
    [first] = _crash(sqlite_engine, Channel.SMS, 1, start=start)
    later = ledger.claim(
        sqlite_engine, worker="again", channel=Channel.SMS, limit=1, now=start + timedelta(minutes=5)
    )
    [message] = [c.message for c in later]
    assert message.first_attempt_at == first.message.first_attempt_at == start

    def twilio(request: httpx.Request) -> httpx.Response:  # the copy the first attempt delivered
        item = {
            "sid": "SM" + "ab" * 16,
            "to": message.address,
            "from": "+15005550006",
            "messaging_service_sid": None,
            "body": message.content.text,
            "date_created": format_datetime(start + timedelta(seconds=2)),
        }
        return httpx.Response(200, json={"messages": [item], "next_page_uri": None})

    with httpx.Client(transport=httpx.MockTransport(twilio)) as client:
        sms = SmsAdapter(
            client=client, account_sid=SID, auth_token=SecretStr("t"), from_number="+15005550006"
        )
        [answer] = sms.reconcile([message])
    assert answer.presence is Presence.PRESENT


def test_claims_a_crash_took_back_do_not_burn_the_retry_budget(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    """Twenty crashes before any request, then two real 503s: still within a budget of three."""
    stage(sqlite_engine, 3)
    _crash(sqlite_engine, Channel.SMS, 20)
    failures: dict[int, int] = {}

    def twice_down(m: OutboundMessage) -> SendResult | Exception:
        failures[m.delivery_id] = failures.get(m.delivery_id, 0) + 1
        if failures[m.delivery_id] <= 2:
            return TransientChannelError("HTTP 503", channel="sms", status_code=503)
        return SendResult(m.delivery_id, provider_id="SMok")

    sender = FakeSender(Channel.SMS, behave=twice_down, no_duplicates=True)
    Worker(
        sqlite_engine, {Channel.SMS: sender}, WorkerConfig(name="w", threads=1, max_attempts=3, **FAST)
    ).run()

    rows = _rows(sqlite_engine, Channel.SMS)
    assert {(r.state, r.attempts) for r in rows} == {(DeliveryState.ACCEPTED, 3)}
    assert sorted(sender.reconciled) == sorted(r.id for r in rows)  # asked once, after the crashes


def test_an_attempt_the_provider_cannot_rule_out_counts(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    """Email cannot be looked up: a claim a crash took back may have arrived, so it counts."""
    stage(sqlite_engine, 2)
    _crash(sqlite_engine, Channel.EMAIL, 1)
    sender = FakeSender(Channel.EMAIL)
    Worker(sqlite_engine, {Channel.EMAIL: sender}, WorkerConfig(name="w", threads=1, **FAST)).run()
    assert {(r.state, r.attempts) for r in _rows(sqlite_engine, Channel.EMAIL)} == {
        (DeliveryState.ACCEPTED, 2)
    }


def test_must_reach_messages_never_end_silently_as_failed(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    """The data-breach audience is mandatory: past the budget its messages keep trying and say so,
    and a worker told not to wait long stops, telling what waits, instead of failing them."""
    stage(sqlite_engine, 2)
    with sqlite_engine.begin() as c:  # the budget is spent already
        c.execute(sa.update(Delivery).values(attempts=5))
    sender = FakeSender(Channel.EMAIL, behave=lambda m: TransientChannelError("down", channel="email"))
    reports: list[list[counts.Waiting]] = []
    config = WorkerConfig(
        name="w",
        threads=1,
        max_attempts=2,
        backoff_base=60.0,
        backoff_cap=60.0,
        idle_poll=0.01,
        in_flight=timedelta(0),
        max_wait=5.0,
        report_every=0.0,
    )

    Worker(sqlite_engine, {Channel.EMAIL: sender}, config, on_wait=reports.append).run()

    rows = _rows(sqlite_engine, Channel.EMAIL)
    assert {r.state for r in rows} == {DeliveryState.PENDING}
    assert all("still trying after 6 attempts" in (r.error_detail or "") for r in rows)
    [waiting] = reports[-1]
    assert (waiting.channel, waiting.count, waiting.most_attempts) == (Channel.EMAIL, len(rows), 6)
    assert "down" in (waiting.last_error or "")


def test_a_released_claim_waits_out_the_requests_that_may_still_be_in_flight(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    """Asked too soon, the provider could answer "absent" for a message a dead worker's request is
    still creating. Rows claimed longer ago than the window are due at once."""
    stage(sqlite_engine, 2)
    start = utcnow()
    now = start + timedelta(seconds=40)
    ledger.claim(sqlite_engine, worker="crashy", channel=Channel.SMS, limit=1, now=start)
    ledger.claim(sqlite_engine, worker="crashy", channel=Channel.SMS, limit=1, now=now)
    released = ledger.release_stale(
        sqlite_engine,
        lease=timedelta(minutes=2),
        now=now,
        restarted="crashy",
        in_flight=timedelta(seconds=35),
    )
    due = sorted(
        r.next_attempt_at for r in _rows(sqlite_engine, Channel.SMS) if r.state is DeliveryState.PENDING
    )
    assert released == 2
    assert due == [now, now + timedelta(seconds=35)]


def test_a_timeout_is_not_looked_up_before_the_request_could_have_finished(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    stage(sqlite_engine, 1)
    sender = FakeSender(
        Channel.SMS,
        behave=lambda m: InDoubt("read timeout", channel="sms", in_flight=True),
        no_duplicates=True,
    )
    config = WorkerConfig(name="w", threads=1, **{**FAST, "in_flight": timedelta(seconds=30)}, max_wait=1.0)
    before = utcnow()
    Worker(sqlite_engine, {Channel.SMS: sender}, config).run()
    [row] = _rows(sqlite_engine, Channel.SMS)
    assert row.state is DeliveryState.PENDING
    assert row.next_attempt_at >= before + timedelta(seconds=30)


def test_a_429_is_no_attempt(sqlite_engine: sa.Engine, stage: Callable[..., Staged]) -> None:
    """Chaos run found SMS failed for good after a storm of 429s: the provider processed none of them."""
    stage(sqlite_engine, 2)
    refused: dict[int, int] = {}

    def busy_then_ok(m: OutboundMessage) -> SendResult | Exception:
        refused[m.delivery_id] = refused.get(m.delivery_id, 0) + 1
        if refused[m.delivery_id] <= 5:
            return RateLimited("HTTP 429", channel="sms", retry_after=0.0)
        return SendResult(m.delivery_id, provider_id="SMok")

    sender = FakeSender(Channel.SMS, behave=busy_then_ok, no_duplicates=True)
    config = WorkerConfig(name="w", threads=1, max_attempts=2, **FAST)
    Worker(sqlite_engine, {Channel.SMS: sender}, config).run()
    assert {(r.state, r.attempts) for r in _rows(sqlite_engine, Channel.SMS)} == {(DeliveryState.ACCEPTED, 1)}


def test_a_failed_lookup_is_no_attempt(sqlite_engine: sa.Engine, stage: Callable[..., Staged]) -> None:
    """The lookups of rows in doubt failed through an outage; the rows are sent after it, not failed."""
    stage(sqlite_engine, 2)
    _crash(sqlite_engine, Channel.SMS, 1)
    lookups = {"n": 0}

    class Outage(FakeSender):
        def reconcile(self, messages: Sequence[OutboundMessage]) -> list[Reconciled]:
            lookups["n"] += 1
            if lookups["n"] <= 4:
                raise TransientChannelError("connection refused", channel="sms")
            return super().reconcile(messages)

    sender = Outage(Channel.SMS, no_duplicates=True)
    config = WorkerConfig(name="w", threads=1, max_attempts=2, **FAST)
    Worker(sqlite_engine, {Channel.SMS: sender}, config).run()
    assert lookups["n"] > 4
    assert {(r.state, r.attempts) for r in _rows(sqlite_engine, Channel.SMS)} == {(DeliveryState.ACCEPTED, 1)}


def test_a_message_whose_last_attempt_may_have_arrived_is_looked_up_before_it_is_given_up(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    """Out of attempts after a timeout: a copy that arrived is found (accepted), one that did not is
    given up as never sent; neither is failed blind, nor sent again."""
    stage(sqlite_engine, 4)
    with sqlite_engine.begin() as c:  # an audience that may be given up on (data-breach's is mandatory)
        c.execute(sa.update(Delivery).values(mandatory_reason=None))
    arrived: set[int] = set()
    seen: list[int] = []

    def timeout(m: OutboundMessage) -> SendResult | Exception:
        seen.append(m.delivery_id)
        if len(seen) % 2:
            arrived.add(m.delivery_id)  # the provider took it; the answer was lost
        return InDoubt("read timeout", channel="sms")

    sender = FakeSender(Channel.SMS, behave=timeout, present=arrived, no_duplicates=True)
    config = WorkerConfig(name="w", threads=1, max_attempts=1, **FAST)
    Worker(sqlite_engine, {Channel.SMS: sender}, config).run()
    rows = _rows(sqlite_engine, Channel.SMS)
    assert {r.state for r in rows if r.id in arrived} == {DeliveryState.ACCEPTED}
    missing = [r for r in rows if r.id not in arrived]
    assert missing and {r.state for r in missing} == {DeliveryState.FAILED}
    assert all("the provider has no copy" in (r.error_detail or "") for r in missing)
    assert sorted(seen) == sorted(r.id for r in rows)  # each sent once, never again


def test_lookups_are_paced_by_the_rate_gate_as_sends_are(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged]
) -> None:
    """Chaos run: a kill put 200 SMS in doubt and their unpaced lookups broke Twilio's limit."""
    stage(sqlite_engine, 5)
    _crash(sqlite_engine, Channel.SMS, 1)
    asked: list[int] = []

    class Counting(FakeSender):
        one_request_per_batch: ClassVar[bool] = False  # Twilio: a request per message, lookups too

        def reconcile(self, messages: Sequence[OutboundMessage]) -> list[Reconciled]:
            asked.append(len(messages))
            return super().reconcile(messages)

    sender = Counting(Channel.SMS, no_duplicates=True)
    sender.requests_per_second = 20.0
    Worker(sqlite_engine, {Channel.SMS: sender}, WorkerConfig(name="w", threads=1, **FAST)).run()
    assert asked == [1] * 5  # one at a time, each with its own token (test_shared_rate.py)
