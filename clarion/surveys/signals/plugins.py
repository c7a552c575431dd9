"""An installation's own tagger, named as ``module:attribute`` (a model of theirs, a call to a service).

``load_tagger("acme_nlp.trust:Tagger")`` imports ``acme_nlp.trust`` and takes its ``Tagger``: a class
or a factory is called without arguments, an object with a ``tag`` method is used as it is. Whatever
it gives must have ``tag(text, locale) -> Tagged`` (:class:`~.tags.Tagger`). No name gives the shipped
:class:`~.tagger.LexiconTagger`. Every way this can fail is a :class:`~clarion.errors.ConfigError`
that names the spec: a tagger is configured once, and a broken one must stop the start, not a survey.

No setting is read here: the caller passes what its setting says.
"""

from __future__ import annotations

import importlib
import re

from clarion.errors import ConfigError
from clarion.surveys.signals.tagger import LexiconTagger
from clarion.surveys.signals.tags import Tagger

_SPEC = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


def load_tagger(spec: str | None) -> Tagger:
    """The tagger ``spec`` names (``"package.module:attribute"``), or the lexicon tagger for None."""
    if spec is None or not spec.strip():
        return LexiconTagger()
    spec = spec.strip()
    if not _SPEC.fullmatch(spec):
        raise ConfigError(f"tagger {spec!r}: write it as module:attribute, e.g. 'acme.trust:Tagger'")
    module_name, attribute = spec.split(":", 1)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"tagger {spec!r}: cannot import {module_name!r}: {exc}") from exc
    found: object = module
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise ConfigError(f"tagger {spec!r}: {module_name!r} has no {attribute!r}") from None
    if isinstance(found, type) or (callable(found) and not isinstance(found, Tagger)):
        try:
            made = found()
        except Exception as exc:  # the plugin's own failure, whatever it is, named with the spec
            raise ConfigError(f"tagger {spec!r}: calling it failed: {type(exc).__name__}: {exc}") from exc
    else:
        made = found
    if not isinstance(made, Tagger) or not callable(getattr(made, "tag", None)):
        raise ConfigError(
            f"tagger {spec!r}: gave a {type(made).__name__}, which has no tag(text, locale) method"
        )
    return made
