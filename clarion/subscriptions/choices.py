"""What a subscribe or manage form asks for, checked: an address, components, a language.

Every problem of a form is found at once (:class:`FormError` names each field), so the page can
show them all beside their fields. A problem's message is a key (``email-invalid``…) that the page
turns into words in the reader's language (``subscribe.<locale>.yaml``: ``error.<key>``).

Addresses come back in the form the outbox sends to: an email as
:func:`~clarion.audiences.email_address.normalized_email` gives it, a number in E.164 (it must carry its
country code: there is no country to guess it from). Components are the catalogue's ids; choosing
every one is stored as "all" (empty), so a component added later is included too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import phonenumbers

from clarion.audiences.email_address import EmailNotValidError, normalized_email
from clarion.errors import InputError, Problem
from clarion.files.text import first_unsafe
from clarion.kinds import Channel
from clarion.statuspage.components import Catalogue
from clarion.statuspage.pages import LOCALES

SOURCE = "subscribe form"
MAX_EMAIL_CHARS = 254
MAX_PHONE_CHARS = 32
CHANNELS = (Channel.EMAIL, Channel.SMS)


class FormError(InputError):
    """A form's fields are wrong; ``problems`` name each field (``email``, ``phone``, ``components``…)."""

    def fields(self) -> dict[str, str]:
        """The first problem of each field, by field name."""
        found: dict[str, str] = {}
        for problem in self.problems:
            found.setdefault(problem.field, problem.message)
        return found


@dataclass(frozen=True)
class Request:
    """What one subscribe form asks for, checked."""

    channel: Channel
    address: str
    components: tuple[str, ...]
    """Component ids in the catalogue's order; empty: every component, including later ones."""
    locale: str


def check_email(text: str) -> str:
    """The address in normal form; :class:`ValueError` with the key of what is wrong."""
    text = text.strip()
    if not text:
        raise ValueError("email-missing")
    if len(text) > MAX_EMAIL_CHARS or first_unsafe(text) is not None:
        raise ValueError("email-invalid")
    try:
        return normalized_email(text)
    except EmailNotValidError:
        raise ValueError("email-invalid") from None


def check_phone(text: str) -> str:
    """The number in E.164; :class:`ValueError` with the key of what is wrong."""
    text = text.strip()
    if not text:
        raise ValueError("phone-missing")
    if len(text) > MAX_PHONE_CHARS or first_unsafe(text) is not None:
        raise ValueError("phone-invalid")
    if not text.startswith(("+", "00")):
        raise ValueError("phone-country")
    try:
        number = phonenumbers.parse("+" + text[2:] if text.startswith("00") else text, None)
    except phonenumbers.NumberParseException:
        raise ValueError("phone-invalid") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("phone-invalid")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def check_components(chosen: Sequence[str], catalogue: Catalogue) -> tuple[str, ...]:
    """The chosen ids in the catalogue's order, ``()`` for all of them; :class:`ValueError` for an
    unknown id or none chosen (without a catalogue nothing can be chosen, and everything is sent)."""
    known = [c.id for c in catalogue.components]
    unknown = sorted({c for c in chosen if c not in known})
    if unknown:
        raise ValueError("components-unknown")
    if not known:
        return ()
    if not chosen:
        raise ValueError("components-none")
    picked = tuple(c for c in known if c in set(chosen))
    return () if len(picked) == len(known) else picked


def check_locale(text: str) -> str:
    if text not in LOCALES:
        raise ValueError("locale-unknown")
    return text


def check_request(
    *, channel: str, email: str, phone: str, components: Sequence[str], locale: str, catalogue: Catalogue
) -> Request:
    """The form's request, or :class:`FormError` naming every field that is wrong."""
    problems: list[Problem] = []
    chosen: Channel | None = None
    address = ""
    if channel not in (c.value for c in CHANNELS):
        problems.append(Problem(SOURCE, None, "channel", "channel-missing"))
    else:
        chosen = Channel(channel)
        field, check = ("email", check_email) if chosen is Channel.EMAIL else ("phone", check_phone)
        try:
            address = check(email if chosen is Channel.EMAIL else phone)
        except ValueError as exc:
            problems.append(Problem(SOURCE, None, field, str(exc)))
    ids: tuple[str, ...] = ()
    try:
        ids = check_components(components, catalogue)
    except ValueError as exc:
        problems.append(Problem(SOURCE, None, "components", str(exc)))
    try:
        locale = check_locale(locale)
    except ValueError as exc:
        problems.append(Problem(SOURCE, None, "locale", str(exc)))
    if problems or chosen is None:
        raise FormError(problems)
    return Request(chosen, address, ids, locale)


def mask(channel: Channel, address: str) -> str:
    """Enough of an address for its owner to recognise it, not enough to read it off a screen."""
    if channel is Channel.EMAIL:
        local, _, domain = address.partition("@")
        return f"{local[:1]}•••@{domain}"
    return f"{address[:3]}•••{address[-2:]}"
