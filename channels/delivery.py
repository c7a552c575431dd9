"""Run a delivery worker over some channels with the adapters the settings call for.

Shared by ``clarion outbox work`` and the publish flow's per-channel tasks; staging builds request
bodies with the same settings (:func:`request_preparation`). The worker signs the
links it sends with the settings' key: updates' unsubscribe links, and the links and codes of notices
(:mod:`clarion.subscriptions.notices`, :mod:`clarion.surveys.notices`), rendered as each notice is
claimed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta

import sqlalchemy as sa

from channels.registry import build_senders, http_client
from clarion.audiences.unsubscribe import secret_key, unsubscribe_url
from clarion.channel_table import channel_table
from clarion.kinds import Channel
from clarion.outbox.counts import Waiting
from clarion.outbox.ledger import UnsubscribeLink
from clarion.outbox.notices import NoticeRenderer
from clarion.outbox.prepared import Preparation
from clarion.outbox.worker import Worker, WorkerConfig, WorkerStats
from clarion.responders import notices as responder_notices
from clarion.settings import Settings
from clarion.store_outage import patiently
from clarion.subscriptions import notices as subscription_notices
from clarion.surveys import notices as survey_notices

IN_FLIGHT_MARGIN = 5.0
"""Seconds beyond the client's timeout that a provider may still be working on an abandoned request."""


def notice_renderer(settings: Settings, key: bytes) -> NoticeRenderer:
    """Every kind of notice the outbox sends: subscriptions', surveys' and the responders'."""
    return NoticeRenderer(
        settings.templates_dir,
        subscription_notices.notice_contexts(settings, key)
        | survey_notices.notice_contexts(settings, key)
        | responder_notices.notice_contexts(),
        sms_max_segments=settings.sms_max_segments,
    )


def links(settings: Settings, key: bytes) -> UnsubscribeLink:
    """Signs the unsubscribe link of a recipient on a channel with the settings' key."""
    return lambda recipient, channel: unsubscribe_url(settings, key, recipient_id=recipient, channel=channel)


def request_preparation(settings: Settings) -> Preparation:
    """How staging builds the bodies of provider requests (:mod:`clarion.outbox.prepared`): each
    channel's builder, from the same settings and with the same link signer as the worker's, so a body
    built at staging is the one a claim would have built. Refuses (ConfigError) as the worker does
    when the signing key is missing and cannot be made."""
    bodies = {
        Channel(spec.name): spec.request_bodies(settings)
        for spec in channel_table().values()
        if spec.request_bodies is not None
    }
    return Preparation(bodies=bodies, unsubscribe=links(settings, secret_key(settings)))


def run_worker(
    settings: Settings,
    engine: sa.Engine,
    *,
    name: str,
    channels: Iterable[Channel] | None = None,
    threads: int = 4,
    until_idle: bool = True,
    max_wait: float | None = None,
    progress: Callable[[WorkerStats], None] | None = None,
    on_wait: Callable[[list[Waiting]], None] | None = None,
    on_store_lost: Callable[[BaseException, float], None] | None = None,
) -> WorkerStats:
    """Send what is due on ``channels`` until nothing is left (or forever); returns the counts.

    Refuses to start (:class:`~clarion.errors.ConfigError`) when the signing key of unsubscribe links
    is missing and cannot be made, or is empty or weak: nothing is claimed or sent then.

    A PostgreSQL store that goes away (a restart, a failover) stops the worker's threads, which leave
    their rows claimed; the worker then waits for the store (``on_store_lost(error, seconds)`` before
    each pause, for at most ``settings.outbox_store_patience`` seconds of outage) and starts again
    under the same name, taking its claims back in doubt (:func:`clarion.outbox.ledger.release_stale`),
    as a restarted process would.
    """
    key = secret_key(settings)
    timeout = settings.provider_timeout
    config = WorkerConfig(
        name=name,
        threads=threads,
        claim_size=settings.outbox_claim_size,
        in_flight=timedelta(seconds=timeout + IN_FLIGHT_MARGIN),
        max_wait=settings.outbox_max_wait if max_wait is None else max_wait,
        backoff_cap=settings.outbox_backoff_cap,
    )
    earlier = WorkerStats()  # what the runs before the store went away did

    def counted(stats: WorkerStats) -> None:
        if progress is not None:
            progress(_sum(earlier, stats))

    with http_client(connections=threads * 2, timeout=timeout) as client:
        senders = build_senders(settings, client=client, engine=engine, channels=channels)

        def one_run() -> WorkerStats:
            worker = Worker(
                engine,
                senders,
                config,
                unsubscribe=links(settings, key),
                notices=notice_renderer(settings, key),
                progress=counted,
                on_wait=on_wait,
            )
            try:
                return _sum(earlier, worker.run(until_idle=until_idle))
            except BaseException:
                _add(earlier, worker.stats)
                raise

        return patiently(engine, one_run, patience=settings.outbox_store_patience, on_wait=on_store_lost)


def _add(into: WorkerStats, more: WorkerStats) -> None:
    for name, value in vars(more).items():
        if isinstance(value, int):
            setattr(into, name, getattr(into, name) + value)
    for channel, n in more.per_channel.items():
        into.per_channel[channel] = into.per_channel.get(channel, 0) + n


def _sum(a: WorkerStats, b: WorkerStats) -> WorkerStats:
    total = WorkerStats()
    _add(total, a)
    _add(total, b)
    return total
