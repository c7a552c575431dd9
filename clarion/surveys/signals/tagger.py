"""The lexicon tagger: transparent, offline, and fast enough to tag a survey's answers as they arrive.

For one answer, in its locale's compiled lexicon (:mod:`.lexicon`):

1. the text is folded (NFKC, case-folded, plain quotes) into a copy whose every character knows
   where it came from, so a cue's offsets point into the text as written;
2. every tag's cues are matched; where cues overlap the longer wins ("thank you for nothing" is
   cynicism, not thanks), and phrases the lexicon says to ``ignore`` ("would appreciate") hide cues;
3. a negator at most ``negation_window`` words before a cue, in the same clause, flips it to another
   signal or cancels it ("no longer trust" is doubt; "not relieved" is no relief, and counts against
   the polarity); German also negates from behind ("überzeugt bin ich nicht"); the "not" of a doubt
   ("not sure") reaches on ("not sure I can trust" is doubt twice);
4. an intensifier just before a cue makes it weigh more ("very relieved");
5. sarcasm (:mod:`.sarcasm`): mocking scare quotes, thanks for an incident, and bare praise beside a
   cynical sentence count as cynicism; a request for contact inside a cynical sentence is a jibe, and
   a refused one ("don't call me") counts against the polarity;
6. the polarity weighs the signals and the sentiment words: nothing either way is neutral, good and
   bad of similar weight are mixed. Under cynicism, plain praise words are not counted: "really great
   service" after "thanks for losing our orders" is sarcasm. A bare "thanks" closing a request for
   contact is courtesy and moves nothing.

An unknown locale falls back to English, the lexicon of the most answers; ``de-AT`` reads ``de``.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Iterable
from pathlib import Path

from clarion.surveys.signals.lexicon import (
    CONTRAST,
    COURTESY,
    IGNORE,
    INCIDENT,
    INTENSIFIER,
    IRONIC,
    LEXICONS,
    NEGATOR,
    NEGATOR_AFTER,
    QUOTES,
    Compiled,
    Key,
    compiled,
    fold,
    lexicon_path,
)
from clarion.surveys.signals.matcher import Found
from clarion.surveys.signals.sarcasm import Entry, Sentences, scare_quotes, thanks_for_damage, turn_sarcastic
from clarion.surveys.signals.tags import (
    CONTACT,
    NEGATIVE,
    POSITIVE,
    Cue,
    Polarity,
    Signal,
    Tagged,
    ordered,
)

MIXED_RATIO = 0.5
"""Good and bad both count, and the lesser weighs at least this share of the greater: mixed."""
INTENSIFIED = 1.5
"""The weight of a cue after an intensifier ("very relieved"); a plain cue weighs 1."""
NEGATED = 0.75
"""The weight of a negated cue that only moves the polarity ("not bad" is weaker than "good")."""
INTENSIFIER_REACH = 1
"""Words that may stand between an intensifier and its cue ("so very relieved")."""

_BREAK = re.compile(r"[.!?;:,()\n]")
_BREAK_BEFORE = re.compile(r"\w[^.!?;:,()\n\w]*\Z")
"""Words after the last break before a position: it does not start a clause."""
_CLAUSE_END = re.compile(r"\s*(?:[.!?;:,()\n]|$)")
_WORDS = re.compile(r"\w+")
_SIGNALS = {s.value: s for s in Signal}


def fold_with_offsets(text: str) -> tuple[str, list[int] | None, list[int] | None]:
    """The folded text, and for each of its characters the start and end of the original character
    (cluster with its combining marks) it came from; None, None when they are the same positions."""
    if text.isascii():
        return text.lower(), None, None
    folded = unicodedata.normalize("NFKC", text).casefold()
    if len(folded) == len(text) and unicodedata.is_normalized("NFKC", text):
        return folded.translate(QUOTES), None, None  # one character for one: no map needed
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    begin = 0
    for index in range(1, len(text) + 1):
        if index < len(text) and unicodedata.combining(text[index]):
            continue
        piece = fold(text[begin:index])
        out.append(piece)
        starts.extend([begin] * len(piece))
        ends.extend([index] * len(piece))
        begin = index
    return "".join(out), starts, ends


class LexiconTagger:
    """Tags answers with the cue lexicons in ``lexicons`` (the shipped ones by default).

    Lexicons are read and compiled on first use of a locale and cached; a broken file raises
    :class:`~.lexicon.LexiconError` naming file, line and field. An unknown locale uses ``en``.
    """

    def __init__(self, lexicons: Path | None = None) -> None:
        self.folder = lexicons or LEXICONS
        self._by_locale: dict[str, Compiled] = {}

    def lexicon(self, locale: str) -> Compiled:
        found = self._by_locale.get(locale)
        if found is None:
            found = self._by_locale[locale] = compiled(lexicon_path(self.folder, locale))
        return found

    def tag(self, text: str, locale: str) -> Tagged:
        lexicon = self.lexicon(locale)
        folded, starts, ends = fold_with_offsets(text)
        return _Tagging(text, folded, starts, ends, lexicon).run()


class _Tagging:
    """One answer being tagged: the folded text and what the lexicon found in it."""

    def __init__(
        self, text: str, folded: str, starts: list[int] | None, ends: list[int] | None, lexicon: Compiled
    ) -> None:
        self.text, self.folded, self.lexicon = text, folded, lexicon
        self.starts, self.ends = starts, ends
        self.words = [m.start() for m in _WORDS.finditer(folded)]
        self.found: dict[str, list[Found[Key]]] = {}
        for found in lexicon.matcher.find(folded):
            self.found.setdefault(found.key[0], []).append(found)
        self.negators = self._spans(NEGATOR)
        self.after = self._spans(NEGATOR_AFTER)
        self.boosts = self._spans(INTENSIFIER)
        self.contrasts = [start for start, _ in self._spans(CONTRAST)]
        self.ignored = self._spans(IGNORE)

    def _spans(self, key: str) -> list[tuple[int, int]]:
        """Where the function words ``key`` stand, longest first where they overlap, in text order."""
        spans: list[tuple[int, int]] = []
        for found in sorted(self.found.get(key, ()), key=lambda f: (f.start, -f.end)):
            if not spans or found.start >= spans[-1][1]:
                spans.append((found.start, found.end))
        return spans

    def _cues(self, tags: Iterable[str]) -> list[Found[Key]]:
        return [
            f
            for tag in tags
            for f in self.found.get(tag, ())
            if not any(f.start < e and s < f.end for s, e in self.ignored)
        ]

    def run(self) -> Tagged:
        rules = self.lexicon.rules
        found = self._cues(t for t in rules if t != CONTACT)
        sincere = [(f.start, f.end) for f in found if f.key[0] in _SIGNALS and f.key[0] != Signal.CYNICISM]
        sentences = Sentences(self.folded)
        mocked, ironic = scare_quotes(self.folded, self._spans(IRONIC), sincere, sentences)
        if mocked:  # the company's words, quoted to mock them: not the customer's own cues
            found = [f for f in found if not any(s <= f.start and f.end <= e for s, e in mocked + ironic)]
        hits = _resolve(found)
        hits += _resolve(self._cues([CONTACT]))
        entries: list[Entry] = []
        used: set[tuple[int, int]] = set()  # a negator reaches one cue: "don't doubt you worked hard"
        for hit in sorted(hits, key=lambda h: h.start):
            tag, index = hit.key
            rule = rules[tag]
            negator = self._negator(hit, rule.gapped[index])
            if negator in used:
                if tag == CONTACT and any(e.start < hit.end and hit.start < e.end for e in entries):
                    continue  # "no need to call me": the cue around it says how it feels
                negator = None
            if tag not in (CONTACT, Signal.DOUBT):
                # "not sure" spends its "not", but "not sure I can trust" and "still not convinced" reach on
                used.update(n for n in self.negators if hit.start <= n[0] and n[1] <= hit.end)
            if negator is not None:
                used.add(negator)
            boost = self._intensifier(hit)
            weight = INTENSIFIED if boost else 1.0
            negates = None
            if negator is not None:
                negates = tag
                turned = rule.negated[index]
                tag = turned if turned is not None else (NEGATIVE if rule.sign >= 0 else POSITIVE)
                if tag in (POSITIVE, NEGATIVE):
                    weight *= NEGATED  # "don't call me" refuses, a little annoyed
            entries.append(self._entry(tag, hit.start, hit.end, weight, negator, negates, boost))
        entries += [self._entry(Signal.CYNICISM, s, e, 1.0) for s, e in mocked + ironic]
        incidents = self._spans(INCIDENT)
        for entry in entries:
            if entry.cue.tag == Signal.APPRECIATION and entry.cue.negated_by is None:
                span = thanks_for_damage(self.folded, entry, incidents)
                if span is not None:
                    entry.cue = self._entry(Signal.CYNICISM, *span, 1.0, negates=entry.cue.tag).cue
                    entry.end = span[1]
        turn_sarcastic(entries, sentences)
        entries.sort(key=lambda e: e.start)

        cues = [(e.cue, e.weight) for e in entries]
        contact = any(c.tag == CONTACT for c, _ in cues)
        if contact:  # "call me back, thanks": the thanks is courtesy, not a feeling
            courtesy = [s for s in self._spans(COURTESY) if self._alone(*s)]
            cues = [(c, 0.0 if _inside(e, courtesy) else w) for (c, w), e in zip(cues, entries, strict=True)]
        signals = {_SIGNALS[c.tag] for c, _ in cues if c.tag in _SIGNALS}
        return Tagged(
            signals=ordered(signals),
            polarity=_polarity(cues, cynical=Signal.CYNICISM in signals),
            contact=contact,
            cues=tuple(c for c, _ in cues),
        )

    def _entry(
        self,
        tag: str,
        start: int,
        end: int,
        weight: float,
        negator: tuple[int, int] | None = None,
        negates: str | None = None,
        boost: tuple[int, int] | None = None,
    ) -> Entry:
        cue = Cue(
            tag=str(tag),
            cue=self._original(start, end),
            start=self._at(start),
            end=self._end(end),
            negated_by=self._original(*negator) if negator else None,
            negates=negates,
            intensified_by=self._original(*boost) if boost else None,
        )
        return Entry(cue, weight, start, end)

    def _alone(self, start: int, end: int) -> bool:
        """The words at ``start:end`` make a clause of their own ("…, thanks.")."""
        before = _BREAK_BEFORE.search(self.folded, 0, start)
        return not before and _CLAUSE_END.match(self.folded, end) is not None

    def _between(self, start: int, end: int) -> int:
        """Words that begin in ``folded[start:end]``."""
        return bisect_left(self.words, end) - bisect_left(self.words, start)

    def _same_clause(self, start: int, end: int, *, contrasts: bool = True) -> bool:
        if _BREAK.search(self.folded, start, end):
            return False
        return not (contrasts and any(start <= c < end for c in self.contrasts))

    def _negator(self, hit: Found[Key], gapped: bool) -> tuple[int, int] | None:
        for span in reversed(self.negators):
            if span[1] <= hit.start:
                near = self._between(span[1], hit.start) <= self.lexicon.negation_window
                return span if near and self._same_clause(span[1], hit.start) else None
            if gapped and hit.start < span[0] and span[1] <= hit.end and self._between(span[1], hit.end):
                return span  # inside a gap: "ruft mich nicht an" (not the cue's own last word)
        for span in self.after:
            if span[0] >= hit.end:
                near = self._between(hit.end, span[0]) <= self.lexicon.negation_after
                return span if near and self._same_clause(hit.end, span[0], contrasts=False) else None
        return None

    def _intensifier(self, hit: Found[Key]) -> tuple[int, int] | None:
        for span in reversed(self.boosts):
            if span[1] <= hit.start:
                near = self._between(span[1], hit.start) <= INTENSIFIER_REACH
                return span if near and self._same_clause(span[1], hit.start) else None
        return None

    def _at(self, index: int) -> int:
        return index if self.starts is None else self.starts[index]

    def _end(self, index: int) -> int:
        return index if self.ends is None else self.ends[index - 1]

    def _original(self, start: int, end: int) -> str:
        return self.text[self._at(start) : self._end(end)]


def _resolve(hits: list[Found[Key]]) -> list[Found[Key]]:
    """Longest first; a hit overlapping a kept one is dropped, unless both are signals on the very
    same words ("wer's glaubt" is doubt and cynicism)."""
    kept: list[Found[Key]] = []
    for hit in sorted(hits, key=lambda h: (h.start - h.end, h.start)):
        tag = hit.key[0]
        for other in kept:
            if hit.start < other.end and other.start < hit.end:
                same = (hit.start, hit.end) == (other.start, other.end)
                if not (same and tag in _SIGNALS and other.key[0] in _SIGNALS and tag != other.key[0]):
                    break
        else:
            kept.append(hit)
    return kept


def _inside(entry: Entry, spans: list[tuple[int, int]]) -> bool:
    return any(s <= entry.start and entry.end <= e for s, e in spans)


def _polarity(cues: list[tuple[Cue, float]], *, cynical: bool) -> Polarity:
    good = bad = 0.0
    for cue, weight in cues:
        if cue.tag in _SIGNALS:
            sign = _SIGNALS[cue.tag].sign
        elif cue.tag in (POSITIVE, NEGATIVE):
            sign = 1 if cue.tag == POSITIVE else -1
            if cynical and sign > 0 and cue.negates is None:
                continue  # praise words under cynicism are sarcasm
        else:
            continue
        if sign > 0:
            good += weight
        else:
            bad += weight
    if not good and not bad:
        return Polarity.NEUTRAL
    if good and bad and min(good, bad) >= MIXED_RATIO * max(good, bad):
        return Polarity.MIXED
    return Polarity.POSITIVE if good > bad else Polarity.NEGATIVE
