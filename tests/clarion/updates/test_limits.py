"""Channel limits and the counting behind them: SMS segments, graphemes, Mastodon, Bluesky."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clarion.channel_table import channel_table, spec_of
from clarion.kinds import Channel
from clarion.updates.limits import (
    BYTES,
    CHARACTERS,
    CONFIGURED,
    GRAPHEMES,
    MASTODON_CHARACTERS,
    SEGMENTS,
    Limit,
    Measurement,
    SmsCount,
    SmsEncoding,
    bluesky_length,
    describe,
    graphemes,
    mastodon_length,
    measure,
    sms_count,
)

EXTENSION = "[]{}\\^~|€\f"
EMOJI = "😀"  # U+1F600: one surrogate pair in UTF-16


def gsm_encodes(text: str) -> bool:
    try:
        text.encode("gsm03.38")
    except UnicodeEncodeError:
        return False
    return True


# --- SMS ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        pytest.param("", "GSM-7", 0, 1, id="empty bills as one segment"),
        pytest.param("a" * 160, "GSM-7", 160, 1, id="gsm 160"),
        pytest.param("a" * 161, "GSM-7", 161, 2, id="gsm 161"),
        pytest.param("a" * 306, "GSM-7", 306, 2, id="gsm 306"),
        pytest.param("a" * 307, "GSM-7", 307, 3, id="gsm 307"),
        pytest.param("€" * 80, "GSM-7", 160, 1, id="euro x80 is 160 septets"),
        pytest.param("€" * 81, "GSM-7", 162, 2, id="euro x81"),
        pytest.param(EXTENSION, "GSM-7", 20, 1, id="every extension char counts 2"),
        pytest.param("a" * 159 + "{", "GSM-7", 161, 2, id="extension char tips over 160"),
        # 152 + 2 + 152 = 306 septets: ceil(306/153) = 2, but the € cannot straddle parts.
        pytest.param("a" * 152 + "€" + "a" * 152, "GSM-7", 306, 3, id="escape pair moves to next part"),
        pytest.param("a" * 151 + "€" + "a" * 153, "GSM-7", 306, 2, id="escape pair that fits stays"),
        pytest.param("éüÄñàÇØåΔ@£$¥_", "GSM-7", 14, 1, id="basic-table letters stay gsm"),
        pytest.param("ça va", "UCS-2", 5, 1, id="lowercase c cedilla is not gsm"),
        pytest.param("down — again", "UCS-2", 12, 1, id="em dash"),
        pytest.param("we’re on it", "UCS-2", 11, 1, id="curly apostrophe"),
        pytest.param("`", "UCS-2", 1, 1, id="backtick is not gsm"),
        pytest.param("ç" * 70, "UCS-2", 70, 1, id="ucs2 70"),
        pytest.param("ç" * 71, "UCS-2", 71, 2, id="ucs2 71"),
        pytest.param("ç" * 134, "UCS-2", 134, 2, id="ucs2 134"),
        pytest.param("ç" * 135, "UCS-2", 135, 3, id="ucs2 135"),
        pytest.param(EMOJI * 35, "UCS-2", 70, 1, id="35 emoji are 70 units"),
        pytest.param(EMOJI * 36, "UCS-2", 72, 2, id="36 emoji"),
        pytest.param("a" * 159 + EMOJI, "UCS-2", 161, 3, id="one emoji switches everything"),
        # 66 + 2 + 66 = 134 units: ceil(134/67) = 2, but the surrogate pair cannot straddle parts.
        pytest.param("ç" + "a" * 65 + EMOJI + "a" * 66, "UCS-2", 134, 3, id="surrogate pair moves"),
        pytest.param("ç" + "a" * 64 + EMOJI + "a" * 67, "UCS-2", 134, 2, id="surrogate pair that fits"),
        # A literal U+001B: the codec sends a bare escape, which pairs with the next septet on the wire.
        pytest.param("\x1b", "GSM-7", 1, 1, id="bare escape"),
        pytest.param("a" * 152 + "\x1b" + "a" * 153, "GSM-7", 306, 3, id="bare escape pairs at boundary"),
    ],
)
def test_sms_count(text: str, encoding: SmsEncoding, units: int, segments: int) -> None:
    assert sms_count(text) == SmsCount(encoding, units, segments, len(text))


def test_every_bmp_character_agrees_with_the_codec() -> None:
    for code in [*range(0xD800), *range(0xE000, 0x10000), 0x1F600, 0x20000]:
        char = chr(code)
        count = sms_count(char)
        try:
            encoded = char.encode("gsm03.38")
        except UnicodeEncodeError:
            assert count.encoding == "UCS-2", hex(code)
        else:
            assert (count.encoding, count.units) == ("GSM-7", len(encoded)), hex(code)


GSM_CHARS = "".join(chr(c) for c in range(0xD800) if gsm_encodes(chr(c)))  # the highest is € (U+20AC)
NON_GSM = "ç—’`ÿ" + EMOJI + "👨‍👩‍👧‍👦漢ё\u0301"

gsm_text = st.text(alphabet=st.sampled_from(GSM_CHARS.replace("\x1b", "")), max_size=500)
any_text = st.text(
    alphabet=st.sampled_from(GSM_CHARS.replace("\x1b", "")) | st.sampled_from(NON_GSM), max_size=400
)


def reference_segments(text: str) -> int:
    """Slow model: per-character widths from the codec (or UTF-16), packed greedily, no char split."""
    if gsm_encodes(text):
        widths, single, part = [len(c.encode("gsm03.38")) for c in text], 160, 153
    else:
        widths, single, part = [len(c.encode("utf-16-le")) // 2 for c in text], 70, 67
    if sum(widths) <= single:
        return 1
    parts, used = 1, 0
    for width in widths:
        if used + width > part:
            parts, used = parts + 1, 0
        used += width
    return parts


@given(any_text)
def test_segments_match_a_per_character_model(text: str) -> None:
    assert sms_count(text).segments == reference_segments(text)


@given(any_text)
def test_encoding_and_units_agree_with_the_codec(text: str) -> None:
    count = sms_count(text)
    assert count.chars == len(text)
    if gsm_encodes(text):
        assert (count.encoding, count.units) == ("GSM-7", len(text.encode("gsm03.38")))
    else:
        assert count.encoding == "UCS-2"
        assert count.units == len(text.encode("utf-16-le")) // 2


@given(gsm_text)
def test_gsm_text_is_always_gsm7(text: str) -> None:
    assert sms_count(text).encoding == "GSM-7"


@given(gsm_text)
def test_gsm_multipart_needs_at_least_ceil_septets(text: str) -> None:
    count = sms_count(text)
    if count.units > 160:
        assert count.segments >= math.ceil(count.units / 153)


@given(any_text, st.sampled_from(GSM_CHARS + NON_GSM))
def test_segments_never_shrink_when_text_grows(text: str, char: str) -> None:
    assert sms_count(text + char).segments >= sms_count(text).segments


# --- graphemes, Mastodon, Bluesky ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", 0, id="empty"),
        pytest.param("abc", 3, id="ascii"),
        pytest.param("👨‍👩‍👧‍👦", 1, id="zwj family"),
        pytest.param("🇩🇪", 1, id="flag"),
        pytest.param("👍🏽", 1, id="skin tone"),
        pytest.param("e\u0301", 1, id="combining acute"),
        pytest.param("नमस्ते", 3, id="devanagari conjunct (Unicode 15.1 rules)"),
        pytest.param("क्षि", 1, id="devanagari ksha + vowel sign"),
        pytest.param("한국어", 3, id="korean precomposed"),
        pytest.param("\u1100\u1161\u11a8", 1, id="korean jamo"),
    ],
)
def test_graphemes(text: str, expected: int) -> None:
    assert graphemes(text) == expected


LONG_URL = "https://status.example.com/incidents/" + "a" * 163


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(LONG_URL, 23, id="200-char url counts 23"),
        pytest.param("http://x.io", 23, id="http"),
        pytest.param("HTTPS://X.IO/a", 23, id="protocol case-insensitive"),
        pytest.param("See https://x.io/a.", 4 + 23 + 1, id="trailing dot stays outside"),
        pytest.param("(https://x.io/a), ok?", 1 + 23 + 6, id="closing paren and comma outside"),
        pytest.param("https://en.wikipedia.org/wiki/Foo_(bar)", 23, id="balanced paren inside"),
        pytest.param('"https://x.io/a"!', 1 + 23 + 2, id="quote and bang outside"),
        pytest.param("x.io/a", 6, id="no protocol no concession"),
        pytest.param("https://", 8, id="bare protocol"),
        pytest.param("foohttps://x.io", 15, id="glued to a word"),
        pytest.param("@alice@mastodon.example.social", 6, id="remote mention counts local part"),
        pytest.param("cc @alice@example.org.", 3 + 6 + 1, id="remote mention then dot"),
        pytest.param("@bob", 4, id="local mention"),
        pytest.param("bob@example.org", 15, id="email address is no mention"),
        pytest.param("https://x.io/@carol@example.org", 23, id="mention inside url"),
        pytest.param("👨‍👩‍👧‍👦 https://x.io", 1 + 1 + 23, id="graphemes around url"),
    ],
)
def test_mastodon_length(text: str, expected: int) -> None:
    assert mastodon_length(text) == expected


def test_mastodon_url_chars_is_configurable() -> None:
    assert mastodon_length("see https://x.io/a", url_chars=30) == 4 + 30


def test_bluesky_length() -> None:
    assert bluesky_length("a" * 300) == (300, 300)
    assert bluesky_length(EMOJI * 300) == (300, 1200)
    assert bluesky_length("👨‍👩‍👧‍👦") == (1, 25)
    assert bluesky_length(LONG_URL) == (200, 200)  # URLs are not shortened


# --- limits as data and measure() ------------------------------------------------------------------------


def test_every_channel_limits_only_fields_it_renders() -> None:
    for spec in channel_table().values():
        assert {limit.field for limit in spec.limits} <= set(spec.fields), spec.name


def test_limit_rejects_unknown_measure_and_negative_maximum() -> None:
    with pytest.raises(ValueError, match="unknown measure"):
        Limit("body", "words", 10)
    with pytest.raises(ValueError, match=">= 0"):
        Limit("body", GRAPHEMES, -1)
    assert Limit("body", SEGMENTS, CONFIGURED).maximum == 0


def m(
    channel: Channel, field: str, measure: str, length: int, limit: int, sms: SmsCount | None = None
) -> Measurement:
    return Measurement(channel, field, measure, length, limit, length <= limit, sms)


COMBINING_HEAVY = ("e" + "\u0301" * 150) * 10  # 10 graphemes, 3010 bytes


@pytest.mark.parametrize(
    ("channel", "fields", "max_segments", "expected"),
    [
        pytest.param(
            Channel.EMAIL,
            {"subject": "é" * 100, "body": "x" * 9999},
            3,
            [m(Channel.EMAIL, "subject", GRAPHEMES, 100, 100)],
            id="email subject 100 fits",
        ),
        pytest.param(
            Channel.EMAIL,
            {"subject": "x" * 101},
            3,
            [m(Channel.EMAIL, "subject", GRAPHEMES, 101, 100)],
            id="email subject 101",
        ),
        pytest.param(Channel.EMAIL, {"body": "x" * 9999}, 3, [], id="email body unlimited"),
        pytest.param(
            Channel.SMS,
            {"body": "a" * 459},
            3,
            [m(Channel.SMS, "body", SEGMENTS, 3, 3, SmsCount("GSM-7", 459, 3, 459))],
            id="sms 3 of 3",
        ),
        pytest.param(
            Channel.SMS,
            {"body": "a" * 459},
            2,
            [m(Channel.SMS, "body", SEGMENTS, 3, 2, SmsCount("GSM-7", 459, 3, 459))],
            id="sms 3 of 2",
        ),
        pytest.param(
            Channel.SMS,
            {"body": "ç" * 70},
            1,
            [m(Channel.SMS, "body", SEGMENTS, 1, 1, SmsCount("UCS-2", 70, 1, 70))],
            id="sms ucs2 1 of 1",
        ),
        pytest.param(
            Channel.MASTODON,
            {"body": "a" * 476 + " " + LONG_URL},
            3,
            [m(Channel.MASTODON, "body", MASTODON_CHARACTERS, 500, 500)],
            id="mastodon 500",
        ),
        pytest.param(
            Channel.MASTODON,
            {"body": "a" * 477 + " " + LONG_URL},
            3,
            [m(Channel.MASTODON, "body", MASTODON_CHARACTERS, 501, 500)],
            id="mastodon 501",
        ),
        pytest.param(
            Channel.BLUESKY,
            {"body": "a" * 300},
            3,
            [m(Channel.BLUESKY, "body", GRAPHEMES, 300, 300), m(Channel.BLUESKY, "body", BYTES, 300, 3000)],
            id="bluesky 300 graphemes",
        ),
        pytest.param(
            Channel.BLUESKY,
            {"body": "a" * 301},
            3,
            [m(Channel.BLUESKY, "body", GRAPHEMES, 301, 300), m(Channel.BLUESKY, "body", BYTES, 301, 3000)],
            id="bluesky 301 graphemes",
        ),
        pytest.param(
            Channel.BLUESKY,
            {"body": EMOJI * 300},
            3,
            [m(Channel.BLUESKY, "body", GRAPHEMES, 300, 300), m(Channel.BLUESKY, "body", BYTES, 1200, 3000)],
            id="bluesky 300 emoji fit",
        ),
        pytest.param(
            Channel.BLUESKY,
            {"body": COMBINING_HEAVY},
            3,
            [m(Channel.BLUESKY, "body", BYTES, 3010, 3000), m(Channel.BLUESKY, "body", GRAPHEMES, 10, 300)],
            id="bluesky bytes bind first",
        ),
        pytest.param(
            Channel.BANNER,
            {"body": "👍🏽" * 300},
            3,
            [m(Channel.BANNER, "body", GRAPHEMES, 300, 300)],
            id="banner 300",
        ),
        pytest.param(
            Channel.BANNER,
            {"body": "x" * 301},
            3,
            [m(Channel.BANNER, "body", GRAPHEMES, 301, 300)],
            id="banner 301",
        ),
        pytest.param(
            Channel.STATUSPAGE,
            {"subject": "x" * 255, "body": "x" * 9999},
            3,
            [m(Channel.STATUSPAGE, "subject", CHARACTERS, 255, 255)],
            id="statuspage title 255",
        ),
        pytest.param(
            Channel.STATUSPAGE,
            {"subject": "e\u0301" * 128},
            3,
            [m(Channel.STATUSPAGE, "subject", CHARACTERS, 256, 255)],
            id="statuspage counts code points",
        ),
    ],
)
def test_measure(
    channel: Channel, fields: dict[str, str], max_segments: int, expected: list[Measurement]
) -> None:
    assert measure(channel, fields, limits=spec_of(channel).limits, sms_max_segments=max_segments) == expected


@pytest.mark.parametrize("bad", [0, -1])
def test_measure_rejects_fewer_than_one_segment(bad: int) -> None:
    with pytest.raises(ValueError, match="sms_max_segments"):
        measure(Channel.BANNER, {"body": "x"}, limits=spec_of(Channel.BANNER).limits, sms_max_segments=bad)


@pytest.mark.parametrize(
    ("measurement", "expected"),
    [
        pytest.param(
            m(Channel.SMS, "body", SEGMENTS, 4, 3, SmsCount("GSM-7", 612, 4, 612)),
            "4 segments (GSM-7, 612 septets), limit 3",
            id="sms gsm",
        ),
        pytest.param(
            m(Channel.SMS, "body", SEGMENTS, 1, 3, SmsCount("UCS-2", 2, 1, 1)),
            "1 segment (UCS-2, 2 UTF-16 units), limit 3",
            id="sms ucs2 singular",
        ),
        pytest.param(
            m(Channel.BLUESKY, "body", GRAPHEMES, 312, 300), "312 graphemes, limit 300", id="graphemes"
        ),
        pytest.param(m(Channel.BLUESKY, "body", BYTES, 1, 3000), "1 byte, limit 3000", id="one byte"),
        pytest.param(
            m(Channel.MASTODON, "body", MASTODON_CHARACTERS, 501, 500),
            "501 characters as Mastodon counts them, limit 500",
            id="mastodon",
        ),
        pytest.param(
            Measurement(Channel.EMAIL, "body", CHARACTERS, 5, None, True),
            "5 characters, no limit",
            id="no limit",
        ),
    ],
)
def test_describe(measurement: Measurement, expected: str) -> None:
    assert describe(measurement) == expected


def test_describe_a_real_measurement() -> None:
    [only] = measure(Channel.SMS, {"body": "a" * 612}, limits=spec_of(Channel.SMS).limits, sms_max_segments=3)
    assert describe(only) == "4 segments (GSM-7, 612 septets), limit 3"
