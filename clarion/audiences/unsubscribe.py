"""Unsubscribe links: an opaque, signed, expiring token per recipient and channel (RFC 8058 one-click).

The token is ``v2.<recipient id>.<channel>.<expires>.<mac>`` (see :mod:`clarion.audiences.signing`): it names
the recipient and the channel, carries its expiry in epoch seconds, and an HMAC-SHA256 over all of
that, keyed by the signing key (``CLARION_SECRET_KEY`` or ``CLARION_HOME/secret.key``). It holds no
address: a mailbox provider's one-click POST carries nothing else, and the link must not leak
personal data.

A link works for :data:`UNSUBSCRIBE_TTL` (90 days) after the message carrying it was sent: long
enough to act on an old incident email (CAN-SPAM asks for at least 30 days), short enough that a
link leaked with an old message stops working. An expired link's page says so and tells how to
unsubscribe otherwise. Tokens of the old unversioned form (``<recipient>.<channel>.<mac>``, possibly
signed with an empty key) are refused.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from clarion.audiences.signing import check_key, secret_key, sign, verify
from clarion.errors import InputError, Problem
from clarion.kinds import Channel
from clarion.settings import Settings

__all__ = [
    "UNSUBSCRIBE_TTL",
    "check_key",
    "make_token",
    "read_token",
    "secret_key",
    "unsubscribe_url",
]

UNSUBSCRIBE_TTL = timedelta(days=90)
"""How long an unsubscribe link works after it was made (CAN-SPAM: at least 30 days)."""

_PURPOSE = "unsubscribe"
_SOURCE = "unsubscribe link"


def make_token(
    key: bytes, *, recipient_id: int, channel: Channel, now: datetime, ttl: timedelta = UNSUBSCRIBE_TTL
) -> str:
    """The token of an unsubscribe link made at ``now`` (timezone-aware), working for ``ttl``."""
    return sign(key, _PURPOSE, [str(recipient_id), channel.value], expires_at=now + ttl)


def read_token(key: bytes, token: str, *, now: datetime) -> tuple[int, Channel]:
    """The recipient and channel a token names.

    :class:`~clarion.errors.LinkExpired` when it is genuine but expired; :class:`InputError` when it
    is forged, garbled or of the old unversioned form; :class:`~clarion.errors.ConfigError` when the
    key is unfit.
    """
    recipient, channel = verify(key, _PURPOSE, token, count=2, now=now, source=_SOURCE)
    if not recipient.isascii() or not recipient.isdigit():
        raise InputError([Problem(_SOURCE, None, "token", "names no recipient")])
    try:
        return int(recipient), Channel(channel)
    except ValueError:
        raise InputError([Problem(_SOURCE, None, "token", "names no channel")]) from None


def unsubscribe_url(
    settings: Settings, key: bytes, *, recipient_id: int, channel: Channel, now: datetime | None = None
) -> str:
    """The link, made at ``now`` (the wall clock when not given: people's time, not an incident's)."""
    token = make_token(key, recipient_id=recipient_id, channel=channel, now=now or datetime.now(UTC))
    return f"{settings.public_url.rstrip('/')}/unsubscribe/{token}"
