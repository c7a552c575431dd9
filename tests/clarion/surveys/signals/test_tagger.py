"""The lexicon tagger as a reviewer of survey answers sees it: tags, the words behind them, polarity."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clarion.surveys.signals import Cue, LexiconTagger, Polarity, Signal, Tagged

tagger = LexiconTagger()


def cue_for(tagged: Tagged, tag: str) -> Cue:
    found = [c for c in tagged.cues if c.tag == tag]
    assert len(found) == 1, tagged.cues
    return found[0]


# ── negation ──────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("text", "locale", "negator"),
    [
        ("I no longer trust your platform.", "en", "no longer"),
        ("I don't trust you with our data.", "en", "don't"),
        ("Ich habe kein Vertrauen mehr in Ihre Plattform.", "de", "kein"),
        ("Ich bin nicht zuversichtlich, dass das hält.", "de", "nicht"),
        ("Überzeugt bin ich aber nicht.", "de", "nicht"),  # German negates from behind too
    ],
)
def test_negated_confidence_is_doubt_and_says_which_word_negated_it(
    text: str, locale: str, negator: str
) -> None:
    tagged = tagger.tag(text, locale)
    assert tagged.signals == (Signal.DOUBT,)
    assert tagged.polarity is Polarity.NEGATIVE
    cue = cue_for(tagged, "doubt")
    assert cue.negated_by == negator
    assert cue.negates == "regained_confidence"


@pytest.mark.parametrize(
    ("text", "locale"),
    [
        ("Not relieved at all.", "en"),
        ("Ich bin nicht erleichtert.", "de"),
        ("Nicht wirklich erleichtert.", "de"),
    ],
)
def test_negated_relief_is_no_relief_and_counts_against_the_polarity(text: str, locale: str) -> None:
    tagged = tagger.tag(text, locale)
    assert Signal.RELIEF not in tagged.signals
    assert tagged.polarity is Polarity.NEGATIVE
    assert cue_for(tagged, "negative").negates == "relief"


def test_a_negator_reaches_only_the_next_cue() -> None:
    tagged = tagger.tag("I don't doubt your team worked hard.", "en")
    assert tagged.signals == (Signal.APPRECIATION,)  # "don't" is spent on "doubt"
    assert tagged.polarity is Polarity.POSITIVE


def test_a_negator_does_not_reach_into_the_next_clause() -> None:
    tagged = tagger.tag("Not great, but I trust you again.", "en")
    assert Signal.REGAINED_CONFIDENCE in tagged.signals
    assert Signal.DOUBT not in tagged.signals


def test_a_worry_that_has_passed_is_relief() -> None:
    assert Signal.RELIEF in tagger.tag("I'm not worried anymore.", "en").signals
    assert Signal.RELIEF in tagger.tag("Ich bin nicht mehr beunruhigt.", "de").signals


# ── intensifiers ──────────────────────────────────────────────────────────────────────────────────


def test_an_intensifier_is_named_and_makes_its_cue_weigh_more() -> None:
    plain = tagger.tag("Relieved, though the updates were slow, late and useless.", "en")
    strong = tagger.tag("Extremely relieved, though the updates were slow, late and useless.", "en")
    assert plain.polarity is Polarity.NEGATIVE
    assert strong.polarity is Polarity.MIXED
    assert cue_for(strong, "relief").intensified_by == "Extremely"
    assert cue_for(tagger.tag("Wir sind sehr erleichtert.", "de"), "relief").intensified_by == "sehr"


# ── German inflection and compounds ───────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("text", "signal"),
    [
        ("Was für eine Erleichterung!", Signal.RELIEF),
        ("Wir sind alle erleichtert.", Signal.RELIEF),
        ("Ich vertraue Ihnen wieder.", Signal.REGAINED_CONFIDENCE),
        ("Ihr Bericht hat unser Vertrauen gestärkt.", Signal.REGAINED_CONFIDENCE),
        ("Wir sind zuversichtlich.", Signal.REGAINED_CONFIDENCE),
        ("Ich zweifle daran.", Signal.DOUBT),
        ("Es bleiben Zweifel.", Signal.DOUBT),
        ("Vielen Dank an alle!", Signal.APPRECIATION),
        ("Wir sind sehr dankbar.", Signal.APPRECIATION),
        ("Typisch, wie immer.", Signal.CYNICISM),
    ],
)
def test_german_inflections_are_matched_through_stems(text: str, signal: Signal) -> None:
    assert signal in tagger.tag(text, "de").signals


# ── cues point into the text as written ───────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("text", "tag", "words"),
    [
        ("Straße gesperrt, Maßnahmen ﬁne, trotzdem sind wir erleichtert.", "relief", "erleichtert"),
        ("Großes Lob an das Team.", "appreciation", "Großes Lob"),
        ("Cafe\u0301 closed all day; RELIEVED it’s back.", "relief", "RELIEVED"),
        ("Thank you for nothing.", "cynicism", "Thank you for nothing"),
    ],
)
def test_cue_offsets_point_at_the_words_in_the_original_text(text: str, tag: str, words: str) -> None:
    tagged = tagger.tag(text, "de" if "Lob" in text or "Straße" in text else "en")
    cue = cue_for(tagged, tag)
    assert cue.cue == words
    assert text[cue.start : cue.end] == words
    for every in tagged.cues:
        assert text[every.start : every.end] == every.cue


# ── contact ───────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("text", "locale"),
    [
        ("Please call me.", "en"),
        ("I want to talk to someone about this.", "en"),
        ("Could someone get in touch with me?", "en"),
        ("Ruft mich bitte an.", "de"),
        ("Bitte rufen Sie mich morgen früh zurück.", "de"),
        ("Bitte um Rückruf.", "de"),
        ("Könnte sich jemand bei mir melden?", "de"),
    ],
)
def test_a_request_for_a_person_is_contact(text: str, locale: str) -> None:
    tagged = tagger.tag(text, locale)
    assert tagged.contact
    assert cue_for(tagged, "contact").cue in text


@pytest.mark.parametrize(
    ("text", "locale"),
    [
        ("Thanks for the call yesterday.", "en"),
        ("No need to contact me.", "en"),
        ("Don't call me, just fix it.", "en"),
        ("Ruft mich nicht an.", "de"),  # the negator stands inside the separable verb
        ("Das Telefonat gestern hat geholfen.", "de"),
    ],
)
def test_mentioning_a_call_or_refusing_one_is_no_contact(text: str, locale: str) -> None:
    assert not tagger.tag(text, locale).contact


# ── polarity, fallback, JSON ──────────────────────────────────────────────────────────────────────


def test_polarity_follows_what_the_answer_says() -> None:
    assert tagger.tag("The outage lasted two hours for our region.", "en") == Tagged(
        (), Polarity.NEUTRAL, False
    )
    mixed = tagger.tag("Thanks for the updates, but I'm worried it will happen again.", "en")
    assert mixed.signals == (Signal.DOUBT, Signal.APPRECIATION)
    assert mixed.polarity is Polarity.MIXED
    sarcastic = tagger.tag("Thanks for nothing. Really great service.", "en")
    assert sarcastic.signals == (Signal.CYNICISM,)
    assert sarcastic.polarity is Polarity.NEGATIVE  # praise words under cynicism are not counted


def test_an_unknown_locale_falls_back_to_english_and_a_region_uses_its_language() -> None:
    assert tagger.tag("So relieved!", "fr").signals == (Signal.RELIEF,)
    assert tagger.tag("So relieved!", "").signals == (Signal.RELIEF,)
    assert tagger.tag("Ich bin erleichtert.", "de-AT").signals == (Signal.RELIEF,)
    assert tagger.tag("Ich bin erleichtert.", "fr").signals == ()  # English cues do not know German


def test_to_json_names_each_tag_and_its_cue() -> None:
    tagged = tagger.tag("Very relieved, no longer trust you. Call me.", "en")
    assert tagged.to_json() == {
        "signals": ["doubt", "relief"],
        "polarity": "mixed",
        "contact": True,
        "cues": [
            {"tag": "relief", "cue": "relieved", "start": 5, "end": 13, "intensified_by": "Very"},
            {
                "tag": "doubt",
                "cue": "trust",
                "start": 25,
                "end": 30,
                "negated_by": "no longer",
                "negates": "regained_confidence",
            },
            {"tag": "contact", "cue": "Call me", "start": 36, "end": 43},
        ],
    }


PIECES = ["relieved", "Erleichterung", "nicht", "not", "ß", "ﬁ", "e\u0301", "İ", " ", ", ", "Danke", "’"]
"""Cues, negators, and characters that fold to more or fewer characters than they are."""


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(PIECES) | st.text(max_size=8),
        max_size=12,
    ),
    st.sampled_from(["en", "de", "xx"]),
)
def test_every_cue_of_any_text_is_the_slice_it_points_at(parts: list[str], locale: str) -> None:
    text = "".join(parts)
    for cue in tagger.tag(text, locale).cues:
        assert text[cue.start : cue.end] == cue.cue
        assert cue.start < cue.end
