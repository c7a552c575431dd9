"""The channel table: every channel's spec, loaded once from the ``clarion.channels`` entry points.

clarion's own channels are entry points of clarion's package (``pyproject.toml``), exactly as another
package's would be, so the core never names an adapter module. A spec is loaded the first time
something asks for it: reading the table imports the adapter modules, not before.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from importlib.metadata import entry_points

from clarion.channel_table.spec import ChannelSpec, Form, Reach
from clarion.errors import ConfigError
from clarion.kinds import ENTRY_POINT_GROUP, Channel

_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")  # stored in 32-character columns, used in paths


@functools.cache
def channel_table() -> dict[Channel, ChannelSpec]:
    """Every channel's spec, in ``Channel`` order. ConfigError when an entry point cannot be loaded,
    is not a :class:`ChannelSpec`, or names another channel than its own."""
    found = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    table: dict[Channel, ChannelSpec] = {}
    for channel in Channel:
        if not _NAME.fullmatch(channel.value):
            raise ConfigError(
                f"channel {channel.value!r}: a channel's name is a-z, digits, - or _, at most 32 characters"
            )
        ep = found.get(channel.value)
        if ep is None:
            raise ConfigError(
                f"channel {channel.value!r} has no spec: no {ENTRY_POINT_GROUP!r} entry point names it "
                "(is clarion installed, e.g. `pip install -e .`?)"
            )
        try:
            spec = ep.load()
        except Exception as exc:  # a plugin's import can fail in any way; name it and stop
            raise ConfigError(f"channel {channel.value!r}: cannot load {ep.value}: {exc!r}") from exc
        if not isinstance(spec, ChannelSpec):
            raise ConfigError(f"channel {channel.value!r}: {ep.value} is not a ChannelSpec")
        if spec.name != channel.value:
            raise ConfigError(f"channel {channel.value!r}: {ep.value} is the spec of {spec.name!r}")
        table[channel] = spec
    return table


def spec_of(channel: Channel | str) -> ChannelSpec:
    """The spec of one channel."""
    return channel_table()[Channel(channel)]


def channels_where(*, reach: Iterable[Reach] | None = None, sent: bool | None = None) -> tuple[Channel, ...]:
    """The channels, in order, whose reach is among ``reach`` and that are (not) sent."""
    reaches = None if reach is None else frozenset(reach)
    return tuple(
        channel
        for channel, spec in channel_table().items()
        if (reaches is None or spec.reach in reaches) and (sent is None or spec.sent is sent)
    )


def sent_channels() -> tuple[Channel, ...]:
    """Every channel the delivery engine sends (the status page is served, not sent)."""
    return channels_where(sent=True)


def personal_channels() -> tuple[Channel, ...]:
    """The channels that send to one person at a time (email, SMS)."""
    return channels_where(reach=[Reach.PERSONAL])


def broadcast_channels() -> tuple[Channel, ...]:
    """The channels that post once per locale for the public (Mastodon, Bluesky)."""
    return channels_where(reach=[Reach.BROADCAST])


def audience_channels() -> tuple[Channel, ...]:
    """What an audience may list: personal channels, and those served to an audience (the banner)."""
    return tuple(c for c, spec in channel_table().items() if spec.for_audiences)


def public_channels() -> tuple[Channel, ...]:
    """What a playbook's ``public_channels`` may list."""
    return tuple(c for c, spec in channel_table().items() if spec.for_public)


def internal_channels() -> tuple[Channel, ...]:
    """The channels that reach the people inside."""
    return channels_where(reach=[Reach.INTERNAL])


def form_of(channel: Channel) -> Form:
    return spec_of(channel).form
