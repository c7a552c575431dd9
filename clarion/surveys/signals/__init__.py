"""Trust signals in the free text of survey answers, in English and German.

After an incident customers say, in their own words, whether they trust the company again. Each
answer is tagged with zero or more :class:`Signal` s (doubt, cynicism, relief, regained confidence,
appreciation), a :class:`Polarity` and whether it asks for a person to get in touch, and every tag
names the words that produced it (:class:`Cue`), so a person can check it.

* :mod:`.tags`: the result types and the :class:`Tagger` protocol;
* :mod:`.lexicon` and ``lexicons/<locale>.yaml``: the cues, as data a person can read and correct;
* :mod:`.matcher`: finds every cue in one pass over an answer's words;
* :mod:`.tagger`: :class:`LexiconTagger`, the transparent default, offline and nothing downloaded;
* :mod:`.sarcasm`: the rules for what single cues miss (scare quotes, thanks for an outage);
* :mod:`.plugins`: :func:`load_tagger`, for an installation's own tagger;
* :mod:`.scoring`: agreement with answers labelled by people (``bench/trust_signals.py`` prints it).
"""

from __future__ import annotations

from clarion.surveys.signals.lexicon import LexiconError
from clarion.surveys.signals.plugins import load_tagger
from clarion.surveys.signals.tagger import LexiconTagger
from clarion.surveys.signals.tags import Cue, Polarity, Signal, Tagged, Tagger

__all__ = ["Cue", "LexiconError", "LexiconTagger", "Polarity", "Signal", "Tagged", "Tagger", "load_tagger"]
