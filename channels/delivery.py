"""Run a delivery worker over some channels with the adapters the settings call for.

Shared by ``clarion outbox work`` and the publish flow's per-channel tasks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import sqlalchemy as sa

from channels.registry import SENT_CHANNELS, build_senders, http_client
from clarion.kinds import Channel
from clarion.outbox.worker import Worker, WorkerConfig, WorkerStats
from clarion.settings import Settings
from clarion.unsubscribe import secret_key, unsubscribe_url


def run_worker(
    settings: Settings,
    engine: sa.Engine,
    *,
    name: str,
    channels: Iterable[Channel] = SENT_CHANNELS,
    threads: int = 4,
    until_idle: bool = True,
    progress: Callable[[WorkerStats], None] | None = None,
) -> WorkerStats:
    """Send what is due on ``channels`` until nothing is left (or forever); returns the counts."""
    key = secret_key(settings)
    with http_client(connections=threads * 2) as client:
        senders = build_senders(settings, client=client, engine=engine, channels=channels)
        worker = Worker(
            engine,
            senders,
            WorkerConfig(name=name, threads=threads),
            unsubscribe=lambda recipient, channel: unsubscribe_url(
                settings, key, recipient_id=recipient, channel=channel
            ),
            progress=progress,
        )
        return worker.run(until_idle=until_idle)
