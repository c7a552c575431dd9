"""What a tagger says about one answer: signals, a polarity, a request for contact, and the cues why.

Every tag is explainable: a :class:`Cue` names the words of the answer that produced it, with their
offsets in the text as the customer wrote it (not in the normalised copy the lexicons match), so a
person reviewing a tag can see it highlighted and judge it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable


class Signal(StrEnum):
    """A trust signal in a survey answer, in the fixed order tags list them."""

    DOUBT = "doubt"
    CYNICISM = "cynicism"
    RELIEF = "relief"
    REGAINED_CONFIDENCE = "regained_confidence"
    APPRECIATION = "appreciation"

    @property
    def sign(self) -> int:
        """+1 for the signals a customer would call good news, -1 for the others."""
        return -1 if self in (Signal.DOUBT, Signal.CYNICISM) else 1


class Polarity(StrEnum):
    """The answer's overall feeling: ``mixed`` when it says good and bad things in earnest."""

    POSITIVE = "positive"
    NEGATIVE = "negative"
    MIXED = "mixed"
    NEUTRAL = "neutral"


CONTACT = "contact"
"""The tag of a cue asking for a person to get in touch."""
POSITIVE = Polarity.POSITIVE.value
"""The tag of a cue that only moved the polarity up (a sentiment word, a negated complaint)."""
NEGATIVE = Polarity.NEGATIVE.value
"""The tag of a cue that only moved the polarity down."""


@dataclass(frozen=True)
class Cue:
    """Words of the answer that produced a tag.

    ``tag`` is what the words counted as: a :class:`Signal` value, ``contact``, or ``positive`` /
    ``negative`` when they only moved the polarity. ``start``/``end`` index the original text, so
    ``text[start:end] == cue``. ``negated_by`` names the negator that flipped or cancelled the words
    ("no longer" in "no longer trust": the lexicon's ``regained_confidence`` counted as ``doubt``, and
    ``negates`` keeps the lexicon's tag), or the cynical words that turned bare praise into sarcasm;
    ``intensified_by`` the word that made them weigh more.
    """

    tag: str
    cue: str
    start: int
    end: int
    negated_by: str | None = None
    negates: str | None = None
    intensified_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The cue as JSON: the optional keys only when they say something."""
        out: dict[str, Any] = {"tag": self.tag, "cue": self.cue, "start": self.start, "end": self.end}
        if self.negated_by is not None:
            out["negated_by"] = self.negated_by
        if self.negates is not None:
            out["negates"] = self.negates
        if self.intensified_by is not None:
            out["intensified_by"] = self.intensified_by
        return out


@dataclass(frozen=True)
class Tagged:
    """One answer's tags. ``signals`` holds each signal once, in :class:`Signal` order."""

    signals: tuple[Signal, ...]
    polarity: Polarity
    contact: bool
    cues: tuple[Cue, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "signals": [s.value for s in self.signals],
            "polarity": self.polarity.value,
            "contact": self.contact,
            "cues": [c.to_json() for c in self.cues],
        }


def ordered(signals: set[Signal]) -> tuple[Signal, ...]:
    """``signals`` in the fixed order of :class:`Signal`."""
    return tuple(s for s in Signal if s in signals)


@runtime_checkable
class Tagger(Protocol):
    """Anything that tags survey answers: the shipped :class:`~.tagger.LexiconTagger`, or an
    installation's own (a model of theirs, a service) named to :func:`~.plugins.load_tagger`.

    ``locale`` is a language tag such as ``en``, ``de`` or ``de-AT``; a tagger that does not know it
    should fall back to a language it knows rather than fail, since survey answers are not refused.
    """

    def tag(self, text: str, locale: str) -> Tagged: ...
