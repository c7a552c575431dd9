"""A subscribe form's fields, checked: addresses in the outbox's form, components by the catalogue,
every problem named by its field."""

from __future__ import annotations

import pytest

from clarion.kinds import Channel
from clarion.statuspage.components import EMPTY, Catalogue
from clarion.subscriptions.choices import (
    FormError,
    check_components,
    check_email,
    check_phone,
    check_request,
    mask,
)


def test_an_email_address_comes_back_normalised() -> None:
    assert check_email("  ada@example.com ") == "ada@example.com"
    assert check_email("ada@EXAMPLE.com") == "ada@example.com"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("", "email-missing"),
        ("ada", "email-invalid"),
        ("ada@", "email-invalid"),
        ("ada@localhost", "email-invalid"),
        ("a" * 250 + "@example.com", "email-invalid"),
        ("ada\x1b[2J@example.com", "email-invalid"),
    ],
)
def test_what_is_not_an_email_address_is_named(text: str, key: str) -> None:
    with pytest.raises(ValueError, match=key):
        check_email(text)


def test_a_number_comes_back_in_e164() -> None:
    assert check_phone("+49 151 1234 5678") == "+4915112345678"
    assert check_phone("0049 151 12345678") == "+4915112345678"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("", "phone-missing"),
        ("0151 12345678", "phone-country"),
        ("+49 12", "phone-invalid"),
        ("+abc", "phone-invalid"),
        ("+49" + "1" * 40, "phone-invalid"),
    ],
)
def test_what_is_not_a_number_is_named(text: str, key: str) -> None:
    with pytest.raises(ValueError, match=key):
        check_phone(text)


def test_components_come_back_in_the_catalogues_order_and_every_one_means_all(catalogue: Catalogue) -> None:
    ids = [c.id for c in catalogue.components]
    assert check_components([ids[3], ids[0], ids[3]], catalogue) == (ids[0], ids[3])
    assert check_components(ids, catalogue) == ()


def test_no_component_or_an_unknown_one_is_refused(catalogue: Catalogue) -> None:
    with pytest.raises(ValueError, match="components-none"):
        check_components([], catalogue)
    with pytest.raises(ValueError, match="components-unknown"):
        check_components(["api", "not-a-component"], catalogue)


def test_without_a_catalogue_nothing_is_chosen_and_everything_is_sent() -> None:
    assert check_components([], EMPTY) == ()
    with pytest.raises(ValueError, match="components-unknown"):
        check_components(["api"], EMPTY)


def test_a_request_names_every_wrong_field_at_once(catalogue: Catalogue) -> None:
    with pytest.raises(FormError) as caught:
        check_request(
            channel="email", email="ada@", phone="", components=["nope"], locale="fr", catalogue=catalogue
        )
    assert caught.value.fields() == {
        "email": "email-invalid",
        "components": "components-unknown",
        "locale": "locale-unknown",
    }


def test_a_request_without_a_channel_is_refused(catalogue: Catalogue) -> None:
    with pytest.raises(FormError) as caught:
        check_request(
            channel="",
            email="ada@example.com",
            phone="",
            components=["api"],
            locale="en",
            catalogue=catalogue,
        )
    assert caught.value.fields() == {"channel": "channel-missing"}


def test_a_good_request_reads_the_chosen_channels_field_only(catalogue: Catalogue) -> None:
    asked = check_request(
        channel="sms",
        email="not an address",
        phone="+49 151 12345678",
        components=["api"],
        locale="de",
        catalogue=catalogue,
    )
    assert (asked.channel, asked.address, asked.components, asked.locale) == (
        Channel.SMS,
        "+4915112345678",
        ("api",),
        "de",
    )


def test_a_masked_address_hides_most_of_it() -> None:
    assert mask(Channel.EMAIL, "ada@example.com") == "a•••@example.com"
    assert mask(Channel.SMS, "+4915112345678") == "+49•••78"
