"""The status page's HTML documents, rendered from a snapshot: what the web app serves and the static
export writes, byte for byte.

Each function takes the snapshot, the language and ``lang_query`` (``"?lang=de"`` when the reader
chose the language in the address, so the page's own links keep it; ``""`` when it came from
``Accept-Language`` or for a static export) and returns UTF-8 bytes, or None when there is no such
page (the caller answers 404 with :func:`render_not_found`). Nothing here reads the store, the clock
or the request: a page is a pure function of its inputs, which is what lets it be cached per snapshot.
"""

from __future__ import annotations

import re

from clarion.statuspage.pages import render_page
from clarion.statuspage.snapshot import Snapshot
from clarion.statuspage.views import history_view, home_view, incident_page, survey_line
from clarion.statuspage.wording import Wording

REFERENCE = re.compile(r"^INC-\d{4,}$")
"""What an incident's address may name; anything else is not looked up."""


def _render(template: str, snapshot: Snapshot, words: Wording, lang_query: str, **context: object) -> bytes:
    return render_page(template, locale=words.locale, page=snapshot.page, lang_query=lang_query, **context)


def render_home(snapshot: Snapshot, locale: str, lang_query: str) -> bytes:
    words = Wording(locale)
    return _render("home.html.j2", snapshot, words, lang_query, view=home_view(snapshot, words))


def render_incident(snapshot: Snapshot, reference: str, locale: str, lang_query: str) -> bytes | None:
    if not REFERENCE.match(reference):
        return None
    words = Wording(locale)
    view = incident_page(snapshot, reference, words)
    if view is None:
        return None
    survey = survey_line(snapshot, reference, words)
    return _render("incident.html.j2", snapshot, words, lang_query, view=view, survey=survey)


def render_history(snapshot: Snapshot, page_number: int, locale: str, lang_query: str) -> bytes | None:
    words = Wording(locale)
    view = history_view(snapshot, page_number, words)
    if view is None:
        return None
    return _render("history.html.j2", snapshot, words, lang_query, view=view)


def render_not_found(snapshot: Snapshot, locale: str, lang_query: str) -> bytes:
    return _render("not_found.html.j2", snapshot, Wording(locale), lang_query)
