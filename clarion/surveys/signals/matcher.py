"""Find every cue of a lexicon in one pass over an answer's words.

One alternation of a thousand cues makes the regex engine try each cue at each character: about a
millisecond per answer. Instead every cue is filed under its first word (or the stem of it, for
``erleichter*``), and at each word of the answer only the few cues filed there are tried, each an
anchored regex of its own. Cues that begin inside a word (``*vertrauen``, ``'d appreciate``) are
rare, and are scanned for the old way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

SEPARATOR = r"\W{1,3}"
"""What may stand between two words of a cue: a space, a comma and a space, a hyphen."""
GAP = r"(?:\w+\W{1,3}){0,3}?"
"""``...`` in a cue: up to three other words."""

_PARTS = re.compile(r"(\*?)([\w']+)(\*?)([?!.]?)")
_WORD = re.compile(r"(?<!\w)\w+(?:'\w+)*")
_STEM_KEY = 2
_KEYED = re.compile(rf"\w{{{_STEM_KEY}}}")
"""A first word that can be filed: it starts with at least two letters (not ``'d`` nor ``*x``)."""


def cue_regex(cue: str, *, anchored: bool = False) -> str:
    """The regex of one folded cue, on word boundaries (``anchored``: without the one before it, for a
    match that starts where a word does)."""
    pieces: list[str] = []
    gap = False
    for word in cue.split():
        if word == "...":
            gap = True
            continue
        parts = _PARTS.fullmatch(word)
        if parts is None:  # the lexicon's schema refuses such a cue first; say so if one gets here
            raise ValueError(f"cue {cue!r}: {word!r} is not a word, a *stem*, or a word and ? ! .")
        head, core, tail, mark = parts.groups()
        body = (r"\w*" if head else "") + re.escape(core) + (r"\w*" if tail else "") + re.escape(mark)
        if pieces:
            pieces.append(SEPARATOR + (GAP if gap else ""))
        pieces.append(body)
        gap = False
    before = r"(?<!\w)" if re.match(r"[\w*]", cue) and not anchored else ""
    after = r"(?!\w)" if re.search(r"[\w*]$", cue) else ""
    return before + "".join(pieces) + after


@dataclass(frozen=True)
class Found(Generic[T]):
    start: int
    end: int
    key: T


class Matcher(Generic[T]):
    """Every (cue, key) given; :meth:`find` returns each place a cue matches, overlaps included."""

    def __init__(self, cues: Iterable[tuple[str, T]]) -> None:
        self._exact: dict[str, list[tuple[re.Pattern[str], T]]] = {}
        self._stems: dict[str, list[tuple[str, re.Pattern[str], T]]] = {}
        self._scanned: list[tuple[re.Pattern[str], T]] = []
        for cue, key in cues:
            first = _PARTS.fullmatch(cue.split()[0])
            if first is None or first.group(1) or not _KEYED.match(first.group(2)):
                self._scanned.append((re.compile(cue_regex(cue)), key))
                continue
            pattern = re.compile(cue_regex(cue, anchored=True))
            core = first.group(2)
            if first.group(3):
                self._stems.setdefault(core[:_STEM_KEY], []).append((core, pattern, key))
            else:
                self._exact.setdefault(core, []).append((pattern, key))

    def find(self, text: str) -> list[Found[T]]:
        found: list[Found[T]] = []
        exact, stems = self._exact, self._stems
        for word in _WORD.finditer(text):
            start, token = word.start(), word.group()
            short = token.split("'", 1)[0]
            candidates = exact.get(token, [])
            if short != token:
                candidates = candidates + exact.get(short, [])
            for pattern, key in candidates:
                if (m := pattern.match(text, start)) is not None:
                    found.append(Found(start, m.end(), key))
            for core, pattern, key in stems.get(token[:_STEM_KEY], ()):
                if token.startswith(core) and (m := pattern.match(text, start)) is not None:
                    found.append(Found(start, m.end(), key))
        for pattern, key in self._scanned:
            found.extend(Found(m.start(), m.end(), key) for m in pattern.finditer(text))
        return found
