"""A worker SIGKILLed again and again, against a slow provider that fails 10 % of requests, loses
nothing, never texts or posts twice, and counts every email it may have sent twice.

The worker is the real thing (``clarion outbox work``) sending through the real adapters to the
provider sandbox over loopback HTTP, with latency, 503s, 500s after accepting, dropped connections
and hanging requests (timeouts). Kills fall at random instants, and because a row a kill leaves in
doubt comes due again after the in-flight window, the same rows are killed again and again: the test
records which rows each kill caught and checks that some were caught several times. One last run
then finishes the job, and what the sandbox received is compared, address by address, with the
ledger:

* nothing is missing: every email delivery, every phone and every social post arrived;
* no SMS, Mastodon or Bluesky message arrived twice (Twilio's list, Mastodon's ``Idempotency-Key``
  and Bluesky's record key let the worker ask before a resend);
* email (SendGrid can be asked nothing) arrived twice only as often as the ledger counted a blind
  resend; fed the events SendGrid would send (one ``processed`` per copy, naming its request), the
  ledger then states exactly how many second copies there are.

The CI run is slim; the full run of issue 12's acceptance is::

    CLARION_CRASH_KILLS=60 CLARION_CRASH_RECIPIENTS=5000 \
        .venv/bin/pytest tests/clarion/outbox/test_crash.py -s
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import col

from channels.email_events import apply_sendgrid_events
from channels.sandbox import SandboxConfig, running_sandbox
from clarion.kinds import Channel, DeliveryState
from clarion.models import Delivery, ProviderRequest, Rendition, RequestState
from clarion.outbox.counts import email_copies, state_counts
from clarion.store import session_scope
from clarion.updates.publish import Staged
from tests.helpers import ROOT

RECIPIENTS = int(os.environ.get("CLARION_CRASH_RECIPIENTS", "1200"))
KILLS = int(os.environ.get("CLARION_CRASH_KILLS", "15"))
LATENCY_MS = float(os.environ.get("CLARION_CRASH_LATENCY_MS", "150"))
PROVIDER_TIMEOUT = 2.0  # the worker's read timeout: hanging requests end in doubt
FAULTS = SandboxConfig(
    latency_ms=LATENCY_MS,
    latency_jitter_ms=LATENCY_MS / 2,
    fault_rate=0.1,
    fault_kinds=("503", "500_after_accept", "drop", "timeout"),
    hang_seconds=PROVIDER_TIMEOUT + 1,
    keep_text=True,
)


def _worker(env: dict[str, str], *, stderr: int = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    command = [
        str(Path(sys.executable).parent / "clarion"),
        "outbox",
        "work",
        "--name",
        "crashy",
        "--no-progress",
    ]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr)


def _claims(engine: sa.Engine) -> set[tuple[str, object]]:
    """The claims a kill left behind: (row or email request, claim time), so a claim no worker took
    back since is not counted twice."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(Delivery.id, Delivery.claimed_at).where(Delivery.state == DeliveryState.CLAIMED)
        )
        requests = connection.execute(
            sa.select(ProviderRequest.id, ProviderRequest.claimed_at).where(
                ProviderRequest.state == RequestState.CLAIMED
            )
        )
        return {(f"d{row.id}", row.claimed_at) for row in rows} | {
            (f"r{row.id}", row.claimed_at) for row in requests
        }


