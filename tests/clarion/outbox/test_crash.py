"""A worker process SIGKILLed again and again during a 20 000-recipient fan-out loses nothing.

The worker is the real thing (``clarion outbox work``) sending through the real adapters to the
provider sandbox over loopback HTTP. After the kills, one last run finishes the job; then every
recipient must have exactly one confirmed delivery per channel, and every copy the sandbox received
twice must be explained: only email can be duplicated (SendGrid has no idempotency key and no
lookup), and only as often as the ledger counted a blind resend after a crash or a timeout.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from channels.sandbox import SandboxConfig, running_sandbox
from clarion.kinds import Channel, DeliveryState
from clarion.models import Delivery
from clarion.outbox import ledger
from clarion.publish import Staged
from tests.helpers import ROOT

RECIPIENTS = 20_000
KILLS = 10


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


def test_sigkilled_worker_resumes_without_losing_or_silently_duplicating(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged], tmp_path: Path
) -> None:
    staged = stage(sqlite_engine, RECIPIENTS)
    seed = int(os.environ.get("CLARION_CRASH_SEED", "20261123"))
    rng = random.Random(seed)  # noqa: S311 — kill times, not secrets
    with running_sandbox(SandboxConfig(latency_ms=2, latency_jitter_ms=3, keep_text=False)) as box:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "CLARION_DATABASE_URL": sqlite_engine.url.render_as_string(hide_password=False),
            "CLARION_HOME": str(tmp_path / "home"),
            "CLARION_SANDBOX_URL": box.url,
        }
        kills = 0
        while kills < KILLS:
            worker = _worker(env)
            time.sleep(rng.uniform(0.8, 3.0))
            if worker.poll() is not None:
                break  # finished before this kill: the fan-out is done
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            kills += 1
        last = _worker(env, stderr=subprocess.PIPE)
        _, stderr = last.communicate(timeout=600)
        assert last.returncode == 0, stderr.decode()
        stats = box.stats()
        inbox = box.inbox()

    assert kills == KILLS, f"the fan-out finished after {kills} kills; make it longer (seed {seed})"
    counts = ledger.state_counts(sqlite_engine, update_id=staged.update_id)
    assert {state for (_, state) in counts} == {DeliveryState.ACCEPTED}, counts
    assert counts[(Channel.EMAIL, DeliveryState.ACCEPTED)] == RECIPIENTS
    assert counts[(Channel.SMS, DeliveryState.ACCEPTED)] == RECIPIENTS

    # Every confirmed delivery reached the provider; none is missing.
    emailed = {r.delivery_id for r in inbox if r.channel is Channel.EMAIL}
    texted = [r.address for r in inbox if r.channel is Channel.SMS]
    assert len(emailed) == RECIPIENTS
    assert len(set(texted)) == RECIPIENTS

    # Duplicates: none where the provider can be asked; on email, never more than the ledger admits.
    assert stats["duplicates"]["sms"] == 0 and len(texted) == RECIPIENTS
    assert stats["duplicates"]["mastodon"] == 0 and stats["duplicates"]["bluesky"] == 0
    with sqlite_engine.connect() as connection:
        blind = connection.execute(
            sa.select(sa.func.coalesce(sa.func.sum(Delivery.uncertain_sends), 0)).where(
                Delivery.channel == Channel.EMAIL
            )
        ).scalar_one()
    assert stats["duplicates"]["email"] <= blind
    print(
        f"seed {seed}: {kills} kills; email duplicates {stats['duplicates']['email']} "
        f"of {blind} blind resends; sms/social duplicates 0"
    )
