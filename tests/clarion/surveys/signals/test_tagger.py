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


# ── sarcasm ───────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("text", "locale", "quoted"),
    [
        ("Oh sure, 'an isolated glitch'. Of course it was.", "en", "'an isolated glitch'"),
        ("Klar, „bedauerlicher Einzelfall“. Natürlich.", "de", "„bedauerlicher Einzelfall“"),
        ("Your email promised 'no customer impact'? We lost a day of sales.", "en", "'no customer impact'"),
    ],
)
def test_scare_quotes_around_a_company_phrase_read_as_cynicism(text: str, locale: str, quoted: str) -> None:
    tagged = tagger.tag(text, locale)
    assert Signal.CYNICISM in tagged.signals
    assert tagged.polarity is Polarity.NEGATIVE
    quote = [c for c in tagged.cues if c.cue == quoted]
    assert [c.tag for c in quote] == ["cynicism"]
    assert text[quote[0].start : quote[0].end] == quoted


def test_the_words_inside_mocking_quotes_are_not_the_customers_own() -> None:
    tagged = tagger.tag("Yeah right, 'we are relieved to report full recovery'.", "en")
    assert tagged.signals == (Signal.CYNICISM,)  # the quoted "relieved" is the company's, mocked


@pytest.mark.parametrize(
    ("text", "locale"),
    [
        ("The dashboard showed 'partial outage' the whole afternoon.", "en"),
        ("Sure, I trust you again. The 'new' dashboard is nice.", "en"),  # the assent is in earnest
        ("Die Mail mit dem Betreff „Wartung“ kam pünktlich.", "de"),
    ],
)
def test_quotes_without_irony_are_no_cynicism(text: str, locale: str) -> None:
    assert Signal.CYNICISM not in tagger.tag(text, locale).signals


@pytest.mark.parametrize(
    ("text", "locale", "words"),
    [
        ("Thanks for the outage.", "en", "Thanks for the outage"),
        ("Vielen Dank für den Ausfall!", "de", "Dank für den Ausfall"),
    ],
)
def test_thanks_for_an_incident_is_sarcasm(text: str, locale: str, words: str) -> None:
    tagged = tagger.tag(text, locale)
    assert tagged.signals == (Signal.CYNICISM,)
    cue = cue_for(tagged, "cynicism")
    assert (cue.cue, cue.negates) == (words, "appreciation")
    assert text[cue.start : cue.end] == words


@pytest.mark.parametrize(
    ("text", "locale"),
    [
        ("Thanks for fixing the outage so quickly.", "en"),
        ("Thanks for the outage notifications, they were clear.", "en"),
        ("Vielen Dank für die schnelle Behebung des Ausfalls.", "de"),
    ],
)
def test_thanks_for_handling_an_incident_stays_thanks(text: str, locale: str) -> None:
    tagged = tagger.tag(text, locale)
    assert tagged.signals == (Signal.APPRECIATION,)
    assert tagged.polarity is Polarity.POSITIVE


@pytest.mark.parametrize(
    ("text", "locale", "praise"),
    [
        ("Fifth outage this month. Well done!", "en", "Well done"),
        ("Zum dritten Mal in diesem Monat. Toll gemacht!", "de", "Toll gemacht"),
    ],
)
def test_bare_praise_beside_a_cynical_sentence_is_sarcasm(text: str, locale: str, praise: str) -> None:
    tagged = tagger.tag(text, locale)
    assert tagged.signals == (Signal.CYNICISM,)
    assert tagged.polarity is Polarity.NEGATIVE
    turned = [c for c in tagged.cues if c.cue == praise]
    assert [(c.tag, c.negates) for c in turned] == [("cynicism", "appreciation")]
    assert turned[0].negated_by  # names the cynical words that turned it


def test_praise_after_a_cynical_aside_in_a_sentence_of_its_own_words_stays_praise() -> None:
    tagged = tagger.tag("Typical timing. Thanks to everyone who stayed late to fix it.", "en")
    assert tagged.signals == (Signal.CYNICISM, Signal.APPRECIATION)


@pytest.mark.parametrize(
    ("text", "locale"),
    [
        ("Great job taking the whole checkout down on a Friday.", "en"),
        ("Super gemacht, wirklich nicht.", "de"),
        ("Another week, another breach.", "en"),
        ("Neue Woche, neue Panne.", "de"),
        ("Color me amazed.", "en"),
        ("Wer hätte es gedacht: die Anmeldung hängt.", "de"),
    ],
)
def test_common_sarcastic_turns_are_cynicism(text: str, locale: str) -> None:
    tagged = tagger.tag(text, locale)
    assert Signal.CYNICISM in tagged.signals
    assert Signal.APPRECIATION not in tagged.signals