def _claimed_since(
    engine: sa.Engine, since: datetime, worker: subprocess.Popen[bytes], *, within: float = 120.0
) -> bool:
    """Wait until ``worker`` claims a row or a request (after ``since``); False when it ended first.
    Rows a kill left in doubt come due only after the in-flight window: a worker may wait that long
    with nothing to claim, and is then killed idle (``within``)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            return False
        with engine.connect() as connection:
            claimed = (
                connection.execute(
                    sa.select(Delivery.id).where(col(Delivery.claimed_at) >= since).limit(1)
                ).first()
                or connection.execute(
                    sa.select(ProviderRequest.id).where(col(ProviderRequest.claimed_at) >= since).limit(1)
                ).first()
            )
        if claimed is not None:
            return True
        time.sleep(0.05)
    return True


def test_a_worker_killed_again_and_again_loses_nothing_and_duplicates_only_what_it_counts(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged], tmp_path: Path
) -> None:
    staged = stage(sqlite_engine, RECIPIENTS, request_size=10)  # many small email requests
    seed = int(os.environ.get("CLARION_CRASH_SEED", "20261206"))
    rng = random.Random(seed)  # noqa: S311 — kill times, not secrets
    claims: set[tuple[str, object]] = set()
    started = time.monotonic()
    with running_sandbox(FAULTS.model_copy(update={"seed": seed})) as box:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "CLARION_DATABASE_URL": sqlite_engine.url.render_as_string(hide_password=False),
            "CLARION_HOME": str(tmp_path / "home"),
            "CLARION_SANDBOX_URL": box.url,
            "CLARION_PROVIDER_TIMEOUT": str(PROVIDER_TIMEOUT),
            "CLARION_OUTBOX_MAX_WAIT": "600",
            "CLARION_OUTBOX_CLAIM_SIZE": "10",  # many small email requests: kills and faults meet them
        }
        kills = 0
        while kills < KILLS:
            spawned = datetime.now(UTC)
            worker = _worker(env)
            # The kill falls at a random instant of the worker's work, not of its start-up, which
            # takes seconds more on a loaded machine: it waits for the worker's first claim.
            if not _claimed_since(sqlite_engine, spawned, worker):
                break  # finished before this kill: the fan-out is done
            time.sleep(rng.uniform(0.0, 4.0))
            if worker.poll() is not None:
                break
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            kills += 1
            claims |= _claims(sqlite_engine)
        last = _worker(env, stderr=subprocess.PIPE)
        _, stderr = last.communicate(timeout=900)
        assert last.returncode == 0, stderr.decode()
        stats = box.stats()
        inbox = box.inbox()

    assert kills == KILLS, f"the fan-out finished after {kills} kills; make it longer (seed {seed})"
    caught = Counter(row for row, _ in claims)
    repeated = sum(1 for n in caught.values() if n > 1)
    assert repeated > 0, "no row was caught by two kills: the test does not test what it says"

    counts = state_counts(sqlite_engine, update_id=staged.update_id)
    assert {state for (_, state) in counts} == {DeliveryState.ACCEPTED}, counts

    # Nothing missing, address by address.
    with sqlite_engine.connect() as connection:
        expected = Counter(Channel(c) for (c,) in connection.execute(sa.select(Delivery.channel)).all())
        # a thread (Mastodon, Bluesky) is one delivery of several posts, each under its own key
        threads = sa.select(Delivery.channel, Rendition.thread).join(
            Rendition, col(Rendition.id) == col(Delivery.rendition_id)
        )
        posts = Counter[Channel]()
        for channel, thread in connection.execute(threads).all():
            posts[Channel(channel)] += 1 + len(thread or ())
        blind = connection.execute(
            sa.select(sa.func.coalesce(sa.func.sum(Delivery.uncertain_sends), 0)).where(
                Delivery.channel == Channel.EMAIL
            )
        ).scalar_one()
    received = {c: Counter(r.address or r.idempotency_key for r in inbox if r.channel is c) for c in Channel}
    emailed = {r.delivery_id for r in inbox if r.channel is Channel.EMAIL}
    assert len(emailed) == expected[Channel.EMAIL] == RECIPIENTS
    assert len(received[Channel.SMS]) == expected[Channel.SMS] == RECIPIENTS
    for channel in (Channel.SMS, Channel.MASTODON, Channel.BLUESKY):
        twice = {key: n for key, n in received[channel].items() if n > 1}
        assert twice == {}, f"{channel}: sent twice to {sorted(twice)[:5]}"
        assert len(received[channel]) == posts[channel]
    assert (
        stats["duplicates"]["sms"] == stats["duplicates"]["mastodon"] == stats["duplicates"]["bluesky"] == 0
    )

    # Email: every copy beyond the first was counted; SendGrid's events then tell exactly how many.
    copies_received = Counter(r.delivery_id for r in inbox if r.channel is Channel.EMAIL)
    extra = sum(n - 1 for n in copies_received.values())
    assert extra == stats["duplicates"]["email"] <= blind
    assert blind > 0, "no email was resent blind: the test does not test the count"
    events = [
        {
            "event": "processed",
            "sg_message_id": f"{r.provider_id}.filter0001.{index}",
            "sg_event_id": f"crash-{index}",
            "timestamp": 1_780_000_000,
            "delivery_id": r.delivery_id,
        }
        for index, r in enumerate(inbox)
        if r.channel is Channel.EMAIL
    ]
    with session_scope(sqlite_engine) as session:
        apply_sendgrid_events(session=session, events=events)
    copies = email_copies(sqlite_engine)
    assert copies.confirmed == extra and copies.blind_resends == blind
    print(
        f"\nseed {seed}: {kills} SIGKILLs over {time.monotonic() - started:.0f} s, {RECIPIENTS} recipients, "
        f"latency {LATENCY_MS:g}±{LATENCY_MS / 2:g} ms, faults {stats['faults']}; rows caught by a kill: "
        f"{len(caught)}, by two or more: {repeated} (at most {max(caught.values(), default=0)}); "
        f"requests {stats['requests']['total']}; sms/mastodon/bluesky duplicates 0; email: {extra} "
        f"second copies received, {blind} blind resends counted, ledger after events: "
        f"{copies.confirmed} confirmed, at most {copies.at_most} more"
    )
