"""The labelled evaluation set is well formed, and the shipped tagger holds its quality thresholds.

The thresholds are about quality, never speed (``bench/trust_signals.py`` prints both). The set was
written before the lexicons, from what each answer means; a lexicon edit that makes the tagger agree
less with people fails here.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from clarion.errors import InputError
from clarion.surveys.signals import LexiconTagger, Polarity, Signal
from clarion.surveys.signals.scoring import ALL, Counts, read_labelled, score

EVAL_SET = Path(__file__).resolve().parent.parent / "trust_eval.csv"
MACRO_F1 = 0.75
POLARITY_ACCURACY = 0.85


def test_the_eval_set_is_well_formed_and_covers_every_label_in_both_languages() -> None:
    rows = read_labelled(EVAL_SET)
    assert len(rows) >= 200
    assert len({row.text for row in rows}) == len(rows), "an answer is listed twice"
    for locale in ("en", "de"):
        mine = [row for row in rows if row.locale == locale]
        assert len(mine) >= 100, locale
        signals = Counter(s for row in mine for s in row.signals)
        assert {s: signals[s] for s in Signal if signals[s] < 15} == {}, locale
        polarities = Counter(row.polarity for row in mine)
        assert {p: polarities[p] for p in Polarity if polarities[p] < 10} == {}, locale
        assert sum(row.contact for row in mine) >= 10, locale
        assert sum(not row.signals for row in mine) >= 10, locale  # answers with no signal at all


def test_the_lexicon_tagger_agrees_with_the_labels() -> None:
    scores = score(LexiconTagger(), read_labelled(EVAL_SET))
    for locale in ("en", "de", ALL):
        assert scores.macro_f1(locale) >= MACRO_F1, (locale, scores.macro_f1(locale))
    assert scores.polarity_accuracy() >= POLARITY_ACCURACY, scores.polarity_accuracy()


def test_counts_give_precision_recall_and_f1() -> None:
    counts = Counts()
    for gold, predicted in [(True, True), (True, True), (False, True), (True, False), (False, False)]:
        counts.add(gold, predicted)
    assert (counts.tp, counts.fp, counts.fn) == (2, 1, 1)
    assert counts.precision == pytest.approx(2 / 3)
    assert counts.recall == pytest.approx(2 / 3)
    assert counts.f1 == pytest.approx(2 / 3)
    assert Counts().f1 == 0.0


def test_a_bad_labelled_row_names_its_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "set.csv"
    path.write_text(
        "locale,text,signals,polarity,contact\n"
        "en,Fine.,,positive,false\n"
        "en,Phew.,relif,positive,false\n"
        "de,Puh.,relief,glad,false\n"
        "de,,relief,positive,nope\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as caught:
        read_labelled(path)
    text = str(caught.value)
    assert "set.csv:3: signals: 'relif' is not one of doubt" in text
    assert "set.csv:4: polarity: 'glad' is not one of positive" in text
    assert "set.csv:5: text: required value is missing" in text
