"""The status page's HTML as a reader gets it: words in English and German, markup in a story shown as
text, drafts never shown, maintenance in its states, history pages and addresses that name nothing."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from clarion import store
from clarion.statuspage.components import catalogue_at
from clarion.statuspage.record import load_record
from clarion.statuspage.site import render_history, render_home, render_incident, render_not_found
from clarion.statuspage.snapshot import PageInfo, Snapshot
from tests.statuspage_world import COMPONENTS_FILE, T0, World

PAGE = PageInfo.of("https://status.acme.example", "UTC")
HEADINGS = {
    "en": [
        "What happened",
        "Why it happened",
        "What we are doing, and what you can do",
        "What we will change",
    ],
    "de": [
        "Was passiert ist",
        "Warum es passiert ist",
        "Was wir tun – und was Sie tun können",
        "Was wir ändern werden",
    ],
}


def snapshot(engine: sa.Engine, now: datetime) -> Snapshot:
    with store.reading(engine) as connection:
        record = load_record(connection)
    return Snapshot(record, catalogue_at(COMPONENTS_FILE), now, PAGE)


class Reader(HTMLParser):
    """The text a reader sees (tags dropped, entities decoded), the headings, and every tag seen."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.headings: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._in_heading = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if re.fullmatch(r"h[1-6]", tag):
            self._in_heading += 1
            self.headings.append("")

    def handle_endtag(self, tag: str) -> None:
        if re.fullmatch(r"h[1-6]", tag):
            self._in_heading -= 1

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_heading:
            self.headings[-1] += data


def read(body: bytes | None) -> Reader:
    assert body is not None
    reader = Reader()
    reader.feed(body.decode())
    return reader


def words(body: bytes | None) -> str:
    return " ".join("".join(read(body).text).split())


@pytest.mark.parametrize("locale", ["en", "de"])
def test_home_and_incident_tell_the_four_parts_the_promise_and_the_contact(
    sqlite_engine: sa.Engine, locale: str
) -> None:
    world = World(sqlite_engine)
    outage = world.incident("API errors", components={"api": "partial_outage"}, cause="A bad deploy.")
    page = snapshot(sqlite_engine, T0 + timedelta(minutes=5))
    home, incident = render_home(page, locale, ""), render_incident(page, outage.reference, locale, "")
    for body in (home, incident):
        reader = read(body)
        for heading in HEADINGS[locale]:
            assert heading in reader.headings, (locale, heading)
        text = words(body)
        assert "A bad deploy." in text and "+44 20 7946 0000" in text and "support@acme.example" in text
        promise = {
            "en": "Next update by 20 Nov 2026, 10:30 UTC.",
            "de": "Nächste Meldung spätestens am 20. Nov. 2026, 10:30 UTC.",
        }
        assert promise[locale] in text
        unknown_fix = {"en": "We are working on a fix now.", "de": "Wir arbeiten gerade an einer Lösung."}
        assert unknown_fix[locale] in text
        assert ("time", {"datetime": "2026-11-20T10:30:00Z"}) in reader.tags
        assert ("html", {"lang": locale}) in reader.tags
    assert read(home).headings[0] == {"en": "Partial outage", "de": "Teilweiser Ausfall"}[locale]
    assert {"en": "Cause identified", "de": "Ursache gefunden"}[locale] not in words(
        home
    )  # still investigating
    assert {"en": "Investigating", "de": "Wird untersucht"}[locale] in words(home)


def test_markup_in_a_story_is_shown_as_text(sqlite_engine: sa.Engine) -> None:
    world = World(sqlite_engine)
    hostile = '"><img src=x onerror=alert(1)>'
    outage = world.incident(
        "<script>alert('title')</script>",
        components={"api": "major_outage"},
        apology=f"Sorry {hostile}",
        cause="<script>alert('cause')</script>",
    )
    page = snapshot(sqlite_engine, T0)
    for body in (
        render_home(page, "en", ""),
        render_incident(page, outage.reference, "en", ""),
        render_history(page, 1, "en", ""),
    ):
        assert body is not None
        reader = read(body)
        assert not [tag for tag, attrs in reader.tags if tag == "img" or "onerror" in attrs]
        assert [attrs.get("src") for tag, attrs in reader.tags if tag == "script"] == ["/static/localtime.js"]
        assert "<script>alert('title')</script>" in words(body)  # shown, as text
    assert hostile in words(render_incident(page, outage.reference, "en", ""))


