"""Cue lexicons: one YAML file per locale, checked like a playbook, compiled once into regexes.

The words that mark a trust signal are data a person can read and correct, not code. A lexicon
(``lexicons/en.yaml``) lists, per signal, the cues that mark it, and what a negator before a cue does
to it::

    negators: [not, "n't", never, no longer]
    negation_window: 3             # a negator at most this many words before a cue reaches it
    intensifiers: [very, really]   # "very relieved" weighs more
    contrasts: [but, though]       # end a negator's reach: "not bad, but slow"
    signals:
      regained_confidence:
        negated: doubt             # "no longer trust" is doubt, not confidence
        cues: [trust* ... again, confident]
      relief:
        negated: cancel            # "not relieved" is no relief (and counts against the polarity)
        cues: [relieved, what a relief, {cue: "worried", negated: relief}]
    contact: [call me, rückruf]
    positive: [good, helpful]
    negative: [useless, too late]
    ironic: [sure, of course]      # beside words in scare quotes: "Sure, 'an isolated case'." mocks them
    incidents: [outage*, breach*]  # what went wrong: "thanks for the outage." is sarcasm
    courtesy: [thanks, thank you]  # a bare thanks closing a request for contact moves no polarity

A cue is words separated by spaces, matched on word boundaries in the NFKC-normalised, case-folded
answer (so write lexicons in lower case; ``ß`` and ``ss`` are the same). Between two words any one to
three other characters may stand (a space, a comma, a hyphen). ``*`` at the end of a word matches any
ending (``erleichter*``: erleichtert, Erleichterung), at its start any beginning (``*vertrauen``:
Kundenvertrauen), which is how German inflection and compounds are handled without a stemmer; ``...``
as a word allows up to three other words there (``ruf* mich ... an``: "ruft mich bitte an").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from clarion.errors import InputError, Problem, display_path
from clarion.files.yamlfile import format_loc, read_yaml, validate_with_lines
from clarion.strict import Strict
from clarion.surveys.signals.matcher import Matcher
from clarion.surveys.signals.tags import CONTACT, NEGATIVE, POSITIVE, Signal

LEXICONS = Path(__file__).parent / "lexicons"
"""The shipped lexicons, one ``<locale>.yaml`` each."""

FALLBACK_LOCALE = "en"

QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u201c": '"', "\u201d": '"'})
_CUE = re.compile(r"\*?[\w']+\*?[?!.]?(?: +(?:\.\.\.|\*?[\w']+\*?[?!.]?))*")


class LexiconError(InputError):
    """A lexicon file is wrong: every problem names file, line and field."""


def fold(text: str) -> str:
    """What lexicons and answers are compared as: NFKC, case-folded, typographic quotes made plain."""
    return unicodedata.normalize("NFKC", text).casefold().translate(QUOTES)


def _check_cue(value: str) -> str:
    folded = " ".join(fold(value).replace("-", " ").split())
    if not _CUE.fullmatch(folded):
        raise ValueError(
            f"{value!r} is not a cue: write words (letters, digits, ') separated by spaces, with * "
            "only at a word's start or end, ?, ! or . only at its end, and ... only between words"
        )
    if folded.startswith("...") or folded.endswith("..."):
        raise ValueError(f"{value!r}: ... stands between two words, not at the start or end")
    return folded


CueText = Annotated[str, Field(min_length=1, max_length=120), AfterValidator(_check_cue)]
Negated = Signal | Literal["cancel"]


class CueEntry(Strict):
    """A cue, written as text, or as ``{cue: ..., negated: ...}`` when its negation differs from its
    signal's rule ("not worried" is relief, not merely no doubt)."""

    cue: CueText
    negated: Negated | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: object) -> object:
        return {"cue": data} if isinstance(data, str) else data


class SignalCues(Strict):
    negated: Negated = Field(
        default="cancel", description="What a negated cue counts as: another signal, or cancel."
    )
    cues: list[CueEntry] = Field(default_factory=list, max_length=2000)


class SignalSection(Strict):
    doubt: SignalCues = SignalCues()
    cynicism: SignalCues = SignalCues()
    relief: SignalCues = SignalCues()
    regained_confidence: SignalCues = SignalCues()
    appreciation: SignalCues = SignalCues()


class Lexicon(Strict):
    """One locale's cues, as its file says."""

    locale: Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]
    negators: list[CueText] = Field(min_length=1, max_length=200)
    negation_window: Annotated[int, Field(ge=0, le=8)] = 3
    negators_after: list[CueText] = Field(
        default_factory=list, description='Negators that follow their word ("glaube ich nicht").'
    )
    negation_after: Annotated[int, Field(ge=0, le=4)] = 0
    intensifiers: list[CueText] = Field(default_factory=list, max_length=200)
    contrasts: list[CueText] = Field(default_factory=list, max_length=100)
    ignore: list[CueText] = Field(
        default_factory=list, description="Phrases that are no cue (a polite formula around one)."
    )
    signals: SignalSection
    contact: list[CueEntry] = Field(default_factory=list, max_length=2000)
    positive: list[CueText] = Field(default_factory=list, max_length=5000)
    negative: list[CueText] = Field(default_factory=list, max_length=5000)
    ironic: list[CueText] = Field(
        default_factory=list,
        max_length=200,
        description="Ironic assent; beside words in scare quotes it marks them as mocked (cynicism).",
    )
    incidents: list[CueText] = Field(
        default_factory=list,
        max_length=500,
        description='What went wrong: "thanks for the outage." is sarcasm.',
    )
    courtesy: list[CueText] = Field(
        default_factory=list,
        max_length=100,
        description="A bare thanks; closing a request for contact it is politeness, not a feeling.",
    )


