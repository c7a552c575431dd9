"""Benchmark: how well and how fast the trust-signal tagger tags survey answers (asserts nothing).

    .venv/bin/python bench/trust_signals.py [--repeat 5] [--file tests/clarion/surveys/trust_eval.csv]

1. Quality against answers labelled by people: per signal precision, recall and F1, per language and
   overall; macro-F1 over the five signals; contact precision, recall and F1; polarity accuracy and
   its confusion table (rows: the label, columns: the tagger). Twice: on the evaluation set
   (``trust_eval.csv``, which the lexicons' authors saw while writing them, so its figures flatter
   the tagger) and on the held-out set (``trust_holdout.csv``, 120 answers written by someone who
   never saw the lexicons, and never tuned on: the better estimate of what a team's own answers will
   get). A held-out set that gets tuned on moves into the evaluation set, and a fresh one is written
   blind; while the file holds its header only, every figure reads "no rows". ``--file`` scores one
   file of your own instead.
2. Speed: answers tagged per second on one core, the median of --repeat runs over the set repeated
   to at least 20,000 answers (lexicons compiled before the clock starts).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from clarion.surveys.signals import LexiconTagger, Polarity, Signal
from clarion.surveys.signals.scoring import ALL, Counts, Scores, read_labelled, score

ROOT = Path(__file__).resolve().parent.parent
EVAL_SET = ROOT / "tests" / "clarion" / "surveys" / "trust_eval.csv"
HOLDOUT_SET = ROOT / "tests" / "clarion" / "surveys" / "trust_holdout.csv"
MIN_ANSWERS = 20_000


def _row(name: str, counts: Counts) -> str:
    gold = counts.tp + counts.fn
    return (
        f"  {name:22} {counts.precision:6.2f} {counts.recall:6.2f} {counts.f1:6.2f}"
        f"   {gold:4d} labelled, {counts.tp + counts.fp:4d} tagged"
    )


def print_quality(scores: Scores) -> None:
    for locale in [*scores.locales, ALL]:
        answers = sum(scores.confusion[locale].values())
        print(f"{locale} ({answers} answers)        precision recall     F1")
        for signal in Signal:
            print(_row(signal.value, scores.signals[locale][signal]))
        print(f"  {'macro-F1':22} {'':13} {scores.macro_f1(locale):6.2f}")
        print(_row("contact", scores.contact[locale]))
        print(f"  {'polarity accuracy':22} {scores.polarity_accuracy(locale):6.2f}")
    print("polarity confusion, all (rows: labelled, columns: tagged)")
    names = [p.value for p in Polarity]
    print("  " + " " * 10 + "".join(f"{n:>10}" for n in names))
    for gold in Polarity:
        cells = "".join(f"{scores.confusion[ALL][(gold, got)]:>10}" for got in Polarity)
        print(f"  {gold.value:10}{cells}")


def print_no_rows(locales: list[str]) -> None:
    """The same table for a set with no rows yet (a held-out file waiting for its answers)."""
    for locale in [*locales, ALL]:
        print(f"{locale} (0 answers): no rows")
        for signal in Signal:
            print(f"  {signal.value:22} no rows")
        print(f"  {'macro-F1':22} no rows")
        print(f"  {'contact':22} no rows")
        print(f"  {'polarity accuracy':22} no rows")
    print("polarity confusion, all: no rows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--file", type=Path, default=None, help="a labelled set (CSV) of your own")
    args = parser.parse_args()

    tagger = LexiconTagger()
    sets = [args.file] if args.file else [EVAL_SET, HOLDOUT_SET]
    locales: list[str] = []
    for path in sets:
        print(f"== {path.name}" + (" (held out: never tuned on)" if path == HOLDOUT_SET else ""))
        labelled = read_labelled(path)
        if labelled:
            scores = score(tagger, labelled)
            locales = locales or scores.locales
            print_quality(scores)
        else:
            print_no_rows(locales or ["en", "de"])
    rows = read_labelled(sets[0])
    if not rows:
        print("speed: no rows to time")
        return

    answers = [(row.text, row.locale) for row in rows]
    answers *= -(-MIN_ANSWERS // len(answers))
    for locale in {locale for _, locale in answers}:
        tagger.tag("", locale)  # compile the lexicons before the clock starts
    samples = []
    for _ in range(max(args.repeat, 1)):
        start = time.perf_counter()
        for text, locale in answers:
            tagger.tag(text, locale)
        samples.append(time.perf_counter() - start)
    seconds = statistics.median(samples)
    print(
        f"speed: {len(answers):,} answers, median of {len(samples)}: {seconds:.3f} s, "
        f"{len(answers) / seconds:,.0f} answers/s on one core"
    )


if __name__ == "__main__":
    main()