def test_a_draft_is_never_shown(sqlite_engine: sa.Engine) -> None:
    world = World(sqlite_engine)
    outage = world.incident("API errors", components={"api": "partial_outage"})
    world.draft(outage, at=T0 + timedelta(minutes=5))
    unpublished = world.incident("Secret", components={"api": "major_outage"})
    world.draft(unpublished, at=T0 + timedelta(minutes=6))
    page = snapshot(sqlite_engine, T0 + timedelta(minutes=10))
    bodies = [
        render_home(page, "en", ""),
        render_incident(page, outage.reference, "en", ""),
        render_history(page, 1, "en", ""),
    ]
    for body in bodies:
        assert body is not None and b"DRAFT" not in body
    assert "Identified" not in words(bodies[1])
    assert render_incident(page, "INC-0099", "en", "") is None


def test_maintenance_through_its_window(sqlite_engine: sa.Engine) -> None:
    world = World(sqlite_engine)
    starts = T0 + timedelta(days=1)
    work = world.maintenance("Database upgrade", starts=starts, hours=2, components=["api"], announced=T0)

    def seen(now: datetime, locale: str = "en") -> tuple[str, str]:
        page = snapshot(sqlite_engine, now)
        return words(render_home(page, locale, "")), words(render_incident(page, work.reference, locale, ""))

    home, incident = seen(T0 + timedelta(hours=1))
    assert "Scheduled maintenance" in home and "Scheduled" in incident and "All systems operational" in home
    assert "21 Nov 2026, 09:30 UTC to 21 Nov 2026, 11:30 UTC" in incident and "What will happen" in incident
    assert "Why it happened" not in incident  # a part a maintenance did not tell is left out
    home, incident = seen(starts + timedelta(minutes=30))
    assert "Maintenance in progress" in home and "In progress" in incident and "Under maintenance" in home
    home, incident = seen(starts + timedelta(hours=3))
    assert "Verifying" in incident
    world.resolve(work, at=starts + timedelta(hours=3), apology="All done.")
    home, incident = seen(starts + timedelta(hours=4))
    assert "Completed" in incident and "All done." in incident and "All systems operational" in home
    _home, german = seen(starts + timedelta(hours=4), "de")
    assert "Abgeschlossen" in german and "Wartung" in german


def test_history_pages_and_their_links(sqlite_engine: sa.Engine) -> None:
    world = World(sqlite_engine)
    for months_ago in range(8):
        at = T0 - timedelta(days=31 * months_ago)
        done = world.incident(f"Outage {months_ago}", at=at, components={"api": "major_outage"})
        world.resolve(done, at=at + timedelta(hours=1))
    page = snapshot(sqlite_engine, T0 + timedelta(days=1))
    first, second = render_history(page, 1, "en", "?lang=de"), render_history(page, 2, "en", "?lang=de")
    assert render_history(page, 3, "en", "") is None
    assert "Outage 5" in words(first) and "Outage 6" not in words(first) and "Outage 6" in words(second)
    links = {attrs.get("href") for tag, attrs in read(first).tags if tag == "a"}
    assert "/history/page/2?lang=de" in links and "/incidents/INC-0001?lang=de" in links
    assert "Page 1 of 2" in words(first)
    assert ("link", {"rel": "prev", "href": "/history?lang=de"}) in read(second).tags


def test_an_address_that_names_nothing(sqlite_engine: sa.Engine) -> None:
    page = snapshot(sqlite_engine, T0)
    for reference in ("INC-0001", "INC-1", "inc-0001", "../etc", ""):
        assert render_incident(page, reference, "en", "") is None
    missing = render_not_found(page, "de", "")
    assert read(missing).headings == ["Seite nicht gefunden"]
    assert ("meta", {"name": "robots", "content": "noindex"}) in read(missing).tags


def test_a_part_in_another_language_says_which(sqlite_engine: sa.Engine) -> None:
    world = World(sqlite_engine)
    outage = world.incident("API errors", apology="Only in English.")
    body = render_incident(snapshot(sqlite_engine, T0), outage.reference, "de", "")
    assert body is not None and b'<p lang="en">Only in English.</p>' in body
    assert b'<p lang="en">' not in (
        render_incident(snapshot(sqlite_engine, T0), outage.reference, "en", "") or b""
    )


def test_paragraphs_stay_paragraphs(sqlite_engine: sa.Engine) -> None:
    world = World(sqlite_engine)
    outage = world.incident("API errors", apology="First we broke it.\n\nThen we said sorry,\non two lines.")
    body = render_incident(snapshot(sqlite_engine, T0), outage.reference, "en", "")
    assert body is not None and b"<p>First we broke it.</p>" in body
    assert b"<p>Then we said sorry, on two lines.</p>" in body
