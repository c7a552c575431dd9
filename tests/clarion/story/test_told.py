"""Which part a rendition's text leaves out, one sentence each."""

from __future__ import annotations

from clarion.story.told import as_read, untold

LINK = "https://status.example/i/1"
ALL = {"apology": "Sorry.", "cause": "A bad change.", "fix": "Rolled back.", "prevention": "A review."}


def test_a_text_with_all_four_parts_carries_them() -> None:
    assert untold("sms/en", ALL, pointed=(), expected={}, link=LINK) == []


def test_each_missing_part_is_named_with_its_channel_and_locale() -> None:
    blocks = {"apology": "Sorry.", "fix": ""}
    assert untold("sms/en", blocks, pointed=(), expected={}, link=LINK) == [
        "sms/en: cause missing",
        "sms/en: fix missing",
        "sms/en: prevention missing",
    ]


def test_a_part_left_to_a_pointer_counts_only_when_the_pointer_shows_the_link() -> None:
    blocks = {"apology": "Sorry.", "cause": "Why.", "fix": "Fixed.", "pointers": f"What we change: {LINK}"}
    assert untold("banner/en", blocks, pointed={"prevention"}, expected={}, link=LINK) == []
    blocks["pointers"] = "What we change: see our website"
    assert untold("banner/en", blocks, pointed={"prevention"}, expected={}, link=LINK) == [
        f"banner/en: prevention missing (left to the pointer, but no pointer to {LINK} is shown)"
    ]


def test_a_known_part_must_show_the_facts_words() -> None:
    expected = {"cause": ("A configuration change removed a check.", "A config change.")}
    blocks = {**ALL, "cause": "Cause: still investigating."}
    assert untold("sms/de", blocks, pointed=(), expected=expected, link=LINK) == [
        "sms/de: cause does not show the cause the facts tell (its text or short form)"
    ]
    blocks["cause"] = "Cause: A config change."
    assert untold("sms/de", blocks, pointed=(), expected=expected, link=LINK) == []


def test_text_is_compared_as_read() -> None:
    assert as_read("<p>Tom &amp; Jerry\n  were   here</p>", markup=True) == "Tom & Jerry were here"
    assert as_read("a <b> c", markup=False) == "a <b> c"
    assert as_read("&lt;b&gt;", markup=True) == "<b>"
