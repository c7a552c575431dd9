"""The fast path of ``normalized_email`` never disagrees with ``email-validator``."""

from __future__ import annotations

import pytest
from email_validator import validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from clarion.audiences.email_address import _NORMAL, EmailNotValidError, normalized_email


def _agrees_with_the_validator(address: str) -> str | None:
    """Whatever ``email-validator`` says of ``address``, ``normalized_email`` says too."""
    try:
        expected = validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        with pytest.raises(EmailNotValidError):
            normalized_email(address)
        return None
    assert normalized_email(address) == expected
    return expected


@settings(max_examples=1000)
@given(st.from_regex(_NORMAL, fullmatch=True))
def test_every_address_the_fast_path_takes_is_valid_and_already_normal(address: str) -> None:
    assert _agrees_with_the_validator(address) in (None, address)


@settings(max_examples=300)
@given(st.emails())
def test_any_valid_address_gets_the_validators_normal_form(address: str) -> None:
    _agrees_with_the_validator(address)


@pytest.mark.parametrize(
    ("address", "normal"),
    [
        ("ana.lima@example.com", "ana.lima@example.com"),
        ("Ana+alerts@Example.COM", "Ana+alerts@example.com"),  # the slow path lower-cases the domain
        ("a@xn--bcher-kva.example", "a@bücher.example"),  # IDNA goes to Unicode: not the fast path
    ],
)
def test_normal_forms(address: str, normal: str) -> None:
    assert normalized_email(address) == normal


@pytest.mark.parametrize(
    "address",
    [
        "plain",
        "a@test",
        "a@shop.test",
        "a@mail.localhost",
        "a..b@example.com",
        "a@b.c1",
        "0@0---0.aa",  # RFC 5890: no "??--" label but Punycode
        "a@xn--.com",
        "x" * 60 + "@" + "a" * 200 + ".com",  # longer than 254
    ],
)
def test_refused(address: str) -> None:
    with pytest.raises(EmailNotValidError):
        normalized_email(address)
