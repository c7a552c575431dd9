"""Lexicon files: the shipped ones load; a broken one names file, line and field; a folder of one's own."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from clarion.errors import InputError
from clarion.surveys.signals import LexiconError, LexiconTagger, Signal
from clarion.surveys.signals.lexicon import LEXICONS, load_lexicon
from tests.helpers import line_of

MINIMAL = {
    "locale": "en",
    "negators": ["not"],
    "signals": {"relief": {"cues": ["phew", "what a relief"]}},
    "contact": ["ring me"],
}


def write(folder: Path, name: str, data: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize("locale", ["en", "de"])
def test_the_shipped_lexicons_load_with_every_signal_and_no_cue_listed_twice(locale: str) -> None:
    lexicon = load_lexicon(LEXICONS / f"{locale}.yaml")
    for signal in Signal:
        cues = [c.cue for c in getattr(lexicon.signals, signal.value).cues]
        assert len(cues) >= 10, signal
        assert len(cues) == len(set(cues)), [c for c in cues if cues.count(c) > 1]
    assert lexicon.contact and lexicon.negators and lexicon.positive and lexicon.negative


def test_a_folder_of_ones_own_lexicons_is_used(tmp_path: Path) -> None:
    write(tmp_path, "en.yaml", MINIMAL)
    tagged = LexiconTagger(tmp_path).tag("Phew. Ring me.", "en")
    assert tagged.signals == (Signal.RELIEF,)
    assert tagged.contact
    assert LexiconTagger(tmp_path).tag("Not phew.", "sv").signals == ()  # sv falls back to en.yaml


@pytest.mark.parametrize(
    ("change", "needle", "problem"),
    [
        (
            {"signals": {"relif": {"cues": ["phew"]}}},
            "relif:",
            "signals.relif: unknown key (did you mean 'relief'?)",
        ),
        (
            {"signals": {"relief": {"cues": ["phew", "ruf* mich ..."]}}},
            "ruf*",
            "signals.relief.cues[1].cue: 'ruf* mich ...': ... stands between two words",
        ),
        ({"signals": {"relief": {"cues": ["a*b"]}}}, "a*b", "signals.relief.cues[0].cue: 'a*b' is not a cue"),
        (
            {"signals": {"relief": {"negated": "sadness"}}},
            "sadness",
            "signals.relief.negated: 'sadness' is not one",
        ),
        (
            {"negation_window": 40},
            "negation_window",
            "negation_window: Input should be less than or equal to 8",
        ),
        ({"locale": "de"}, "locale", "locale: 'de' differs from the file's name 'en.yaml'"),
        ({"contact": [{"cue": "call me", "negate": "relief"}]}, "negate:", "contact[0].negate: unknown key"),
    ],
)
def test_a_broken_lexicon_names_file_line_and_field(
    tmp_path: Path, change: dict[str, object], needle: str, problem: str
) -> None:
    path = write(tmp_path, "en.yaml", {**MINIMAL, **change})
    with pytest.raises(LexiconError) as caught:
        LexiconTagger(tmp_path).tag("Phew.", "en")
    assert f"en.yaml:{line_of(path, needle)}: {problem}" in str(caught.value)


def test_a_folder_without_the_fallback_lexicon_says_which_file_is_missing(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"en\.yaml: file not found"):
        LexiconTagger(tmp_path).tag("Phew.", "fr")
