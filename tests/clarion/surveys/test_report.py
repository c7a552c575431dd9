"""The survey report: every figure of a survey with known answers, and what its Markdown and JSON say."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from clarion.kinds import Channel
from clarion.models import Incident
from clarion.surveys.report import (
    SIGNALS,
    ChannelRate,
    SurveyReport,
    ratio_text,
    report_json,
    report_markdown,
    survey_report,
)
from tests.clarion.surveys.answer_world import CLOSES, T0, SurveyRows, resolved_incident

NOW = T0 + timedelta(days=5)


def report_of(engine: sa.Engine, incident: Incident, now: datetime = NOW) -> SurveyReport:
    with Session(engine) as session:
        return survey_report(session=session, incident=incident, now=now)


@pytest.fixture
def surveyed(engine: sa.Engine) -> Incident:
    """Eight asked (six by email, two by SMS), seven answered; another incident's answers beside it.

    ======  =======  ========  =====  ===  ==========================  ========  =====
    who     channel  informed  trust  NPS  signals                     polarity  quote
    ======  =======  ========  =====  ===  ==========================  ========  =====
    ada     email    5         4      10   appreciation, relief        positive  yes
    bob     email    2         1      3    doubt (text purged since)   negative  -
    cy      email    4         4      9    (no text: 4 + 4 → positive)
    dee     email    -         -      -    did not answer
    eve     email    3         3      8    relief, doubt               mixed     no
    fay     email    5         5      -    (no text: positive)
    gus     sms      3         3      7    (no text: neutral)
    hal     sms      1         2      -    (no text: negative)
    ======  =======  ========  =====  ===  ==========================  ========  =====
    """
    incident = resolved_incident(engine)
    rows = SurveyRows(engine, incident)
    rows.open_survey(invited=8)
    rows.answer(
        "ada",
        informed=5,
        trust=4,
        nps=10,
        text="Thank you *so* much, the updates were a relief.",
        tags=["relief", "appreciation"],
        polarity="positive",
        quote=True,
    )
    rows.answer("bob", informed=2, trust=1, nps=3, text="I doubt it.", tags=["doubt"], polarity="negative")
    rows.mark_purged("bob", T0 + timedelta(days=4))
    rows.answer("cy", informed=4, trust=4, nps=9)
    rows.ask("dee", email="dee@example.com")
    rows.answer(
        "eve",
        informed=3,
        trust=3,
        nps=8,
        text="Relieved, but I doubt.",
        tags=["relief", "doubt"],
        polarity="mixed",
    )
    rows.answer("fay", informed=5, trust=5)
    rows.ask("gus", channel=Channel.SMS, phone="+447700900001")
    rows.answer("gus", informed=3, trust=3, nps=7)
    rows.ask("hal", channel=Channel.SMS, phone="+447700900002")
    rows.answer("hal", informed=1, trust=2, contact=True)
    rows.followup("bob")
    rows.followup("hal", closed_note="Called back.")

    other = SurveyRows(engine, resolved_incident(engine, title="Another one"))
    other.open_survey(invited=1)
    other.answer(
        "zed", informed=1, trust=1, nps=0, text="Awful", tags=["cynicism"], polarity="negative", quote=True
    )
    other.followup("zed")
    return incident


def test_every_figure(engine: sa.Engine, surveyed: Incident) -> None:
    report = report_of(engine, surveyed)
    assert (report.reference, report.title) == (surveyed.reference, "Checkout was failing")
    assert report.opened_at == T0 + timedelta(days=2)
    assert report.closes_at == T0 + timedelta(days=2) + CLOSES
    assert report.closed is False
    assert (report.invited, report.answered) == (8, 7)
    assert report.response_rate == pytest.approx(7 / 8)
    assert report.per_channel == [
        ChannelRate("email", 6, 5, pytest.approx(5 / 6)),  # type: ignore[arg-type]
        ChannelRate("sms", 2, 2, 1.0),
    ]
    assert report.informed == {1: 1, 2: 1, 3: 2, 4: 1, 5: 2}
    assert report.trust == {1: 1, 2: 1, 3: 2, 4: 2, 5: 1}
    assert report.informed_mean == pytest.approx(23 / 7)
    assert report.trust_mean == pytest.approx(22 / 7)
    # promoters ada (10) and cy (9), detractor bob (3), passives eve (8) and gus (7): (2 - 1) / 5
    assert (report.nps, report.nps_answers) == (20, 5)
    assert report.signals == {
        "doubt": 2,
        "cynicism": 0,
        "relief": 2,
        "regained_confidence": 0,
        "appreciation": 1,
    }
    assert list(report.signals) == list(SIGNALS)
    # bob keeps the polarity of his purged text; cy and fay by their scores, hal too, gus neutral
    assert report.polarity == {"positive": 3, "negative": 2, "mixed": 1, "neutral": 1}
    assert (report.positive, report.negative, report.ratio) == (3, 2, 1.5)
    assert report.quotes == {
        "doubt": [],  # eve did not allow quoting; bob's text is gone
        "cynicism": [],  # zed's is another incident's
        "relief": ["Thank you *so* much, the updates were a relief."],
        "regained_confidence": [],
        "appreciation": ["Thank you *so* much, the updates were a relief."],
    }
    assert (report.followups_open, report.followups_total) == (1, 2)


def test_closed_once_the_links_expire(engine: sa.Engine, surveyed: Incident) -> None:
    assert report_of(engine, surveyed, now=T0 + timedelta(days=2) + CLOSES).closed is True


@pytest.mark.parametrize(
    ("positive", "negative", "shown"),
    [(3, 2, "1.5 : 1"), (9, 4, "2.3 : 1"), (1, 4, "0.25 : 1"), (5, 0, "no negative answers")],
)
def test_ratio_text(positive: int, negative: int, shown: str) -> None:
    assert ratio_text(positive, negative) == shown


def test_no_negative_answer_is_no_ratio(engine: sa.Engine) -> None:
    incident = resolved_incident(engine)
    rows = SurveyRows(engine, incident)
    rows.open_survey(invited=2)
    rows.answer("ada", informed=5, trust=5)
    rows.answer("bob", informed=3, trust=3, text="Fine.", polarity="neutral")
    report = report_of(engine, incident)
    assert (report.positive, report.negative, report.ratio) == (1, 0, None)
    assert report.nps is None and report.nps_answers == 0
    assert "no negative answers" in report_markdown(report)


def test_an_incident_without_a_survey(engine: sa.Engine) -> None:
    incident = resolved_incident(engine)
    report = report_of(engine, incident)
    assert (report.invited, report.answered, report.response_rate, report.per_channel) == (0, 0, 0.0, [])
    assert report.informed == dict.fromkeys(range(1, 6), 0) and report.informed_mean is None
    assert report.signals == dict.fromkeys(SIGNALS, 0) and report.ratio is None
    assert report.opened_at is None and report.closed is False
    assert "No survey was sent for this incident." in report_markdown(report)


def test_quotes_only_allowed_unpurged_and_three_per_signal(engine: sa.Engine) -> None:
    incident = resolved_incident(engine)
    rows = SurveyRows(engine, incident)
    rows.open_survey(invited=7)
    for n in range(5):
        rows.answer(
            f"p{n}",
            informed=5,
            trust=5,
            text=f"Relief {n}",
            tags=["relief"],
            quote=True,
            after=timedelta(hours=n),
        )
    rows.answer("shy", informed=5, trust=5, text="Relief, privately", tags=["relief"], quote=False)
    rows.answer("old", informed=1, trust=1, text="I doubt you", tags=["doubt"], quote=True)
    rows.mark_purged("old", T0, keep_text=True)
    report = report_of(engine, incident)
    assert report.quotes["relief"] == ["Relief 0", "Relief 1", "Relief 2"]  # the oldest three
    assert report.quotes["doubt"] == []
    assert report.signals["relief"] == 6  # counted whether quotable or not


def test_markdown_headline_tables_and_inert_quotes(engine: sa.Engine, surveyed: Incident) -> None:
    text = report_markdown(report_of(engine, surveyed))
    assert text.startswith(f"# {surveyed.reference} survey: Checkout was failing\n")
    assert "**7 of 8 answered (88 %).** Positive to negative: 1.5 : 1 (3 positive, 2 negative)." in text
    assert "Kept informed: mean 3.3 of 5. Trust: mean 3.1 of 5. NPS +20 (5 answers)." in text
    assert "Follow-ups: 1 open of 2." in text
    assert "| email | 6 | 5 | 83 % |" in text and "| sms | 2 | 2 | 100 % |" in text
    assert "| 5 | 2 | 1 |" in text  # score 5: informed 2, trust 1
    assert "| regained confidence | 0 |" in text and "| mixed | 1 |" in text
    assert "> Thank you \\*so\\* much, the updates were a relief." in text  # emphasis made inert
    assert "Awful" not in text


def test_json_is_plain_data(engine: sa.Engine, surveyed: Incident) -> None:
    data = json.loads(json.dumps(report_json(report_of(engine, surveyed))))
    assert data["opened_at"] == (T0 + timedelta(days=2)).isoformat()
    assert data["informed"] == {"1": 1, "2": 1, "3": 2, "4": 1, "5": 2}
    assert data["per_channel"][1] == {"channel": "sms", "invited": 2, "answered": 2, "rate": 1.0}
    assert (data["positive"], data["negative"], data["ratio"], data["nps"]) == (3, 2, 1.5, 20)
