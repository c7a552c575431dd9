"""What clarion writes to Bluesky: an ``app.bsky.feed.post`` record, its link facets, its record key.

Pure functions, no network: :mod:`channels.bluesky` sends what these build. The rules come from
the lexicons in ``channels/sandbox/schemas/`` (``app.bsky.feed.post``, ``app.bsky.richtext.facet``)
and the atproto TID specification (atproto.com/specs/tid).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any, Final

from clarion.errors import PermanentChannelError
from clarion.kinds import Channel
from clarion.updates.limits import bluesky_length

POST: Final = "app.bsky.feed.post"
MAX_GRAPHEMES: Final = 300  # app.bsky.feed.post text: maxGraphemes
MAX_BYTES: Final = 3000  # and maxLength, which the lexicon counts in UTF-8 bytes

# ── record keys ───────────────────────────────────────────────────────────────────────────────────

TID_ALPHABET: Final = "234567abcdefghijklmnopqrstuvwxyz"  # base32-sortable: ASCII order is value order
TID_PATTERN: Final = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def make_tid(when: datetime, key: str) -> str:
    """The record key of the post created at ``when`` for the delivery with idempotency ``key``.

    A TID is a 64-bit integer: a 0 bit, 53 bits of microseconds since the Unix epoch, a 10-bit
    clock id; written as 13 base32-sortable characters (11 for the time, 2 for the clock id). The
    clock id here is the first 10 bits of SHA-256 of ``key``. So one delivery always gets the same
    key (a resend cannot make a second post), two deliveries made in the same microsecond collide
    only when their clock ids do (1 in 1024), and keys sort by creation time.
    """
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if not 0 <= micros < 1 << 53:
        raise ValueError(f"{when.isoformat()} cannot be written as a TID")
    clock_id = int.from_bytes(hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()[:2]) >> 6
    value = micros << 10 | clock_id
    return "".join(TID_ALPHABET[(value >> shift) & 31] for shift in range(60, -1, -5))


# ── the record ────────────────────────────────────────────────────────────────────────────────────

_SURROGATE: Final = re.compile("[\ud800-\udfff]")  # cannot be encoded as UTF-8, so cannot be sent
_URL: Final = re.compile(r"(?<![\w@$#/])https?://[^\s<>\"]+", re.IGNORECASE)
_URL_TRAILING: Final = ".,;:!?'\")]}"


def link_facets(text: str) -> list[dict[str, Any]]:
    """An ``app.bsky.richtext.facet`` with a ``#link`` feature for every http(s) URL in ``text``.

    Offsets count UTF-8 bytes, start inclusive, end exclusive. Trailing sentence punctuation stays
    outside a URL; a ")" stays inside when it closes a "(" of the URL.
    """
    facets: list[dict[str, Any]] = []
    for match in _URL.finditer(text):
        url = match.group()
        end = len(url)
        while end and url[end - 1] in _URL_TRAILING:
            if url[end - 1] == ")" and url.count("(", 0, end) >= url.count(")", 0, end):
                break
            end -= 1
        if end <= url.index("://") + 3:
            continue  # a bare "https://" is no link
        url = url[:end]
        start = len(text[: match.start()].encode("utf-8"))
        facets.append(
            {
                "index": {"byteStart": start, "byteEnd": start + len(url.encode("utf-8"))},
                "features": [{"$type": "app.bsky.richtext.facet#link", "uri": url}],
            }
        )
    return facets


def post_record(text: str, *, created_at: datetime, locale: str) -> dict[str, Any]:
    """The ``app.bsky.feed.post`` record for ``text``; PermanentChannelError when it cannot be posted."""
    graphemes, size = bluesky_length(text)
    if graphemes > MAX_GRAPHEMES or size > MAX_BYTES:
        raise PermanentChannelError(
            f"post is {graphemes} graphemes and {size} bytes, Bluesky allows {MAX_GRAPHEMES} "
            f"and {MAX_BYTES}; not posted",
            channel=Channel.BLUESKY,
        )
    if _SURROGATE.search(text):
        raise PermanentChannelError("text is not valid Unicode (lone surrogate)", channel=Channel.BLUESKY)
    record: dict[str, Any] = {"$type": POST, "text": text, "createdAt": atproto_datetime(created_at)}
    if language := language_code(locale):
        record["langs"] = [language]
    if facets := link_facets(text):
        record["facets"] = facets
    return record


def atproto_datetime(when: datetime) -> str:
    """An atproto ``datetime``: UTC, milliseconds, ``Z`` (``2026-11-23T14:05:09.120Z``)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def language_code(locale: str) -> str | None:
    """ISO 639-1 code of a locale ("de-AT", "pt_BR" → "de", "pt"); None when it has none."""
    code = locale.replace("_", "-").split("-", 1)[0].lower()
    return code if len(code) == 2 and code.isascii() and code.isalpha() else None
