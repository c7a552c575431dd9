"""Pseudonyms for a pack that may not name people: keyed hashes that keep each person's history linkable.

With ``--pseudonymise`` every value that names a person (a recipient's email address, phone number
and external id, their id in the store, a notice's address, an approver, a submitter, a commander,
a commitment's owner) becomes ``p:`` and 16 hex digits of HMAC-SHA256 under the pack's key. The same
value gives the same pseudonym everywhere in the pack (an email address in any letter case alike),
so one person's messages, bounces and retries still read as one person's, and whoever holds the key
can find a person's pseudonym again when a regulator asks about them. Free text a provider or a
person wrote (an error's detail, a reason) keeps its words with every email address and
``+``-prefixed number in it replaced the same way.

The key is read from ``--key-file`` or, without one, derived from clarion's signing key
(:func:`clarion.audiences.signing.secret_key`) with its own label, so it is never the signing key
itself and no link can be forged from it. Packs made with the derived key share their pseudonyms;
a key file of its own per recipient of packs keeps them apart.

An audit entry's hash covers its content, so its words cannot be changed: an entry of the incident
whose content names a person (:meth:`Pseudonyms.names_someone`) is written as a stub and counted as
withheld.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from clarion.audiences.signing import MAX_KEY_FILE_BYTES, secret_key, weakness
from clarion.errors import InputError, Problem, display_path
from clarion.files.inputfile import read_text
from clarion.settings import Settings

PREFIX = "p:"
DIGITS = 16
LABEL = b"clarion evidence-pseudonyms v1"
"""Domain separation: the derived key is an HMAC of this label under the signing key."""
EMAIL = re.compile(r"[^\s@<>()\[\]\"',;:]+@[^\s@<>()\[\]\"',;:]+\.[A-Za-z]{2,}")
PHONE = re.compile(r"\+\d[\d ()./-]{5,20}\d")
"""A number as people and providers write one with its country code: ``+49 30 1234 5678``."""


def key_from_settings(settings: Settings) -> bytes:
    """The pseudonym key derived from the signing key (ConfigError when that is missing or weak)."""
    return hmac.new(secret_key(settings), LABEL, hashlib.sha256).digest()


def key_from_file(path: Path) -> bytes:
    """The key in ``path``: at least 32 characters, not a handful repeated; InputError naming the file."""
    text = read_text(path, max_bytes=MAX_KEY_FILE_BYTES, what="key file").strip()
    if (why := weakness(text)) is not None:
        raise InputError(
            [
                Problem(
                    display_path(path),
                    None,
                    "--key-file",
                    f"the key is {why}: use 32 or more random characters",
                )
            ]
        )
    return text.encode()


class Pseudonyms:
    """What a pack writes for values that name people: themselves, or pseudonyms when ``key`` is given.

    ``remember`` keeps the names that the pack's small tables hold (approvers, submitters, the
    commander), so an audit entry naming one of them is recognised; recipients' addresses are
    never kept (there may be millions) and are caught by their shape instead.
    """

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key
        self._known: set[str] = set()

    @property
    def on(self) -> bool:
        return self._key is not None

    def person(self, value: str | None) -> str | None:
        """A value that names a person, or its pseudonym."""
        if value is None or self._key is None:
            return value
        normal = value.strip().lower() if "@" in value else value.strip()
        digest = hmac.new(self._key, normal.encode("utf-8"), hashlib.sha256).hexdigest()
        return PREFIX + digest[:DIGITS]

    def recipient_id(self, value: int | None) -> int | str | None:
        """A recipient's id in the store: as it is, or a pseudonym (it leads back to the person)."""
        if value is None or self._key is None:
            return value
        return self.person(f"recipient:{value}")

    def text(self, value: str | None) -> str | None:
        """Free text with every email address and number in it replaced by its pseudonym."""
        if value is None or self._key is None:
            return value
        value = EMAIL.sub(lambda match: self.person(match.group(0)) or "", value)
        return PHONE.sub(lambda match: self.person(_digits(match.group(0))) or "", value)

    def remember(self, *values: str | None) -> None:
        """Names the pack holds in its small tables, to recognise in audit entries."""
        self._known.update(v.strip().casefold() for v in values if v and v.strip())

    def names_someone(self, *parts: Any) -> bool:
        """Whether any string in ``parts`` (nested lists and objects, keys included) is a remembered
        name or holds an email address or a number."""
        for text in _strings(parts):
            if text.strip().casefold() in self._known or EMAIL.search(text) or PHONE.search(text):
                return True
        return False


def _digits(number: str) -> str:
    """A number as one value however it was spaced: ``+49 30 1234`` is ``+49301234``."""
    return "+" + "".join(ch for ch in number if ch.isdigit())


def _strings(values: Iterable[Any]) -> Iterator[str]:
    for value in values:
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            yield from (str(key) for key in value)
            yield from _strings(value.values())
        elif isinstance(value, list | tuple):
            yield from _strings(value)
