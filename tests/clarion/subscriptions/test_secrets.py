"""Links, codes and form tokens derived from the signing key: bound to their purpose, expiring, and
never passing for one another."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from clarion.subscriptions.refusals import Reason, Refused
from clarion.subscriptions.secrets import (
    FORM_TTL,
    code_matches,
    code_page_token,
    confirm_token,
    form_token,
    form_token_ok,
    keyed_digest,
    manage_token,
    read_code_page_token,
    read_confirm_token,
    read_manage_token,
    sms_code,
)

NOW = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
COOKIE = "c" * 10 + "Zq3-vF8_kP2wLx9RtB7nYc4HmJ6sDa1E"


def refusal(call: object) -> Reason:
    assert callable(call)
    with pytest.raises(Refused) as caught:
        call()
    return caught.value.reason


def test_each_link_reads_back_what_it_names(key: bytes) -> None:
    assert read_confirm_token(key, confirm_token(key, 7, expires_at=LATER), now=NOW) == 7
    assert read_code_page_token(key, code_page_token(key, 8, expires_at=LATER), now=NOW) == 8
    assert read_manage_token(key, manage_token(key, 9, 3, expires_at=LATER), now=NOW) == (9, 3)


def test_a_link_of_one_kind_never_passes_as_another(key: bytes) -> None:
    confirm = confirm_token(key, 7, expires_at=LATER)
    assert refusal(lambda: read_code_page_token(key, confirm, now=NOW)) is Reason.FORGED
    code_page = code_page_token(key, 7, expires_at=LATER)
    assert refusal(lambda: read_confirm_token(key, code_page, now=NOW)) is Reason.FORGED


def test_a_forged_or_garbled_link_is_refused_as_forged(key: bytes) -> None:
    genuine = confirm_token(key, 7, expires_at=LATER)
    other_key = b"another-key-of-enough-random-chars-0123"
    for token in (
        genuine.replace(".7.", ".8."),
        confirm_token(other_key, 7, expires_at=LATER),
        "v2.7.notanumber.AAAAAAAAAAAAAAAAAAAAAA",
        "garbage",
        "",
    ):
        assert refusal(lambda token=token: read_confirm_token(key, token, now=NOW)) is Reason.FORGED, token


def test_an_expired_link_is_refused_as_expired(key: bytes) -> None:
    token = manage_token(key, 9, 1, expires_at=NOW)
    assert refusal(lambda: read_manage_token(key, token, now=NOW)) is Reason.EXPIRED


def test_the_same_link_is_made_again_for_the_same_confirmation(key: bytes) -> None:
    """A worker that retries a notice renders the same words (and the SMS lookup finds them)."""
    assert confirm_token(key, 7, expires_at=LATER) == confirm_token(key, 7, expires_at=LATER)
    assert sms_code(key, 7) == sms_code(key, 7)


def test_a_code_is_six_digits_of_the_key_and_the_confirmation(key: bytes) -> None:
    codes = {sms_code(key, n) for n in range(200)}
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(codes) > 190  # practically one per confirmation
    assert sms_code(key, 1) != sms_code(b"another-key-of-enough-random-chars-0123", 1)


def test_a_code_matches_with_spaces_and_dashes_only(key: bytes) -> None:
    code = sms_code(key, 5)
    assert code_matches(key, 5, f" {code[:3]} {code[3:]}")
    assert code_matches(key, 5, f"{code[:3]}-{code[3:]}")
    assert not code_matches(key, 6, code)
    assert not code_matches(key, 5, "")
    assert not code_matches(key, 5, code + "0")


def test_a_form_token_is_good_for_its_own_cookie_only_and_for_a_while(key: bytes) -> None:
    token = form_token(key, COOKIE, now=NOW)
    assert COOKIE not in token  # the page never shows the cookie
    assert form_token_ok(key, token, COOKIE, now=NOW)
    assert not form_token_ok(key, token, COOKIE[::-1], now=NOW)
    assert not form_token_ok(key, token, None, now=NOW)
    assert not form_token_ok(key, "", COOKIE, now=NOW)
    assert not form_token_ok(key, token, COOKIE, now=NOW + FORM_TTL)
    assert not form_token_ok(key, confirm_token(key, 7, expires_at=LATER), COOKIE, now=NOW)


def test_a_keyed_digest_hides_short_inputs_behind_the_key(key: bytes) -> None:
    digest = keyed_digest(key, "client", "203.0.113.7")
    assert len(digest) == 32
    assert digest == keyed_digest(key, "client", "203.0.113.7")
    assert digest != keyed_digest(key, "address", "203.0.113.7")
    assert digest != keyed_digest(b"another-key-of-enough-random-chars-0123", "client", "203.0.113.7")
