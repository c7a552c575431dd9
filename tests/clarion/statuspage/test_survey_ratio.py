"""What the status page says about the surveys: a resolved incident's answers from its playbook's
minimum on, the last 90 days on the home page, in English and German, and nothing in the JSON API."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from clarion.models import Incident
from clarion.settings import Settings
from clarion.statuspage.api import DOCUMENTS, render_document
from clarion.statuspage.site import render_home, render_incident
from clarion.statuspage.snapshot import DEFAULT_MINIMUM, Snapshot, minimums, take_snapshot
from clarion.statuspage.wording import Wording
from clarion.surveys.report import PublishedRatios, Tally, published_ratios
from tests.clarion.surveys.answer_world import SurveyRows
from tests.statuspage_world import COMPONENTS_FILE, T0, World

NOW = T0 + timedelta(days=10)
NBSP = "\u00a0"


def text(body: bytes | None) -> str:
    assert body is not None
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body.decode())).replace(NBSP, "~").split())


def resolved(world: World, title: str, at: datetime = T0) -> Incident:
    incident = world.incident(title, at=at, components={"api": "partial_outage"})
    world.resolve(incident, at=at + timedelta(hours=2))
    return incident


def answers(
    engine: sa.Engine, incident: Incident, positive: int, negative: int, neutral: int = 0
) -> SurveyRows:
    """Answers without text (their scores say their polarity): 5/5, 1/1 and 3/3, from two days after
    the incident began."""
    rows = SurveyRows(engine, incident, opened_at=incident.aware_at + timedelta(days=2))
    for n, (informed, count) in enumerate(((5, positive), (1, negative), (3, neutral))):
        for k in range(count):
            rows.answer(f"{incident.reference}-{n}-{k}", informed=informed, trust=informed)
    return rows


def snapshot(engine: sa.Engine, tmp_path: Path, now: datetime = NOW) -> Snapshot:
    settings = Settings(
        home=tmp_path, public_url="https://status.acme.example", components_file=COMPONENTS_FILE
    )
    return take_snapshot(engine, settings, now)  # the shipped outage playbook: 10 answers at least


def test_shown_from_the_minimum_and_not_below(engine: sa.Engine, tmp_path: Path) -> None:
    world = World(engine)
    enough = resolved(world, "API errors")
    answers(engine, enough, positive=7, negative=2, neutral=1)
    few = resolved(world, "Slow dashboard", at=T0 + timedelta(days=1))
    answers(engine, few, positive=9, negative=0)
    still_open = world.incident("Builds failing", at=T0 + timedelta(days=2))
    answers(engine, still_open, positive=12, negative=0)
    page = snapshot(engine, tmp_path)

    shown = text(render_incident(page, enough.reference, "en", ""))
    assert "What our customers told us" in shown
    assert "10 customers answered our survey; positive to negative 3.5~:~1." in shown
    for quiet in (few, still_open):  # 9 answers; not resolved
        assert "customers answered" not in text(render_incident(page, quiet.reference, "en", ""))
    home = text(render_home(page, "en", ""))
    recent = "In the last 90 days, 10 customers answered our surveys after incidents; positive to negative"
    assert f"{recent} 3.5~:~1." in home


def test_none_negative_says_so_and_german_wording(engine: sa.Engine, tmp_path: Path) -> None:
    world = World(engine)
    incident = resolved(world, "API errors")
    answers(engine, incident, positive=10, negative=0, neutral=2)
    page = snapshot(engine, tmp_path)
    assert "12 customers answered our survey; none of the answers was negative." in text(
        render_incident(page, incident.reference, "en", "")
    )
    german = text(render_incident(page, incident.reference, "de", ""))
    assert "Was unsere Kundinnen und Kunden uns sagen" in german
    assert (
        "12 Kundinnen und Kunden haben unsere Umfrage beantwortet; keine der Antworten war negativ." in german
    )
    assert "inf" not in german and "∞" not in german


def test_german_ratio_has_a_decimal_comma(engine: sa.Engine, tmp_path: Path) -> None:
    world = World(engine)
    incident = resolved(world, "API errors")
    answers(engine, incident, positive=3, negative=8)
    page = snapshot(engine, tmp_path)
    assert "positiv zu negativ 0,38~:~1." in text(render_incident(page, incident.reference, "de", ""))
    assert (
        "In den letzten 90 Tagen haben 11 Kundinnen und Kunden unsere Umfragen nach Störungen beantwortet; "
        "positiv zu negativ 0,38~:~1." in text(render_home(page, "de", ""))
    )


def test_the_90_day_total_leaves_out_small_surveys_and_old_answers(engine: sa.Engine) -> None:
    world = World(engine)
    old = resolved(world, "Old outage", at=T0 - timedelta(days=120))  # answered 118 days before NOW
    answers(engine, old, positive=20, negative=5)
    both = resolved(world, "API errors")
    rows = answers(engine, both, positive=4, negative=1)
    for k in range(3):  # three of its answers came in more than 90 days before the moment asked
        rows.answer(f"early-{k}", informed=1, trust=1, after=timedelta(days=-100))
    small = resolved(world, "Blip", at=T0 + timedelta(days=1))
    answers(engine, small, positive=0, negative=4)

    with Session(engine) as session:
        ratios = published_ratios(session=session, now=NOW, minimum_for=lambda _playbook: 5)
    assert ratios.incidents == {old.reference: Tally(25, 20, 5), both.reference: Tally(8, 4, 4)}
    assert ratios.recent == Tally(5, 4, 1)  # "both"'s last 90 days; the blip (4 < 5) never counts

    with Session(engine) as session:  # a total smaller than a survey may be is not given either
        ratios = published_ratios(session=session, now=NOW, minimum_for=lambda _playbook: 8)
    assert set(ratios.incidents) == {old.reference, both.reference} and ratios.recent is None


def test_answers_after_the_moment_do_not_count_yet(engine: sa.Engine) -> None:
    world = World(engine)
    incident = resolved(world, "API errors")
    answers(engine, incident, positive=5, negative=0)  # answered at T0 + 2 d 1 h
    with Session(engine) as session:
        assert published_ratios(session=session, now=T0 + timedelta(days=2), minimum_for=lambda _: 5) == (
            PublishedRatios()
        )


@pytest.mark.parametrize(
    ("positive", "negative", "en", "de"),
    [
        (7, 2, "3.5", "3,5"),
        (9, 4, "2.3", "2,3"),
        (1, 4, "0.25", "0,25"),
        (2, 3, "0.67", "0,67"),
        (12345, 1, "12,345", "12.345"),
    ],
)
def test_ratios_as_each_language_writes_them(positive: int, negative: int, en: str, de: str) -> None:
    assert (Wording("en").ratio(positive, negative), Wording("de").ratio(positive, negative)) == (en, de)


def test_a_playbook_that_cannot_be_read_asks_the_default(tmp_path: Path) -> None:
    minimum_for = minimums(tmp_path)
    assert minimum_for("no-such-playbook") == DEFAULT_MINIMUM == 10
    (tmp_path / "broken.yaml").write_text("name: [", encoding="utf-8")
    assert minimum_for("broken") == DEFAULT_MINIMUM


def test_the_json_api_says_nothing_of_surveys(engine: sa.Engine, tmp_path: Path) -> None:
    world = World(engine)
    incident = resolved(world, "API errors")
    answers(engine, incident, positive=10, negative=2)
    page = snapshot(engine, tmp_path)
    assert page.surveys.incidents
    without = Snapshot(page.record, page.catalogue, page.now, page.page)
    for path in DOCUMENTS:
        assert render_document(page, path, "en") == render_document(without, path, "en")
