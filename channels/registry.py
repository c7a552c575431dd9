"""The one explicit list of channel adapters, and how to build them from settings.

Each provider whose credentials are not set is reached through the provider sandbox at
``settings.sandbox_url``, so clarion runs end to end with no accounts. The status page is not here:
it is served from the store by the web app, not sent.
"""

from __future__ import annotations

from collections.abc import Iterable

import httpx
import sqlalchemy as sa

from channels.banner import BannerAdapter
from channels.base import DEFAULT_TIMEOUT, ChannelAdapter
from channels.bluesky import BlueskyAdapter
from channels.email import EmailAdapter
from channels.mastodon import MastodonAdapter
from channels.sms import SmsAdapter
from clarion.kinds import Channel
from clarion.settings import Settings

HTTP_ADAPTERS: dict[Channel, type[EmailAdapter | SmsAdapter | MastodonAdapter | BlueskyAdapter]] = {
    Channel.EMAIL: EmailAdapter,
    Channel.SMS: SmsAdapter,
    Channel.MASTODON: MastodonAdapter,
    Channel.BLUESKY: BlueskyAdapter,
}
SENT_CHANNELS = (*HTTP_ADAPTERS, Channel.BANNER)
"""Every channel the delivery engine sends (the status page is served, not sent)."""


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
    channels: Iterable[Channel] = SENT_CHANNELS,
) -> dict[Channel, ChannelAdapter]:
    """One adapter per channel, configured from settings (the sandbox for unset providers)."""
    senders: dict[Channel, ChannelAdapter] = {}
    for channel in channels:
        if channel is Channel.BANNER:
            senders[channel] = BannerAdapter.from_settings(settings, engine=engine)
        elif channel in HTTP_ADAPTERS:
            senders[channel] = HTTP_ADAPTERS[channel].from_settings(settings, client=client)
    return senders


def uses_sandbox(settings: Settings) -> dict[Channel, bool]:
    """Which providers go to the sandbox because their credentials are not set."""
    return {
        Channel.EMAIL: settings.sendgrid_api_key is None,
        Channel.SMS: settings.twilio_account_sid is None and settings.twilio_auth_token is None,
        Channel.MASTODON: not (settings.mastodon_base_url or settings.mastodon_access_token),
        Channel.BLUESKY: not (
            settings.bluesky_pds_url or settings.bluesky_identifier or settings.bluesky_app_password
        ),
    }
