"""Unsubscribe links: an opaque, signed token per recipient and channel (RFC 8058 one-click).

The token names the recipient and the channel and carries an HMAC-SHA256 over both, keyed by the
settings' ``secret_key`` (or a key generated once into ``home``). It holds no address: a mailbox
provider's one-click POST carries nothing else, and the link must not leak personal data.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from clarion.errors import InputError, Problem
from clarion.kinds import Channel
from clarion.settings import Settings

_KEY_FILE = "secret.key"


def secret_key(settings: Settings) -> bytes:
    """The signing key: the configured one, or one generated once and kept in ``home``."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    path = settings.home / _KEY_FILE
    if not path.exists():
        settings.home.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
    return path.read_text().strip().encode()


def _mac(key: bytes, payload: str) -> str:
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def make_token(key: bytes, *, recipient_id: int, channel: Channel) -> str:
    payload = f"{recipient_id}.{channel.value}"
    return f"{payload}.{_mac(key, payload)}"


def read_token(key: bytes, token: str) -> tuple[int, Channel]:
    """The recipient and channel a token names; :class:`InputError` when it is forged or garbled."""
    recipient, _, rest = token.partition(".")
    channel, _, mac = rest.partition(".")
    payload = f"{recipient}.{channel}"
    if not (recipient.isdigit() and mac and hmac.compare_digest(mac, _mac(key, payload))):
        raise InputError([Problem("unsubscribe link", None, "token", "not a valid unsubscribe token")])
    try:
        return int(recipient), Channel(channel)
    except ValueError:
        raise InputError([Problem("unsubscribe link", None, "token", "names no channel")]) from None


def unsubscribe_url(settings: Settings, key: bytes, *, recipient_id: int, channel: Channel) -> str:
    token = make_token(key, recipient_id=recipient_id, channel=channel)
    return f"{settings.public_url.rstrip('/')}/unsubscribe/{token}"
