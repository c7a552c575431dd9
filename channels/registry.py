"""The adapters of every channel the delivery engine sends, built from settings.

What channels exist is the channel table's to say (``clarion.channel_table``: one spec per channel,
found through the ``clarion.channels`` entry points); here each spec's adapter is built. Each provider
whose credentials are not set is reached through the provider sandbox at ``settings.sandbox_url``, so
clarion runs end to end with no accounts. The status page has no adapter: it is served from the store
by the web app, not sent.
"""

from __future__ import annotations

from collections.abc import Iterable

import httpx
import sqlalchemy as sa

from channels.base import DEFAULT_TIMEOUT
from clarion.channel_table import channel_table, sent_channels
from clarion.errors import ConfigError
from clarion.kinds import Channel
from clarion.outbox.port import Sender
from clarion.settings import Settings


def http_client(*, connections: int = 16, timeout: float | None = None) -> httpx.Client:
    """A pooled client for the adapters: timeouts on every call (``timeout`` seconds to read, when
    given), keep-alive across batches."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    chosen = DEFAULT_TIMEOUT if timeout is None else httpx.Timeout(timeout, connect=min(5.0, timeout))
    return httpx.Client(timeout=chosen, limits=limits)


def build_senders(
    settings: Settings,
    *,
    client: httpx.Client,
    engine: sa.Engine,
    channels: Iterable[Channel] | None = None,
) -> dict[Channel, Sender]:
    """One adapter per channel sent (all of them by default), configured from settings (the sandbox
    for unset providers). A channel that is served, not sent, gets none."""
    table = channel_table()
    unknown = sorted(set(settings.provider_rates) - {spec.provider for spec in table.values()})
    if unknown:
        known = ", ".join(sorted({str(s.provider) for s in table.values() if s.provider}))
        named = ", ".join(unknown)
        raise ConfigError(f"setting CLARION_PROVIDER_RATES names {named}: not a provider (known: {known})")
    senders: dict[Channel, Sender] = {}
    for channel in sent_channels() if channels is None else channels:
        spec = table[Channel(channel)]
        if spec.adapter is not None:
            sender = senders[channel] = spec.adapter(settings, client=client, engine=engine)
            rate = settings.provider_rates.get(spec.provider or "")
            if rate is not None:  # for all workers together: the worker's gate is the store's bucket
                sender.requests_per_second = rate
    return senders


def uses_sandbox(settings: Settings) -> dict[Channel, bool]:
    """Which sent channels' providers go to the sandbox because their credentials are not set."""
    table = channel_table()
    return {
        channel: table[channel].sandboxed(settings) for channel in sent_channels() if table[channel].provider
    }
