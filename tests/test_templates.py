"""Rules for the shipped templates that the renderer relies on."""

from __future__ import annotations

import re

from clarion.channel_table import Reach, channel_table
from clarion.kinds import IncidentStatus
from tests.helpers import TEMPLATES, load_raw

LOCALES = sorted(p.stem for p in (TEMPLATES / "_locale").glob("*.yaml"))


def test_templates_import_the_macros_the_renderer_chooses() -> None:
    """HTML needs the autoescaped copy of the macros; only the renderer knows which one to give."""
    for path in TEMPLATES.glob("*/*/*.j2"):
        for tag in re.findall(r"\{%-?\s*(?:import|from)\s+[^%]*%\}", path.read_text(encoding="utf-8")):
            assert tag == "{% import macros as m %}", f"{path}: {tag}"


def test_every_locale_has_every_channel_template_and_its_strings() -> None:
    assert LOCALES == ["de", "en"]
    for locale in LOCALES:
        assert (TEMPLATES / "_macros" / f"{locale}.j2").is_file()
        strings = load_raw(TEMPLATES / "_locale" / f"{locale}.yaml")
        assert set(strings["status"]) == {s.value for s in IncidentStatus}
        for channel, spec in channel_table().items():
            if spec.reach is Reach.INTERNAL:
                continue  # the people inside get notices (templates/notice/…/internal), not updates
            folder = spec.templates or TEMPLATES / channel.value
            for file in spec.fields.values():
                assert (folder / locale / file).is_file(), (channel, locale, file)
