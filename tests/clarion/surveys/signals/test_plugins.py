"""``load_tagger``: an installation's own tagger by ``module:attribute``; every mistake a ConfigError."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from clarion.errors import ConfigError
from clarion.surveys.signals import LexiconTagger, Polarity, Signal, Tagger, load_tagger

PLUGIN = "acme_trust_plugin"


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An importable module with a tagger class, a factory, an instance and things that are not taggers."""
    (tmp_path / f"{PLUGIN}.py").write_text(
        textwrap.dedent(
            """
            from clarion.surveys.signals import Polarity, Signal, Tagged


            class AlwaysRelieved:
                def tag(self, text: str, locale: str) -> Tagged:
                    return Tagged((Signal.RELIEF,), Polarity.POSITIVE, contact=locale == "de")


            def make() -> AlwaysRelieved:
                return AlwaysRelieved()


            def broken() -> AlwaysRelieved:
                raise RuntimeError("model file missing")


            ready = AlwaysRelieved()
            NOT_A_TAGGER = 42
            """
        ),
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield PLUGIN
    sys.modules.pop(PLUGIN, None)


def test_no_spec_is_the_lexicon_tagger() -> None:
    assert isinstance(load_tagger(None), LexiconTagger)
    assert isinstance(load_tagger("  "), LexiconTagger)


@pytest.mark.parametrize("attribute", ["AlwaysRelieved", "make", "ready"])
def test_a_class_a_factory_or_an_instance_is_plugged_in(plugin: str, attribute: str) -> None:
    tagger = load_tagger(f"{plugin}:{attribute}")
    assert isinstance(tagger, Tagger)
    tagged = tagger.tag("anything at all", "de")
    assert (tagged.signals, tagged.polarity, tagged.contact) == ((Signal.RELIEF,), Polarity.POSITIVE, True)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("acme_trust_plugin", "write it as module:attribute"),
        ("acme trust:Tagger", "write it as module:attribute"),
        ("no_such_module_for_clarion:Tagger", "cannot import 'no_such_module_for_clarion'"),
        ("acme_trust_plugin:Missing", "'acme_trust_plugin' has no 'Missing'"),
        ("acme_trust_plugin:broken", "calling it failed: RuntimeError: model file missing"),
        ("acme_trust_plugin:NOT_A_TAGGER", "gave a int, which has no tag(text, locale) method"),
    ],
)
def test_a_bad_spec_is_a_config_error_naming_it(plugin: str, spec: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_tagger(spec)
    assert f"tagger {spec!r}: " in str(caught.value)
    assert message in str(caught.value)
