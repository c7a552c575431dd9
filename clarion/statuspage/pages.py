"""The status page's HTML: one Jinja environment, the reader's language, the page strings.

The pages are rendered here, in the domain, from a :class:`~clarion.statuspage.snapshot.Snapshot`
only, so the web app (``faces/web``) and the static export (which a flow refreshes after each
publication) produce the same bytes. Pages are HTML that works with JavaScript off; the one script
(``/static/localtime.js``) only re-writes ``<time datetime>`` in the reader's zone. Templates live
in ``clarion/statuspage/templates`` and are autoescaped with ``StrictUndefined``: a value a template
forgot fails the test that renders it, never a page.

**Language.** ``?lang=de`` wins, else the best of ``Accept-Language`` that the page speaks
(:data:`LOCALES`), else English (the web app asks :func:`negotiate`). The words of the pages are
data, in ``templates/strings/<topic>.<locale>.yaml`` (one file per topic and language, merged), and
a page asks ``t("key")``; a key missing in German falls back to English, and a key missing in
English raises, so the test that renders the page fails instead of a reader seeing a blank.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

LOCALES = ("en", "de")
"""The languages the public pages speak; the first is the default."""
DEFAULT_LOCALE = LOCALES[0]
TEMPLATES = Path(str(files("clarion.statuspage").joinpath("templates")))
_QUALITY = re.compile(
    r"^\s*([A-Za-z]{1,8})(?:-[A-Za-z0-9]{1,8})*\s*(?:;\s*q\s*=\s*([01](?:\.\d{0,3})?))?\s*$"
)


def negotiate(header: str) -> str:
    """The best of :data:`LOCALES` for an ``Accept-Language`` value (malformed parts are skipped)."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header[:1000].split(",")[:30]):
        match = _QUALITY.match(item)
        if not match:
            continue
        language, quality = match.group(1).lower(), float(match.group(2) or 1)
        if language in LOCALES and quality > 0:
            ranked.append((-quality, position, language))
    return min(ranked)[2] if ranked else DEFAULT_LOCALE


@cache
def strings(locale: str) -> dict[str, str]:
    """Every page string in ``locale`` (English where it has none)."""
    merged: dict[str, str] = {}
    folder = TEMPLATES / "strings"
    for wanted in dict.fromkeys((DEFAULT_LOCALE, locale)):
        for path in sorted(folder.glob(f"*.{wanted}.yaml")):
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            merged.update({str(k): str(v) for k, v in loaded.items()})
    return merged


class Translator:
    """``t("key", name=…)`` in templates: the string in the page's language, ``str.format``-ed."""

    def __init__(self, locale: str) -> None:
        self.locale = locale
        self._strings = strings(locale)

    def __call__(self, key: str, **values: Any) -> str:
        try:
            text = self._strings[key]
        except KeyError:
            raise KeyError(f"page string {key!r} is missing (clarion/statuspage/templates/strings)") from None
        return text.format(**values) if values else text


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def render_page(template: str, *, locale: str, **context: Any) -> bytes:
    """Render ``template`` (a path under ``clarion/statuspage/templates``) in ``locale`` to UTF-8 bytes."""
    page = environment().get_template(template)
    return page.render(t=Translator(locale), locale=locale, locales=LOCALES, **context).encode()
