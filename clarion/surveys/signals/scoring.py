"""How well a tagger agrees with answers labelled by people: precision, recall, F1, polarity accuracy.

The labelled set is a CSV (``tests/clarion/surveys/trust_eval.csv`` ships one)::

    locale,text,signals,polarity,contact
    en,"Relieved, and thanks for the updates.",relief;appreciation,positive,false

``signals`` is ``;``-separated and may be empty. The bench (``bench/trust_signals.py``) prints the
figures; a test holds the shipped tagger to its thresholds, so a lexicon edit that makes it worse fails.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from clarion.audiences.csvfile import EXTRA, records
from clarion.errors import InputError, Problem, display_path
from clarion.surveys.signals.tags import Polarity, Signal, Tagged, Tagger

COLUMNS = ("locale", "text", "signals", "polarity", "contact")
ALL = "all"
"""The key of figures over every locale."""


@dataclass(frozen=True)
class Labelled:
    """One answer as a person labelled it."""

    line: int
    locale: str
    text: str
    signals: frozenset[Signal]
    polarity: Polarity
    contact: bool


def read_labelled(path: Path) -> list[Labelled]:
    """Every row of a labelled set; :class:`InputError` names the line and column of each bad one."""
    source = display_path(path)
    out: list[Labelled] = []
    problems: list[Problem] = []
    rows = records(path, columns=COLUMNS, aliases={}, required="text", what="labelled set")
    for line, row in rows:
        if EXTRA in row:
            problems.append(Problem(source, line, "", str(row[EXTRA])))
            continue
        missing = [c for c in COLUMNS if row.get(c) is None or (c != "signals" and not row[c])]
        if missing:
            problems += [Problem(source, line, c, "required value is missing") for c in missing]
            continue
        signals = [s.strip() for s in (row["signals"] or "").split(";") if s.strip()]
        if unknown := [s for s in signals if s not in Signal.__members__.values()]:
            choices = ", ".join(Signal)
            problems.append(Problem(source, line, "signals", f"{unknown[0]!r} is not one of {choices}"))
            continue
        if row["polarity"] not in Polarity.__members__.values():
            choices = ", ".join(Polarity)
            problems.append(Problem(source, line, "polarity", f"{row['polarity']!r} is not one of {choices}"))
            continue
        if row["contact"] not in ("true", "false"):
            problems.append(Problem(source, line, "contact", f"{row['contact']!r} is not true or false"))
            continue
        out.append(
            Labelled(
                line=line,
                locale=str(row["locale"]),
                text=str(row["text"]),
                signals=frozenset(Signal(s) for s in signals),
                polarity=Polarity(str(row["polarity"])),
                contact=row["contact"] == "true",
            )
        )
    if problems:
        raise InputError(problems)
    return out


@dataclass
class Counts:
    """True and false positives and false negatives of one yes/no tag."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, gold: bool, predicted: bool) -> None:
        self.tp += gold and predicted
        self.fp += predicted and not gold
        self.fn += gold and not predicted

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Scores:
    """Figures per locale and over all (key :data:`ALL`)."""

    signals: dict[str, dict[Signal, Counts]] = field(default_factory=dict)
    contact: dict[str, Counts] = field(default_factory=dict)
    confusion: dict[str, Counter[tuple[Polarity, Polarity]]] = field(default_factory=dict)
    """(labelled, tagged) polarity pairs, counted."""
    misses: list[tuple[Labelled, Tagged]] = field(default_factory=list)

    @property
    def locales(self) -> list[str]:
        return [k for k in self.contact if k != ALL]

    def macro_f1(self, locale: str = ALL) -> float:
        counts = self.signals[locale]
        return sum(c.f1 for c in counts.values()) / len(counts)

    def polarity_accuracy(self, locale: str = ALL) -> float:
        pairs = self.confusion[locale]
        total = sum(pairs.values())
        return sum(n for (gold, got), n in pairs.items() if gold == got) / total if total else 0.0


def score(tagger: Tagger, rows: Iterable[Labelled]) -> Scores:
    """Tag every row and count agreements, per locale and over all."""
    scores = Scores()
    for row in rows:
        tagged = tagger.tag(row.text, row.locale)
        got = set(tagged.signals)
        for key in (row.locale, ALL):
            per_signal = scores.signals.setdefault(key, {s: Counts() for s in Signal})
            for signal in Signal:
                per_signal[signal].add(signal in row.signals, signal in got)
            scores.contact.setdefault(key, Counts()).add(row.contact, tagged.contact)
            scores.confusion.setdefault(key, Counter())[(row.polarity, tagged.polarity)] += 1
        if got != row.signals or tagged.polarity is not row.polarity or tagged.contact != row.contact:
            scores.misses.append((row, tagged))
    return scores
