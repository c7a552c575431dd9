"""Channel limits as data, and every length count clarion makes, in one place.

Each channel's spec lists its :class:`Limit` values (``clarion.channel_table``); :func:`measure`
applies them and returns one :class:`Measurement` per limit. The counting functions
(:func:`sms_count`, :func:`graphemes`, :func:`mastodon_length`, :func:`bluesky_length`) follow the
providers' own rules: Twilio's segments (twilio.com/docs/glossary/what-sms-character-limit), Mastodon's
``StatusLengthValidator`` (github.com/mastodon/mastodon, app/validators), and the Bluesky post lexicon
(``channels/sandbox/schemas/``).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

import gsm0338  # noqa: F401  (importing it registers the "gsm03.38" codec)
import regex

from clarion.kinds import Channel

# --- SMS ------------------------------------------------------------------------------------------------

SmsEncoding = Literal["GSM-7", "UCS-2"]

GSM7_SINGLE: Final = 160  # septets in a message that is not split
GSM7_PART: Final = 153  # septets per part of a concatenated message (7 septets go to the UDH)
UCS2_SINGLE: Final = 70  # UTF-16 code units in a message that is not split
UCS2_PART: Final = 67  # UTF-16 code units per part of a concatenated message

_ESC: Final = "\x1b"


def _gsm_widths() -> dict[str, int]:
    """Septets per character, for every character the gsm03.38 codec encodes.

    The codec is the authority: candidates are what it decodes (basic table, and ESC + byte for the
    extension table) plus U+001B, which it encodes to a bare escape byte; each width is the length
    of the codec's own encoding. Built once: the codec's encoder is a per-character Python loop
    (about 0.8 ms for 1600 characters), too slow for every measurement.
    """
    candidates = {_ESC}
    for byte in range(128):
        for sequence in (bytes([byte]), bytes([0x1B, byte])):
            with contextlib.suppress(UnicodeDecodeError):  # not a character (e.g. ESC + basic byte)
                candidates.update(sequence.decode("gsm03.38"))
    return {char: len(char.encode("gsm03.38")) for char in candidates}


_GSM_WIDTH: Final = _gsm_widths()
_NOT_GSM: Final = re.compile("[^" + "".join(re.escape(c) for c in sorted(_GSM_WIDTH)) + "]")
_GSM_EXTENSION: Final = "".join(sorted(c for c, width in _GSM_WIDTH.items() if width == 2))


@dataclass(frozen=True)
class SmsCount:
    """How an SMS body is encoded and billed."""

    encoding: SmsEncoding
    units: int  # septets (GSM-7, extension characters count 2) or UTF-16 code units (UCS-2)
    segments: int
    chars: int  # len(text): code points


def _segments(units: int, single: int, part: int, starts_pair: Callable[[int], bool]) -> int:
    """Parts needed, packed greedily; a unit where ``starts_pair`` is true never ends a part."""
    if units <= single:
        return 1
    count = pos = 0
    while units - pos > part:
        end = pos + part
        if starts_pair(end - 1):
            end -= 1  # the pair moves whole to the next part, as SMSCs split
        pos, count = end, count + 1
    return count + 1


def _gsm_septets(text: str) -> tuple[int, Callable[[int], bool]]:
    """Septets of a GSM-7 text, and a test for "this septet starts an escape pair"."""
    septets = text
    for char in _GSM_EXTENSION:
        if char in septets:
            septets = septets.replace(char, _ESC + "x")  # ESC + a placeholder that is never ESC
    if _ESC not in text:
        return len(septets), lambda unit: septets[unit] == _ESC
    # The codec sends a literal U+001B as a bare escape, and an SMSC reading the septet stream pairs
    # every escape with the septet after it. Rare, so the slow exact way.
    leads: set[int] = set()
    i = septets.find(_ESC)
    while i != -1:
        leads.add(i)
        i = septets.find(_ESC, i + 2)
    return len(septets), leads.__contains__


def sms_count(text: str) -> SmsCount:
    """Encoding, units and segments of an SMS body, as Twilio bills it.

    GSM-7 when every character is in the GSM 03.38 basic or extension table, else UCS-2 for the
    whole message. An empty body counts as 1 segment (what providers bill; it must not be sent
    anyway, and an empty body is for the renderer to refuse, not for this count).
    """
    if _NOT_GSM.search(text) is None:
        units, starts_pair = _gsm_septets(text)
        return SmsCount("GSM-7", units, _segments(units, GSM7_SINGLE, GSM7_PART, starts_pair), len(text))
    data = text.encode("utf-16-le", "surrogatepass")
    units = len(data) // 2

    def high_surrogate(unit: int) -> bool:
        return 0xD8 <= data[2 * unit + 1] <= 0xDB

    return SmsCount("UCS-2", units, _segments(units, UCS2_SINGLE, UCS2_PART, high_surrogate), len(text))


# --- graphemes, Mastodon, Bluesky ------------------------------------------------------------------------

_GRAPHEME: Final = regex.compile(r"\X")


def graphemes(text: str) -> int:
    """Extended grapheme clusters (what a reader sees as one character)."""
    return len(_GRAPHEME.findall(text))


def utf8_bytes(text: str) -> int:
    """Length in UTF-8 bytes (lone surrogates, which cannot be sent, count 3 like any BMP code point)."""
    return len(text.encode("utf-8", "surrogatepass"))


MASTODON_URL_CHARS: Final = 23  # characters_reserved_per_url on mastodon.social and by default

# Approximates twitter-text's URL extraction as Mastodon calls it (extract_url_without_protocol: false):
# a protocol, then everything up to whitespace, not preceded by a letter, digit, @, $ or #. Trailing
# sentence punctuation stays outside the URL; a ")" stays inside only when it closes a "(" of the URL
# (Wikipedia-style links). twitter-text also checks the domain; we do not.
_URL: Final = r"(?<![A-Za-z0-9@$#])(?i:https?)://\S+"
# Mastodon's Account::MENTION_RE: @user or @user@domain, not preceded by a word character, = or /.
_MENTION: Final = r"(?<![=/\w])@(?P<user>[A-Za-z0-9_]+(?:[.-]+[A-Za-z0-9_]+)*)(?:@\w+(?:[.-]+\w+)*)?"
_MASTODON_ENTITY: Final = re.compile(f"(?P<url>{_URL})|{_MENTION}")
_URL_TRAILING: Final = ".,;:!?)'\""


def _url_end(url: str) -> int:
    """Where the URL proper ends inside ``url`` (trailing punctuation excluded)."""
    end = len(url)
    while end and url[end - 1] in _URL_TRAILING:
        if url[end - 1] == ")" and url.count("(", 0, end) >= url.count(")", 0, end):
            break
        end -= 1
    return end


def mastodon_length(text: str, *, url_chars: int = MASTODON_URL_CHARS) -> int:
    """Length as Mastodon's StatusLengthValidator counts it.

    Each http(s) URL counts ``url_chars``, whatever its length; ``@user@domain`` counts as ``@user``;
    the rewritten text is counted in grapheme clusters.
    """

    def rewrite(match: re.Match[str]) -> str:
        if match.group("url") is None:
            return "@" + match.group("user")
        url = match.group()
        end = _url_end(url)
        if end <= url.index("://") + 3:
            return url  # a bare "https://" is no URL
        return "x" * url_chars + url[end:]

    return graphemes(_MASTODON_ENTITY.sub(rewrite, text))


def bluesky_length(text: str) -> tuple[int, int]:
    """(grapheme clusters, UTF-8 bytes) of an app.bsky.feed.post text; URLs count in full."""
    return graphemes(text), utf8_bytes(text)


# --- limits as data --------------------------------------------------------------------------------------

GRAPHEMES: Final = "graphemes"
CHARACTERS: Final = "characters"  # code points, len(text)
BYTES: Final = "bytes"  # UTF-8
SEGMENTS: Final = "segments"  # SMS parts, see sms_count()
MASTODON_CHARACTERS: Final = "mastodon characters"  # see mastodon_length()

_COUNTERS: Final[Mapping[str, Callable[[str], int]]] = MappingProxyType(
    {
        GRAPHEMES: graphemes,
        CHARACTERS: len,
        BYTES: utf8_bytes,
        SEGMENTS: lambda text: sms_count(text).segments,
        MASTODON_CHARACTERS: mastodon_length,
    }
)

CONFIGURED: Final = 0
"""``Limit.maximum`` for a limit given at measure time: SMS segments come from ``sms_max_segments``
(``Settings.sms_max_segments``, default 3, which a playbook may lower)."""


@dataclass(frozen=True)
class Limit:
    """``field`` may be at most ``maximum`` long, counted in ``measure``."""

    field: str
    measure: str
    maximum: int

    def __post_init__(self) -> None:
        if self.measure not in _COUNTERS:
            raise ValueError(f"unknown measure {self.measure!r}")
        if self.maximum < 0:
            raise ValueError(f"maximum must be >= 0 (or CONFIGURED), got {self.maximum}")


@dataclass(frozen=True)
class Measurement:
    """One field measured against one limit (``limit`` None: measured, not limited)."""

    channel: Channel
    field: str
    measure: str
    length: int
    limit: int | None
    fits: bool
    sms: SmsCount | None = None


def measure(
    channel: Channel, fields: Mapping[str, str], *, limits: Sequence[Limit], sms_max_segments: int
) -> list[Measurement]:
    """Measure the limited fields present in ``fields`` against ``limits`` (the channel's spec's).

    One Measurement per limit whose field is present. Failing measurements come first, then
    ``limits`` order, so ``result[0]`` is the binding one. Fields without a limit are not measured.
    """
    if sms_max_segments < 1:
        raise ValueError(f"sms_max_segments must be >= 1, got {sms_max_segments}")
    results: list[Measurement] = []
    for limit in limits:
        if limit.field not in fields:
            continue
        text = fields[limit.field]
        maximum = sms_max_segments if limit.maximum == CONFIGURED else limit.maximum
        sms: SmsCount | None = None
        if limit.measure == SEGMENTS:
            sms = sms_count(text)
            length = sms.segments
        else:
            length = _COUNTERS[limit.measure](text)
        fits = length <= maximum
        results.append(Measurement(channel, limit.field, limit.measure, length, maximum, fits, sms))
    return sorted(results, key=lambda m: m.fits)  # stable: failures first, then in order


_NOUNS: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        GRAPHEMES: ("grapheme", "graphemes"),
        CHARACTERS: ("character", "characters"),
        BYTES: ("byte", "bytes"),
        SEGMENTS: ("segment", "segments"),
        MASTODON_CHARACTERS: ("character as Mastodon counts it", "characters as Mastodon counts them"),
    }
)


def _count(n: int, singular: str, plural: str) -> str:
    return f"{n} {singular if n == 1 else plural}"


def describe(m: Measurement) -> str:
    """E.g. ``4 segments (GSM-7, 612 septets), limit 3`` or ``312 graphemes, limit 300``."""
    singular, plural = _NOUNS.get(m.measure, (m.measure, m.measure))
    text = _count(m.length, singular, plural)
    if m.sms is not None:
        units = ("septet", "septets") if m.sms.encoding == "GSM-7" else ("UTF-16 unit", "UTF-16 units")
        text += f" ({m.sms.encoding}, {_count(m.sms.units, *units)})"
    return text + (", no limit" if m.limit is None else f", limit {m.limit}")
