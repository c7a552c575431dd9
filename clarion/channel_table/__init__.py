"""Channels as data: each channel's :class:`ChannelSpec` (declared by its module, found through the
``clarion.channels`` entry points) and the sets the core derives from them."""

from clarion.channel_table.spec import AdapterFactory, ChannelSpec, Form, Reach
from clarion.channel_table.table import (
    audience_channels,
    broadcast_channels,
    channel_table,
    channels_where,
    form_of,
    internal_channels,
    personal_channels,
    public_channels,
    sent_channels,
    spec_of,
)

__all__ = [
    "AdapterFactory",
    "ChannelSpec",
    "Form",
    "Reach",
    "audience_channels",
    "broadcast_channels",
    "channel_table",
    "channels_where",
    "form_of",
    "internal_channels",
    "personal_channels",
    "public_channels",
    "sent_channels",
    "spec_of",
]
