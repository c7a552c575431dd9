"""The signing key (never empty, short or half-written; private when generated) and expiring tokens."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from clarion.audiences import signing
from clarion.errors import ConfigError, InputError, LinkExpired
from clarion.settings import Settings, get_settings

KEY = b"Zq3-vF8_kP2wLx9RtB7nYc4HmJ6sDa1E"
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that hides nothing: what the file gets is what clarion asked for."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ── the key ──────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("configured", "why"),
    [
        ("", "empty"),
        ("  \t ", "empty"),
        ("s3cret", "only 6 characters"),
        ("Zq3-vF8_kP2wLx9RtB7nYc4HmJ6sDa1", "only 31 characters"),
        ("  Zq3-vF8_kP2wLx9RtB7nYc4HmJ6sD  ", "only 29 characters"),
        ("x" * 40, "made of only 1 different characters"),
        ("0123" * 10, "made of only 4 different characters"),
    ],
)
def test_missing_empty_or_short_secret_keys_are_refused(home: Path, configured: str, why: str) -> None:
    with pytest.raises(ConfigError) as caught:
        signing.secret_key(Settings(home=home, secret_key=SecretStr(configured)))

    message = str(caught.value)
    assert message.startswith(f"CLARION_SECRET_KEY is set but {why}: use at least 32 random characters")
    assert "secrets.token_urlsafe(32)" in message
    if configured.strip():
        assert configured.strip() not in message  # the key is never echoed
    assert not home.exists()  # nothing was generated in its place


def test_an_empty_key_in_the_environment_is_refused_not_replaced(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLARION_HOME", str(home))
    monkeypatch.setenv("CLARION_SECRET_KEY", "")
    get_settings.cache_clear()

    with pytest.raises(ConfigError, match="CLARION_SECRET_KEY is set but empty"):
        signing.secret_key(get_settings())
    assert not (home / signing.KEY_FILE).exists()


def test_a_strong_configured_key_is_used_as_given(home: Path) -> None:
    assert signing.secret_key(Settings(home=home, secret_key=SecretStr(KEY.decode()))) == KEY


@pytest.mark.parametrize(
    ("stored", "why"),
    [
        ("", "empty"),
        ("\n\n", "empty"),
        ("Zq3-vF8_kP2wLx9Rt", "only 17 characters"),  # cut short
        ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", "made of only 1 different characters"),
    ],
)
def test_an_empty_or_short_key_file_is_refused_never_used_or_replaced(
    home: Path, stored: str, why: str
) -> None:
    home.mkdir()
    (home / signing.KEY_FILE).write_text(stored)

    with pytest.raises(ConfigError, match=rf"secret\.key: the signing key in this file is {why}"):
        signing.secret_key(Settings(home=home))
    assert (home / signing.KEY_FILE).read_text() == stored


def test_a_key_file_that_is_not_a_readable_text_file_is_refused(home: Path) -> None:
    home.mkdir()
    (home / signing.KEY_FILE).mkdir()
    with pytest.raises(ConfigError, match=r"secret.key: is a folder.*set CLARION_SECRET_KEY"):
        signing.secret_key(Settings(home=home))

    (home / signing.KEY_FILE).rmdir()
    (home / signing.KEY_FILE).write_bytes(b"\xff" * 40)
    with pytest.raises(ConfigError, match="not UTF-8"):
        signing.secret_key(Settings(home=home))

    (home / signing.KEY_FILE).unlink()
    (home / signing.KEY_FILE).symlink_to(home / "elsewhere")  # dangling: not silently replaced
    with pytest.raises(ConfigError, match="signing key file not found"):
        signing.secret_key(Settings(home=home))


def test_generated_key_file_is_private(home: Path, open_umask: None) -> None:
    key = signing.secret_key(Settings(home=home))

    path = home / signing.KEY_FILE
    assert mode(path) == 0o600
    assert mode(home) == 0o700
    assert len(key) >= signing.MIN_KEY_CHARS and signing.weakness(key.decode()) is None
    assert path.read_text().strip().encode() == key
    assert [p.name for p in home.iterdir()] == [signing.KEY_FILE]  # no temporary file left behind
    assert signing.secret_key(Settings(home=home)) == key  # generated once, then read


def test_an_existing_home_keeps_its_mode_and_the_key_is_still_private(home: Path, open_umask: None) -> None:
    home.mkdir(mode=0o750)

    signing.secret_key(Settings(home=home))

    assert mode(home / signing.KEY_FILE) == 0o600
    assert mode(home) == 0o750


def test_a_key_written_meanwhile_by_another_process_wins(home: Path) -> None:
    home.mkdir()
    path = home / signing.KEY_FILE
    path.write_text(KEY.decode())  # appeared between our look and our write

    signing._generate(path)

    assert path.read_text() == KEY.decode()
    assert signing.secret_key(Settings(home=home)) == KEY
    assert [p.name for p in home.iterdir()] == [signing.KEY_FILE]


def test_a_home_that_cannot_be_made_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")  # no folder can be made inside a file, not even by root

    with pytest.raises(ConfigError, match=r"cannot create the signing key file .*set CLARION_SECRET_KEY"):
        signing.secret_key(Settings(home=tmp_path / "a-file" / "home"))


# ── signed, expiring tokens ──────────────────────────────────────────────────────────────────────


def test_signed_links_expire() -> None:
    token = signing.sign(KEY, "unsubscribe", ["42", "email"], expires_at=T0 + timedelta(days=1))

    assert token.startswith("v2.42.email.")
    assert signing.verify(
        KEY, "unsubscribe", token, count=2, now=T0 + timedelta(hours=23, minutes=59), source="link"
    ) == ["42", "email"]
    with pytest.raises(LinkExpired) as caught:
        signing.verify(KEY, "unsubscribe", token, count=2, now=T0 + timedelta(days=1), source="link")
    assert caught.value.expired_at == T0 + timedelta(days=1)
    assert "the link expired at 2026-11-24 10:00 UTC" in str(caught.value)

    version, recipient, channel, expires, mac = token.split(".")
    for later in (int(expires) + 86400, int(expires) * 10, 0):
        tampered = f"{version}.{recipient}.{channel}.{later}.{mac}"
        with pytest.raises(InputError) as forged:
            signing.verify(KEY, "unsubscribe", tampered, count=2, now=T0, source="link")
        assert not isinstance(forged.value, LinkExpired)


def test_a_token_signed_for_one_purpose_is_refused_for_another() -> None:
    token = signing.sign(KEY, "survey", ["42", "email"], expires_at=T0 + timedelta(days=1))

    with pytest.raises(InputError, match="not a valid link"):
        signing.verify(KEY, "unsubscribe", token, count=2, now=T0, source="link")


@pytest.mark.parametrize("key", [b"", b"short", b"k" * 64])
def test_signing_or_verifying_with_a_weak_key_is_refused(key: bytes) -> None:
    good = signing.sign(KEY, "unsubscribe", ["1", "email"], expires_at=T0 + timedelta(days=1))

    with pytest.raises(ConfigError, match="the signing key is"):
        signing.sign(key, "unsubscribe", ["1", "email"], expires_at=T0 + timedelta(days=1))
    with pytest.raises(ConfigError, match="the signing key is"):
        signing.verify(key, "unsubscribe", good, count=2, now=T0, source="link")


@pytest.mark.parametrize(
    "token",
    [
        "",
        ".",
        "v2",
        "v2....",
        "v2.1.email.1.",
        "v2.1.email.99999999999999.AAAAAAAAAAAAAAAAAAAAAA",
        "v2.1.e mail.1.x",
    ],
)
def test_garbled_tokens_are_input_errors(token: str) -> None:
    with pytest.raises(InputError) as caught:
        signing.verify(KEY, "unsubscribe", token, count=2, now=T0, source="unsubscribe link")
    assert str(caught.value).startswith("unsubscribe link: token: not a valid link")


def test_fields_that_would_break_the_token_are_refused_when_signing() -> None:
    for field in ("a.b", "", "é", "x" * 65):
        with pytest.raises(ValueError, match="a signed field must match"):
            signing.sign(KEY, "unsubscribe", [field], expires_at=T0)