# ── doubt phrasing ────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("text", "locale"),
    [
        ("Is our billing data safe?", "en"),
        ("I wonder whether anyone there tested the failover.", "en"),
        ("Why would I trust the next status update?", "en"),
        ("We are seriously looking at a competitor now.", "en"),
        ("Sind unsere Kundendaten überhaupt noch sicher?", "de"),
        ("Ich frage mich, ob das jemand getestet hat.", "de"),
        ("Kann ich Ihnen noch trauen?", "de"),
        ("Wir schauen uns bei der Konkurrenz um.", "de"),
    ],
)
def test_questions_about_safety_and_thoughts_of_leaving_are_doubt(text: str, locale: str) -> None:
    tagged = tagger.tag(text, locale)
    assert tagged.signals == (Signal.DOUBT,)
    assert tagged.polarity is Polarity.NEGATIVE


@pytest.mark.parametrize(
    ("text", "locale"),
    [
        ("I'm not sure I can trust your status page.", "en"),  # the "not" of "not sure" reaches "trust"
        ("Ich bin immer noch nicht überzeugt von der Lösung.", "de"),
        ("I don't trust you anymore.", "en"),  # "anymore" does not cancel "don't"
        ("Ihren Zusagen traue ich nicht.", "de"),  # trauen, negated from behind
    ],
)
def test_a_negator_inside_a_doubt_or_behind_trust_keeps_it_doubt(text: str, locale: str) -> None:
    tagged = tagger.tag(text, locale)
    assert tagged.signals == (Signal.DOUBT,)
    assert tagged.polarity is Polarity.NEGATIVE


# ── contact, German word order ────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Rufen Sie mich bitte heute noch unter meiner Handynummer an.", "Rufen Sie mich"),
        ("Melden Sie sich bitte bei mir, sobald Sie mehr wissen.", "Melden Sie sich"),
        ("Schreiben Sie mir bitte eine kurze Mail.", "Schreiben Sie mir"),
        ("Ich möchte mit jemandem aus Ihrer Technik sprechen.", "mit jemandem aus Ihrer Technik sprechen"),
        ("Können Sie mich morgen kontaktieren?", "mich morgen kontaktieren"),
        ("Lassen Sie mich bitte über die Hotline von Ihrem Team kontaktieren.", "kontaktieren"),
    ],
)
def test_a_german_contact_request_with_a_separable_verb_or_long_gap_is_contact(text: str, words: str) -> None:
    tagged = tagger.tag(text, "de")
    assert tagged.contact
    assert cue_for(tagged, "contact").cue == words


@pytest.mark.parametrize(
    ("text", "locale"),
    [
        ("Please don't phone me about this ever again.", "en"),
        ("Kontaktieren Sie mich bitte nicht mehr.", "de"),
        ("Rufen Sie mich nicht an.", "de"),
    ],
)
def test_a_refused_contact_is_no_contact_and_reads_negative(text: str, locale: str) -> None:
    tagged = tagger.tag(text, locale)
    assert not tagged.contact
    assert tagged.polarity is Polarity.NEGATIVE
    assert cue_for(tagged, "negative").negates == "contact"


def test_no_need_for_a_call_is_no_contact_and_no_complaint() -> None:
    tagged = tagger.tag("No need to call me, all sorted.", "en")
    assert not tagged.contact
    assert tagged.polarity is Polarity.POSITIVE


@pytest.mark.parametrize(
    ("text", "locale"),
    [
        ("Call me when you've actually fixed it.", "en"),
        ("Rufen Sie mich an, wenn Sie tatsächlich wissen, woran es lag.", "de"),
    ],
)
def test_a_request_in_a_cynical_sentence_is_a_jibe_not_contact(text: str, locale: str) -> None:
    tagged = tagger.tag(text, locale)
    assert not tagged.contact
    assert tagged.signals == (Signal.CYNICISM,)


@pytest.mark.parametrize(
    ("text", "locale"),
    [("Can somebody email me the incident report? Thanks.", "en"), ("Bitte um Rückruf, danke.", "de")],
)
def test_a_bare_thanks_closing_a_contact_request_is_courtesy(text: str, locale: str) -> None:
    tagged = tagger.tag(text, locale)
    assert tagged.contact
    assert tagged.signals == (Signal.APPRECIATION,)
    assert tagged.polarity is Polarity.NEUTRAL


# ── polarity from general sentiment words ─────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("text", "locale"),
    [
        ("Frustrating to be kept waiting with no response.", "en"),
        ("Honestly fed up. Our dashboards went down twice.", "en"),
        ("The root cause write-up was weak and inconsistent.", "en"),
        ("Das war ärgerlich, wir haben einen Tag Umsatz verloren.", "de"),
        ("Die Erklärung war dürftig und widersprüchlich.", "de"),
        ("Ich bin ziemlich frustriert.", "de"),
    ],
)
def test_general_complaint_words_make_an_answer_without_signals_negative(text: str, locale: str) -> None:
    tagged = tagger.tag(text, locale)
    assert tagged.signals == ()
    assert tagged.polarity is Polarity.NEGATIVE


def test_a_loss_that_was_only_feared_does_not_count_against_relief() -> None:
    tagged = tagger.tag("So relieved, I thought we had lost the whole customer list.", "en")
    assert tagged.signals == (Signal.RELIEF,)
    assert tagged.polarity is Polarity.POSITIVE
    assert cue_for(tagged, "positive").negated_by == "thought we had"


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
