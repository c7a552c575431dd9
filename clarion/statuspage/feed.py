"""The status page's Atom and RSS feeds: one entry per published update, newest first.

Feed readers, chat integrations and monitoring tools subscribe to ``/history.atom`` and
``/history.rss`` (the paths Statuspage uses). Every published update of an incident or a maintenance
is one entry, so a subscriber is told each step (identified, monitoring, resolved) and not only that
something happened; at most :data:`MOST_ENTRIES`, newest first. A draft waiting for approval never
appears: the snapshot holds only what was published.

An entry never changes once written, like the update it tells: its id (``{incident url}#update-3``)
is stable, its title is ``INC-0042 · API errors · Identified`` as the update named things, its link
the incident's page, its time the update's publication. The feeds are built with ``feedgen`` (which
builds the XML with lxml, so nothing in a story can close an element early) from a snapshot only,
so the web app and the static export serve the same bytes.

**Markup stays text.** Atom says what its content is: ``type="text"``, the four parts as plain text
with a blank line between, so a reader shows ``</title><script>`` as those characters. RSS has no
such attribute and readers treat ``<description>`` as HTML, so there the text is HTML-escaped first
and each part becomes a paragraph: a reader that decodes the HTML again still shows the characters.
"""

from __future__ import annotations

import html
from datetime import datetime
from enum import StrEnum

from feedgen.feed import FeedGenerator  # type: ignore[import-untyped]

from clarion.statuspage.api import body_of, update_status
from clarion.statuspage.pages import DEFAULT_LOCALE, Translator
from clarion.statuspage.record import PublicIncident, PublishedUpdate
from clarion.statuspage.snapshot import Snapshot

MOST_ENTRIES = 100
"""The most entries a feed holds (readers keep what they saw; older updates are on the page)."""


class FeedFormat(StrEnum):
    ATOM = "atom"
    RSS = "rss"

    @property
    def media_type(self) -> str:
        return f"application/{self.value}+xml; charset=utf-8"

    @property
    def path(self) -> str:
        return f"/history.{self.value}"


def newest_updates(snapshot: Snapshot) -> list[tuple[PublicIncident, PublishedUpdate]]:
    """Every published update of incidents and maintenance, newest first, at most :data:`MOST_ENTRIES`."""
    told = [(incident, update) for incident in snapshot.record.incidents for update in incident.updates]
    told.sort(key=lambda pair: (pair[1].published_at, pair[0].id, pair[1].number), reverse=True)
    return told[:MOST_ENTRIES]


def entry_id(snapshot: Snapshot, incident: PublicIncident, update: PublishedUpdate) -> str:
    return f"{snapshot.page.incident_url(incident.reference)}#update-{update.number}"


def entry_title(incident: PublicIncident, update: PublishedUpdate, locale: str) -> str:
    """``INC-0042 · API errors · Identified``: the reference, the title as this update gave it, the status."""
    status = Translator(locale)(f"feed.status.{update_status(incident, update)}")
    return f"{incident.reference} · {update.title(locale, incident.title)} · {status}"


def _as_html(text: str) -> str:
    """Plain text as inert HTML: escaped, one paragraph per part, line breaks kept."""
    paragraphs = (html.escape(p).replace("\n", "<br>") for p in text.split("\n\n") if p)
    return "".join(f"<p>{p}</p>" for p in paragraphs)


def _generator(snapshot: Snapshot, locale: str, form: FeedFormat) -> FeedGenerator:
    page = snapshot.page
    t = Translator(locale)
    told = newest_updates(snapshot)
    updated: datetime = told[0][1].published_at if told else (snapshot.updated_at or snapshot.now)
    query = "" if locale == DEFAULT_LOCALE else f"?locale={locale}"
    feed = FeedGenerator()
    feed.id(f"{page.url}/history")
    feed.title(t("feed.title", name=page.name))
    feed.subtitle(t("feed.subtitle", name=page.name))  # RSS's required <description> too
    feed.author({"name": page.name})
    feed.link(href=f"{page.url}{form.path}{query}", rel="self", type=form.media_type.split(";")[0])
    feed.link(href=f"{page.url}/history", rel="alternate", type="text/html")  # last: RSS's <link>
    feed.language(locale)
    feed.generator("clarion")
    feed.updated(updated)  # also RSS's lastBuildDate: from the record, so the bytes are stable
    for incident, update in told:
        entry = feed.add_entry(order="append")
        entry.id(entry_id(snapshot, incident, update))
        entry.title(entry_title(incident, update, locale))
        entry.link(href=page.incident_url(incident.reference), rel="alternate", type="text/html")
        entry.updated(update.published_at)
        entry.published(update.published_at)
        text = body_of(update, locale)
        if form is FeedFormat.ATOM:
            entry.content(text, type="text")
        else:
            entry.description(_as_html(text))
    return feed


def render_feed(snapshot: Snapshot, form: FeedFormat, locale: str = DEFAULT_LOCALE) -> bytes:
    """The feed as UTF-8 XML bytes."""
    feed = _generator(snapshot, locale, form)
    body: bytes = feed.atom_str(pretty=True) if form is FeedFormat.ATOM else feed.rss_str(pretty=True)
    return body
