"""Unsubscribe tokens: versioned, expiring after 90 days, naming recipient and channel, old form refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from clarion.audiences.signing import sign
from clarion.audiences.unsubscribe import UNSUBSCRIBE_TTL, make_token, read_token, unsubscribe_url
from clarion.errors import ConfigError, InputError, LinkExpired
from clarion.kinds import Channel
from clarion.settings import Settings

KEY = b"Zq3-vF8_kP2wLx9RtB7nYc4HmJ6sDa1E"
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_a_token_names_recipient_channel_and_expiry_and_nothing_else() -> None:
    token = make_token(KEY, recipient_id=42, channel=Channel.SMS, now=T0)

    expires = int((T0 + UNSUBSCRIBE_TTL).timestamp())
    assert re.fullmatch(rf"v2\.42\.sms\.{expires}\.[A-Za-z0-9_-]{{22}}", token)
    assert read_token(KEY, token, now=T0) == (42, Channel.SMS)


def test_unsubscribe_links_work_long_enough_to_act_on_an_old_email() -> None:
    assert timedelta(days=30) <= UNSUBSCRIBE_TTL  # CAN-SPAM
    assert timedelta(days=90) == UNSUBSCRIBE_TTL  # as the README and the pages say
    token = make_token(KEY, recipient_id=7, channel=Channel.EMAIL, now=T0)

    assert read_token(KEY, token, now=T0 + timedelta(days=89, hours=23)) == (7, Channel.EMAIL)
    with pytest.raises(LinkExpired):
        read_token(KEY, token, now=T0 + timedelta(days=90))


def test_signed_links_expire() -> None:
    token = make_token(KEY, recipient_id=7, channel=Channel.EMAIL, now=T0, ttl=timedelta(hours=1))

    assert read_token(KEY, token, now=T0 + timedelta(minutes=59)) == (7, Channel.EMAIL)
    with pytest.raises(LinkExpired) as caught:
        read_token(KEY, token, now=T0 + timedelta(hours=2))
    assert caught.value.expired_at == T0 + timedelta(hours=1)
    assert str(caught.value) == "unsubscribe link: token: the link expired at 2026-11-23 11:00 UTC"

    version, recipient, channel, expires, mac = token.split(".")
    prolonged = f"{version}.{recipient}.{channel}.{int(expires) + 86400}.{mac}"
    with pytest.raises(InputError) as forged:
        read_token(KEY, prolonged, now=T0 + timedelta(hours=2))
    assert not isinstance(forged.value, LinkExpired)


def legacy_token(key: bytes, recipient_id: int, channel: str) -> str:
    payload = f"{recipient_id}.{channel}"
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()[:16]
    return f"{payload}.{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"


@pytest.mark.parametrize("key", [b"", KEY])
def test_legacy_unversioned_tokens_are_refused(key: bytes) -> None:
    with pytest.raises(InputError, match="not a valid link") as caught:
        read_token(KEY, legacy_token(key, 42, "email"), now=T0)
    assert not isinstance(caught.value, LinkExpired)


@pytest.mark.parametrize(
    ("recipient", "channel", "why"),
    [
        ("42", "carrier", "names no channel"),
        ("-1", "email", "names no recipient"),
        ("x", "email", "names no recipient"),
    ],
)
def test_a_signed_token_naming_no_recipient_or_channel_is_refused(
    recipient: str, channel: str, why: str
) -> None:
    signed = sign(KEY, "unsubscribe", [recipient, channel], expires_at=T0 + UNSUBSCRIBE_TTL)

    with pytest.raises(InputError, match=why):
        read_token(KEY, signed, now=T0)


@pytest.mark.parametrize("key", [b"", b"k" * 31])
def test_missing_empty_or_short_secret_keys_are_refused(key: bytes) -> None:
    good = make_token(KEY, recipient_id=1, channel=Channel.EMAIL, now=T0)

    with pytest.raises(ConfigError):
        make_token(key, recipient_id=1, channel=Channel.EMAIL, now=T0)
    with pytest.raises(ConfigError):
        read_token(key, good, now=T0)


def test_the_link_carries_the_token_under_the_public_url(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path, public_url="https://status.example.com/", secret_key=SecretStr(KEY.decode())
    )

    url = unsubscribe_url(settings, KEY, recipient_id=3, channel=Channel.EMAIL, now=T0)

    token = make_token(KEY, recipient_id=3, channel=Channel.EMAIL, now=T0)
    assert url == f"https://status.example.com/unsubscribe/{token}"
    wall = unsubscribe_url(settings, KEY, recipient_id=3, channel=Channel.EMAIL)
    assert read_token(KEY, wall.rsplit("/", 1)[1], now=datetime.now(UTC)) == (3, Channel.EMAIL)
