"""Sarcasm and other turns that single cues miss: the rules the tagger applies after matching.

Each rule names the words that fired it, like any cue:

* **scare quotes**: words in quotes beside ironic assent ("Sure, 'a minor glitch'.") or asked back
  ("you call this a 'minor glitch'?") are the company's words, mocked: cynicism, and the cues inside
  the quotes are not the customer's own;
* **thanks for the damage**: a thanks whose clause ends, at most two words on, in an incident
  ("thanks for the outage.", "Danke fürs Datenleck.") is sarcasm;
* **praise beside cynicism**: a sentence of bare praise ("Impressive, really.", "Super gemacht.") in an
  answer whose other sentences are cynical is sarcasm too;
* **a jibe is no request**: "call me when you actually know" asks for nobody's call.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, replace
from itertools import pairwise

from clarion.surveys.signals.tags import CONTACT, Cue, Signal

Span = tuple[int, int]

_QUOTED = re.compile(
    r"(?<!\w)'(?=\S)[^'\n]{1,80}?(?<=\S)'(?!\w)"  # 'words' (an apostrophe inside a word does not close)
    r'|"(?=\S)[^"\n]{1,80}?(?<=\S)"'
    r'|„[^"„\n]{1,80}?"'  # „Wörter“ folds to „Wörter"
    r"|«[^»\n]{1,80}?»|»[^«\n]{1,80}?«"
)
_ASKED_BACK = re.compile(r"\s*\?")
_SENTENCE_END = re.compile(r"[.!?\n]+")
_CLAUSE_END = re.compile(r"\s*(?:[.!?;:,)\n]|$)")
_WORDS = re.compile(r"\w+")
BARE_PRAISE_WORDS = 4
"""A sentence of at most this many words that only praises reads as sarcasm beside cynicism."""
THANKS_REACH = 2
"""Words that may stand between a thanks and the incident it sarcastically thanks for."""
CYNICISM = Signal.CYNICISM.value
APPRECIATION = Signal.APPRECIATION.value


@dataclass
class Entry:
    """A cue with its weight and its span in the folded text, while the rules may still change it."""

    cue: Cue
    weight: float
    start: int
    end: int


def _overlaps(a: Span, b: Span) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def scare_quotes(
    folded: str, ironic: list[Span], sincere: list[Span], sentences: Sentences
) -> tuple[list[Span], list[Span]]:
    """The quoted spans the answer mocks, and the ironic words that show it (none when none are).

    An ironic word counts in the quote's sentence or the one before or after it, and not in a sentence
    that says something in earnest outside the quotes (``sincere`` cues: "Sure, I trust you again" is
    no irony, and "not sure" is doubt).
    """
    quotes = [(m.start(), m.end()) for m in _QUOTED.finditer(folded)]
    if not quotes:
        return [], []
    earnest = {
        sentences.of(start)
        for start, end in sincere
        if not any(q[0] <= start and end <= q[1] for q in quotes)
    }
    markers = [
        s for s in ironic if sentences.of(s[0]) not in earnest and not any(_overlaps(s, q) for q in quotes)
    ]
    mocked: list[Span] = []
    used: set[Span] = set()
    for quote in quotes:
        near = [m for m in markers if abs(sentences.of(m[0]) - sentences.of(quote[0])) <= 1]
        if near or _ASKED_BACK.match(folded, quote[1]):
            mocked.append(quote)
            used.update(near)
    return mocked, sorted(used)


def thanks_for_damage(folded: str, thanks: Entry, incidents: list[Span]) -> Span | None:
    """The span from ``thanks`` to the incident it thanks for, when that ends the clause."""
    for start, end in incidents:
        if start < thanks.end:
            continue
        between = folded[thanks.end : start]
        if re.search(r"[.!?;:,\n]", between) or len(_WORDS.findall(between)) > THANKS_REACH:
            return None
        return (thanks.start, end) if _CLAUSE_END.match(folded, end) else None
    return None


class Sentences:
    """Which sentence of the folded text a position is in, and how many words each has."""

    def __init__(self, folded: str) -> None:
        self.ends = [m.end() for m in _SENTENCE_END.finditer(folded)]
        bounds = [0, *self.ends, len(folded)]
        self.words = [len(_WORDS.findall(folded, a, b)) for a, b in pairwise(bounds)]

    def of(self, index: int) -> int:
        return bisect_right(self.ends, index)


def turn_sarcastic(entries: list[Entry], sentences: Sentences) -> None:
    """Bare praise in a sentence of its own beside a cynical one is sarcasm; a request for contact in a
    cynical sentence is a jibe. Changes ``entries`` in place."""
    cynical = [e for e in entries if e.cue.tag == CYNICISM]
    if not cynical:
        return
    for entry in entries:
        here = sentences.of(entry.start)
        others = [c for c in cynical if sentences.of(c.start) != here]
        praise = entry.cue.tag == APPRECIATION and entry.cue.negated_by is None
        if praise and others and sentences.words[here] <= BARE_PRAISE_WORDS and len(others) == len(cynical):
            entry.cue = replace(entry.cue, tag=CYNICISM, negated_by=others[0].cue.cue, negates=APPRECIATION)
    entries[:] = [
        e
        for e in entries
        if not (e.cue.tag == CONTACT and any(sentences.of(c.start) == sentences.of(e.start) for c in cynical))
    ]
