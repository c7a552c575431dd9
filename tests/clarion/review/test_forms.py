"""The report's forms: Markdown that a hostile title cannot steer, the HTML page that escapes it, the
PDF read back as text, and the trend over two incidents."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from pypdf import PdfReader
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from clarion import store
from clarion.errors import PdfUnavailable
from clarion.review import pdf
from clarion.review.figures import Review, review
from clarion.review.headline import duration
from clarion.review.jsonform import from_json, to_json
from clarion.review.markdown import review_markdown
from clarion.review.page import review_page
from clarion.review.trend import Trend, trend, trend_markdown
from tests.clarion.review.review_world import HOSTILE, NOW, T, known_incident

HEADLINE = (
    "Time to first word: 0h 40m (first message accepted 2026-03-02 08:40 UTC)",
    "Promises kept: 2 of 3 (67 %), worst lateness 0h 25m",
    "Reach: 2 of 5 affected recipients (40 %) received at least one message",
    "Deadlines: 1 met, 1 late, 0 waived, 0 missed, 0 open",
    "Commitments: 2: 1 shipped on time, 0 shipped late, 0 dropped, 1 open (1 overdue)",
)


@pytest.fixture
def hostile() -> Review:
    engine = store.make_engine("sqlite://", poolclass=StaticPool)
    store.migrate(engine)
    known_incident(engine, title=HOSTILE)
    with Session(engine) as session:
        found = review(
            session=session, incident=store.get_incident(session=session, reference="INC-0042"), now=NOW
        )
    engine.dispose()
    return found


def test_the_markdown_gives_the_headline_and_every_table(hostile: Review) -> None:
    text = review_markdown(hostile)
    for line in HEADLINE:
        label, said = line.split(": ", 1)
        assert f"- **{label}**: {said}" in text
    assert "| 1 | 2026-03-02 10:00 UTC | 2026-03-02 10:25 UTC | late by 0h 25m |" in text
    assert "| email | 4 | 2 (50 %) | 2 | 1 | 2 | 1 | 0 | 1 | 0 |" in text  # counted once: 2
    assert "| dpo | 2 | 0h 14m | 0h 20m |" in text
    assert "| gdpr-art33 | initial | 2026-03-05 08:00 UTC | 2026-03-05 11:00 UTC | late | -3h 00m |" in text
    assert "| 2 | 1 | 0 | 0 | 1 | 1 |" in text


def test_a_hostile_title_is_inert_in_markdown(hostile: Review) -> None:
    first = review_markdown(hostile).splitlines()[0]
    assert "<script>" not in first and "&lt;script&gt;" in first
    assert r"\[link\](http://evil.example)" in first and r"\*down\*" in first and r"\|" in first
    assert r"\`x\`" in first


def test_the_page_escapes_everything_and_runs_no_script(hostile: Review) -> None:
    page = review_page(hostile).decode()
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "style=" not in page  # the page's policy allows no inline style
    assert '<link rel="stylesheet" href="/static/review.css">' in page
    for line in HEADLINE:
        label, said = line.split(": ", 1)
        assert f"<div><dt>{label}</dt><dd>{said}</dd></div>" in page


def test_the_pdf_says_the_headline(hostile: Review) -> None:
    document = PdfReader(io.BytesIO(pdf.review_pdf(hostile)))
    text = re.sub(r"\s+", " ", " ".join(page.extract_text() for page in document.pages))
    assert "INC-0042" in text and "<script>alert(1)</script>" in text  # as text, never run
    for line in HEADLINE:
        label, said = line.split(": ", 1)
        assert f"{label} {said}" in text


def test_without_pango_the_pdf_says_what_to_install(hostile: Review, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf, "pango_missing", lambda: "libpango-1.0.so.0")
    with pytest.raises(PdfUnavailable) as refused:
        pdf.review_pdf(hostile)
    assert str(refused.value) == (
        "PDF needs Pango (libpango-1.0.so.0 is missing): apt-get install "
        "libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core"
    )


def test_the_trend_over_two_incidents(engine: sa.Engine) -> None:
    known_incident(engine, reference="INC-0041", title="Logins failed", start=T - timedelta(days=40))
    known_incident(engine)
    known_incident(engine, reference="INC-0007", title="Long ago", start=T - timedelta(days=200))
    with store.session_scope(engine) as session:  # INC-0041: the first email an hour later
        session.execute(
            sa.text("UPDATE delivery SET accepted_at = NULL WHERE idempotency_key LIKE 'INC-0041/1/email/%'")
        )
    with Session(engine) as session:
        found = trend(session=session, window=timedelta(days=90), now=NOW)

    assert [r.reference for r in found.rows] == ["INC-0041", "INC-0042"]
    older, newer = found.rows
    assert (older.first_word, newer.first_word) == (timedelta(minutes=42), timedelta(minutes=40))
    assert (newer.promises_kept, newer.promises_due, newer.worst_late_by) == (2, 3, timedelta(minutes=25))
    assert (newer.audience, newer.reach_share) == (5, 0.4)
    assert (newer.stages_late_or_missed, newer.commitments_overdue) == (1, 1)
    assert found.median_first_word == timedelta(minutes=41)
    assert found.median_kept_share == pytest.approx(2 / 3)
    assert from_json(Trend, to_json(found)) == found
    table = trend_markdown(found)
    assert (
        "| INC-0042 | Checkout is failing | 2026-03-02 08:05 UTC | 0h 40m | 2 of 3 (67 %) | 0h 25m |" in table
    )
    assert "Medians over 2 incidents: first word 0h 41m, promises kept 67 %, reach" in table


@pytest.mark.parametrize(
    ("span", "said"),
    [
        (timedelta(seconds=21.7), "22 s"),
        (timedelta(seconds=-5), "-5 s"),
        (timedelta(minutes=40), "0h 40m"),
        (timedelta(hours=-3), "-3h 00m"),
        (timedelta(days=2, hours=4), "2d 4h"),
        (None, "-"),
    ],
)
def test_durations_read_at_a_glance(span: timedelta | None, said: str) -> None:
    assert duration(span) == said
