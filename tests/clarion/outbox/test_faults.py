"""With the sandbox failing 20 % of requests, everything still arrives and nothing permanent is retried."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa

from channels.registry import build_senders
from channels.sandbox import SandboxConfig, running_sandbox
from clarion.kinds import Channel, DeliveryState
from clarion.models import Delivery
from clarion.outbox.counts import state_counts
from clarion.outbox.worker import Worker, WorkerConfig
from clarion.settings import Settings
from clarion.updates.publish import Staged

FAST = {"backoff_base": 0.01, "backoff_cap": 0.05, "idle_poll": 0.01, "in_flight": timedelta(0)}
STOPPED = "+4915112000004"  # recipient c4 of the staged audience


def test_transient_faults_are_retried_until_delivered_and_a_stop_is_never_retried(
    sqlite_engine: sa.Engine, stage: Callable[..., Staged], tmp_path: Path
) -> None:
    staged = stage(sqlite_engine, 200)
    faults = SandboxConfig(fault_rate=0.2, fault_kinds=("503",), seed=3, twilio_opted_out=(STOPPED,))
    with running_sandbox(faults) as box, httpx.Client(timeout=5) as client:
        settings = Settings(home=tmp_path, sandbox_url=box.url)
        senders = build_senders(
            settings, client=client, engine=sqlite_engine, channels=[Channel.EMAIL, Channel.SMS]
        )
        stats = Worker(sqlite_engine, senders, WorkerConfig(name="w", threads=4, **FAST)).run()
        sandbox = box.stats()

    counts = state_counts(sqlite_engine, update_id=staged.update_id)
    assert counts[(Channel.EMAIL, DeliveryState.ACCEPTED)] == 200
    assert counts[(Channel.SMS, DeliveryState.ACCEPTED)] == 199
    assert counts[(Channel.SMS, DeliveryState.FAILED)] == 1
    assert sandbox["faults"]["503"] > 20 and stats.retried >= sandbox["faults"]["503"]  # faults happened
    assert sandbox["accepted"]["email"] == 200 and sandbox["accepted"]["sms"] == 199
    assert sandbox["rejected"] == {"400": 1}  # the STOP answered once and never asked again
    with sqlite_engine.connect() as connection:
        code = connection.execute(
            sa.select(Delivery.error_code).where(Delivery.state == DeliveryState.FAILED)
        ).scalar_one()
    assert code == "21610"
