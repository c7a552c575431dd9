"""The Atom and RSS feeds: one entry per published update, newest first, markup kept inert."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from clarion import store
from clarion.statuspage.components import catalogue_at
from clarion.statuspage.feed import MOST_ENTRIES, FeedFormat, render_feed
from clarion.statuspage.record import Record, load_record
from clarion.statuspage.snapshot import PageInfo, Snapshot
from tests.clarion.statuspage.test_api import told
from tests.statuspage_world import COMPONENTS_FILE, T0, World

ATOM = "{http://www.w3.org/2005/Atom}"
PAGE = PageInfo.of("https://status.acme.example", "UTC")
MINUTE = timedelta(minutes=1)
ATTACK = '</title><script>alert(1)</script><img src=x onerror="alert(2)"> & done'


def snapshot(engine: sa.Engine, now: datetime) -> Snapshot:
    with store.reading(engine) as connection:
        record = load_record(connection)
    return Snapshot(record, catalogue_at(COMPONENTS_FILE), now, PAGE)


def parse(body: bytes) -> ET.Element:
    """Our own feed's bytes (the standard library's parser is fine for what we wrote ourselves)."""
    return ET.fromstring(body)  # noqa: S314


def atom_entries(body: bytes) -> list[dict[str, str | None]]:
    root = parse(body)
    assert root.tag == f"{ATOM}feed"
    return [
        {
            "id": entry.findtext(f"{ATOM}id"),
            "title": entry.findtext(f"{ATOM}title"),
            "updated": entry.findtext(f"{ATOM}updated"),
            "link": entry.find(f"{ATOM}link").get("href"),  # type: ignore[union-attr]
            "content": entry.findtext(f"{ATOM}content"),
            "type": entry.find(f"{ATOM}content").get("type"),  # type: ignore[union-attr]
        }
        for entry in root.iter(f"{ATOM}entry")
    ]


def rss_items(body: bytes) -> list[dict[str, str | None]]:
    root = parse(body)
    assert (root.tag, root.get("version")) == ("rss", "2.0")
    return [
        {
            "guid": item.findtext("guid"),
            "permalink": item.find("guid").get("isPermaLink"),  # type: ignore[union-attr]
            "title": item.findtext("title"),
            "link": item.findtext("link"),
            "description": item.findtext("description"),
            "pubDate": item.findtext("pubDate"),
        }
        for item in root.iter("item")
    ]


@pytest.fixture
def story(engine: sa.Engine) -> Snapshot:
    world = World(engine)
    work = world.maintenance("Database upgrade", starts=T0 + timedelta(hours=2), components=["api"])
    outage = world.incident("API errors", components={"api": "partial_outage"}, at=T0 + MINUTE)
    world.tell(outage, "identified", at=T0 + 20 * MINUTE, cause="A bad deploy.", fix="Rolled back.")
    world.draft(outage, at=T0 + 25 * MINUTE)
    world.resolve(outage, at=T0 + 60 * MINUTE)
    world.resolve(work, at=T0 + timedelta(hours=4))
    return snapshot(engine, T0 + timedelta(hours=5))


def test_atom_has_one_entry_per_published_update_newest_first(story: Snapshot) -> None:
    entries = atom_entries(render_feed(story, FeedFormat.ATOM))

    assert [e["title"] for e in entries] == [
        "INC-0001 · Database upgrade · Completed",
        "INC-0002 · API errors · Resolved",
        "INC-0002 · API errors · Identified",
        "INC-0002 · API errors · Investigating",
        "INC-0001 · Database upgrade · Scheduled",
    ]  # the draft never appears
    assert [e["updated"] for e in entries][1:4] == [
        "2026-11-20T10:30:00+00:00",
        "2026-11-20T09:50:00+00:00",
        "2026-11-20T09:31:00+00:00",
    ]
    identified = entries[2]
    assert identified == {
        "id": "https://status.acme.example/incidents/INC-0002#update-2",
        "title": "INC-0002 · API errors · Identified",
        "updated": "2026-11-20T09:50:00+00:00",
        "link": "https://status.acme.example/incidents/INC-0002",
        "content": "We are sorry for the trouble.\n\nA bad deploy.\n\nRolled back.",
        "type": "text",
    }
    assert "DRAFT" not in render_feed(story, FeedFormat.ATOM).decode()
    assert len({e["id"] for e in entries}) == len(entries)


def test_rss_tells_the_same_entries(story: Snapshot) -> None:
    atom = atom_entries(render_feed(story, FeedFormat.ATOM))
    items = rss_items(render_feed(story, FeedFormat.RSS))

    assert [(i["guid"], i["title"], i["link"]) for i in items] == [
        (e["id"], e["title"], e["link"]) for e in atom
    ]
    assert {i["permalink"] for i in items} == {"false"}
    assert (
        items[2]["description"]
        == "<p>We are sorry for the trouble.</p><p>A bad deploy.</p><p>Rolled back.</p>"
    )
    assert items[2]["pubDate"] == "Fri, 20 Nov 2026 09:50:00 +0000"


def test_entry_ids_do_not_change_when_more_is_published(engine: sa.Engine) -> None:
    world = World(engine)
    outage = world.incident("API errors", at=T0)
    before = atom_entries(render_feed(snapshot(engine, T0 + MINUTE), FeedFormat.ATOM))
    world.tell(outage, "monitoring", at=T0 + 10 * MINUTE)
    after = atom_entries(render_feed(snapshot(engine, T0 + 11 * MINUTE), FeedFormat.ATOM))

    assert len(after) == 2
    assert after[1] == before[0]


def test_markup_in_a_story_stays_text(engine: sa.Engine) -> None:
    world = World(engine)
    world.incident(ATTACK, cause=ATTACK, at=T0)
    page = snapshot(engine, T0 + MINUTE)
    atom, rss = render_feed(page, FeedFormat.ATOM), render_feed(page, FeedFormat.RSS)

    for body in (atom, rss):
        tags = {element.tag.split("}")[-1] for element in parse(body).iter()}
        assert not tags & {"script", "img"}
    (entry,) = atom_entries(atom)
    assert entry["title"] == f"INC-0001 · {ATTACK} · Investigating"
    assert entry["content"] == f"Some of you cannot use the API. We are sorry.\n\n{ATTACK}"
    assert entry["type"] == "text"  # Atom readers show text content as characters
    (item,) = rss_items(rss)
    assert item["title"] == entry["title"]
    description = item["description"] or ""
    assert set(re.findall(r"<(/?\w+)", description)) == {"p", "/p"}  # only the paragraphs we made
    assert "&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img" in description
    assert "&amp; done" in description


def test_the_feed_speaks_german_when_asked(story: Snapshot) -> None:
    entries = atom_entries(render_feed(story, FeedFormat.ATOM, "de"))
    root = parse(render_feed(story, FeedFormat.RSS, "de"))

    assert [e["title"] for e in entries][:2] == [
        "INC-0001 · Database upgrade · Abgeschlossen",
        "INC-0002 · API errors · Behoben",
    ]
    assert root.findtext("channel/language") == "de"
    assert root.findtext("channel/title") == "status.acme.example: Störungen und Wartungen"


def test_at_most_a_hundred_entries_and_stable_bytes() -> None:
    record = Record(tuple(told(n, maintenance=n % 3 == 0) for n in range(150, 0, -1)))
    page = Snapshot(record, catalogue_at(COMPONENTS_FILE), T0 + timedelta(days=1), PAGE)
    again = Snapshot(record, catalogue_at(COMPONENTS_FILE), T0 + timedelta(days=1, hours=1), PAGE)

    entries = atom_entries(render_feed(page, FeedFormat.ATOM))

    assert len(entries) == MOST_ENTRIES == len(rss_items(render_feed(page, FeedFormat.RSS)))
    assert [e["id"] for e in entries][:2] == [
        "https://status.acme.example/incidents/INC-0150#update-1",
        "https://status.acme.example/incidents/INC-0149#update-1",
    ]
    assert entries[-1]["id"] == "https://status.acme.example/incidents/INC-0051#update-1"
    assert render_feed(page, FeedFormat.ATOM) == render_feed(again, FeedFormat.ATOM)  # no build time inside
    assert render_feed(page, FeedFormat.RSS) == render_feed(again, FeedFormat.RSS)


def test_an_empty_page_still_makes_valid_feeds(engine: sa.Engine) -> None:
    page = snapshot(engine, T0)

    atom = parse(render_feed(page, FeedFormat.ATOM))
    rss = parse(render_feed(page, FeedFormat.RSS))

    assert atom.findtext(f"{ATOM}updated") == "2026-11-20T09:30:00+00:00"
    assert list(atom.iter(f"{ATOM}entry")) == []
    assert rss.findtext("channel/link") == "https://status.acme.example/history"
    assert list(rss.iter("item")) == []