@dataclass(frozen=True)
class Rules:
    """One tag's cues: what each becomes when negated, and whether it has a gap."""

    tag: str
    sign: int
    """+1 when the tag speaks well, -1 when ill, 0 for ``contact``."""
    negated: tuple[str | None, ...]
    """Per cue: the tag a negated match counts as; None cancels it."""
    gapped: tuple[bool, ...]
    """Per cue: it has a ``...`` gap, so a negator inside the match reaches it too."""


def _rules(tag: str, sign: int, entries: list[CueEntry], default: str | None) -> Rules:
    negated = tuple(
        default if c.negated is None else (None if c.negated == "cancel" else str(c.negated)) for c in entries
    )
    return Rules(tag=tag, sign=sign, negated=negated, gapped=tuple("..." in c.cue.split() for c in entries))


NEGATOR, NEGATOR_AFTER, INTENSIFIER, CONTRAST, IGNORE, IRONIC, INCIDENT, COURTESY = (
    "negator",
    "negator_after",
    "intensifier",
    "contrast",
    "ignore",
    "ironic",
    "incident",
    "courtesy",
)
"""The keys of the lexicon's function words, beside the tags of its cues."""
Key = tuple[str, int]
"""What a match found: a tag (or a function word's key) and the cue's index in its list."""


@dataclass(frozen=True)
class Compiled:
    """A lexicon ready to match: built once per file (:func:`compiled`)."""

    locale: str
    source: str
    matcher: Matcher[Key]
    rules: dict[str, Rules]
    """The five signals, ``positive`` and ``negative`` sentiment words and ``contact``, by tag."""
    negation_window: int
    negation_after: int


def compile_lexicon(lexicon: Lexicon, source: str) -> Compiled:
    rules: dict[str, Rules] = {}
    cues: list[tuple[str, Key]] = []

    def add(tag: str, sign: int, listed: list[CueEntry], negated: str | None) -> None:
        rules[tag] = _rules(tag, sign, listed, negated)
        cues.extend((entry.cue, (tag, i)) for i, entry in enumerate(listed))

    for signal in Signal:
        section: SignalCues = getattr(lexicon.signals, signal.value)
        add(signal.value, signal.sign, section.cues, None if section.negated == "cancel" else section.negated)
    add(POSITIVE, 1, [CueEntry(cue=c) for c in lexicon.positive], NEGATIVE)
    add(NEGATIVE, -1, [CueEntry(cue=c) for c in lexicon.negative], POSITIVE)
    add(CONTACT, 0, lexicon.contact, None)
    for key, words in (
        (NEGATOR, lexicon.negators),
        (NEGATOR_AFTER, lexicon.negators_after),
        (INTENSIFIER, lexicon.intensifiers),
        (CONTRAST, lexicon.contrasts),
        (IGNORE, lexicon.ignore),
        (IRONIC, lexicon.ironic),
        (INCIDENT, lexicon.incidents),
        (COURTESY, lexicon.courtesy),
    ):
        cues.extend((word, (key, i)) for i, word in enumerate(words))
    return Compiled(
        locale=lexicon.locale,
        source=source,
        matcher=Matcher(cues),
        rules=rules,
        negation_window=lexicon.negation_window,
        negation_after=lexicon.negation_after,
    )


def load_lexicon(path: Path) -> Lexicon:
    """Read and check one lexicon file; :class:`LexiconError` names file, line and field."""
    data, lines = read_yaml(path, LexiconError)
    source = display_path(path)
    lexicon = validate_with_lines(Lexicon, data or {}, lines, source, LexiconError)
    if lexicon.locale != path.stem:
        loc = ("locale",)
        message = f"{lexicon.locale!r} differs from the file's name {path.name!r}"
        raise LexiconError([Problem(source, lines.line_for(loc), format_loc(loc), message)])
    return lexicon


@lru_cache(maxsize=32)
def compiled(path: Path) -> Compiled:
    """The lexicon at ``path``, compiled; cached per path for the life of the process."""
    return compile_lexicon(load_lexicon(path), display_path(path))


def lexicon_path(folder: Path, locale: str) -> Path:
    """The file for ``locale`` (``de-AT`` and ``de_at`` read ``de.yaml``), else the fallback's."""
    primary = re.split(r"[-_]", locale.strip().lower(), maxsplit=1)[0]
    path = folder / f"{primary}.yaml"
    if primary and re.fullmatch(r"[a-z]{2,3}", primary) and path.is_file():
        return path
    return folder / f"{FALLBACK_LOCALE}.yaml"
