"""The staff pages: absent without a staff token, closed without its credentials, and what they show
with them (the follow-ups people asked for, and an incident's survey report)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlmodel import Session

from clarion.models import Incident, utcnow
from clarion.surveys.followups import close_followup
from clarion.surveys.report import ChannelRate, SurveyReport
from faces.web import staff
from tests.faces.web.subscribe_helpers import TestClient
from tests.faces.web.survey_helpers import (
    STAFF_TOKEN,
    SurveyWorld,
    csrf_of,
    survey_client,
    survey_settings,
    survey_world,
)

STAFF = ("staff", STAFF_TOKEN)
PAGES = ("/staff/followups", "/staff/followups?open=1", "/staff/surveys/INC-0001", "/staff/reports/INC-0001")


@pytest.fixture
def world(engine: sa.Engine) -> SurveyWorld:
    return survey_world(engine)


@pytest.fixture
def client(tmp_path: Path, engine: sa.Engine) -> Iterator[TestClient]:
    with survey_client(survey_settings(tmp_path, staff=True), engine) as client:
        yield client


def ask_for_a_person(client: TestClient, world: SurveyWorld) -> None:
    token = world.invite("ada")
    form = client.get(f"/survey/{token}")
    fields = {"informed": "2", "trust": "1", "text": "Nobody told us anything.", "contact": "yes"}
    posted = client.post(
        f"/survey/{token}", data={"csrf": csrf_of(form.text), **fields, "contact_channel": "sms"}
    )
    assert posted.status_code == 303


@pytest.mark.parametrize("token", [None, "too-short"])
def test_without_a_staff_token_the_pages_do_not_exist(
    token: str | None, tmp_path: Path, engine: sa.Engine, world: SurveyWorld
) -> None:
    settings = survey_settings(tmp_path).model_copy(
        update={"staff_token": SecretStr(token) if token else None}
    )
    with survey_client(settings, engine) as client:
        absent = client.get("/staff/no-such-page")
        for path in PAGES:
            page = client.get(path, auth=STAFF)
            assert (page.status_code, page.text) == (404, absent.text), path
            assert "www-authenticate" not in page.headers


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Basic " + base64.b64encode(f"staff:{STAFF_TOKEN[:-1]}x".encode()).decode(),
        "Basic " + base64.b64encode(f"admin:{STAFF_TOKEN}".encode()).decode(),
        "Basic " + base64.b64encode(STAFF_TOKEN.encode()).decode(),  # no colon
        "Basic not base64!",
        f"Bearer {STAFF_TOKEN}",
    ],
)
def test_without_the_credentials_the_pages_ask_for_them(
    authorization: str | None, client: TestClient, world: SurveyWorld
) -> None:
    headers = {"authorization": authorization} if authorization else {}
    for path in PAGES:
        page = client.get(path, headers=headers)
        assert page.status_code == 401, path
        assert page.headers["www-authenticate"] == 'Basic realm="clarion staff"'
        assert page.headers["cache-control"] == "no-store"
        assert "INC-0001" not in page.text


def test_the_follow_ups_list_who_asked_how_and_why(
    client: TestClient, world: SurveyWorld, engine: sa.Engine
) -> None:
    assert "No follow-ups yet." in client.get("/staff/followups", auth=STAFF).text
    ask_for_a_person(client, world)

    page = client.get("/staff/followups?open=1", auth=STAFF)

    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert "noindex" in page.headers["x-robots-tag"]
    text = page.text
    assert "<caption>1 open follow-up, oldest first</caption>" in text
    for expected in (
        '<th scope="row">1</th>',
        '<a href="/staff/surveys/INC-0001">INC-0001</a>',
        "<td>asked</td>",
        "<td>sms</td>",
        "<td>+4915112345678</td>",
        "informed 2/5<br>trust 1/5",
        "Nobody told us anything.",
    ):
        assert expected in text, expected

    with Session(engine) as session:
        close_followup(session=session, followup_id=1, note="Called back.", by="tess", now=utcnow())
        session.commit()
    assert "No open follow-ups." in client.get("/staff/followups?open=1", auth=STAFF).text
    everything = client.get("/staff/followups", auth=STAFF).text
    assert "<caption>1 follow-up, oldest first</caption>" in everything
    assert "Called back." in everything


REPORT = SurveyReport(
    reference="INC-0001",
    title="API errors",
    opened_at=datetime(2026, 11, 22, 9, 0, tzinfo=UTC),
    closes_at=datetime(2026, 12, 6, 9, 0, tzinfo=UTC),
    closed=True,
    invited=40,
    answered=12,
    response_rate=0.3,
    per_channel=[ChannelRate("email", 30, 10, 10 / 30), ChannelRate("sms", 10, 2, 0.2)],
    informed={1: 1, 2: 1, 3: 3, 4: 4, 5: 3},
    trust={1: 0, 2: 2, 3: 2, 4: 4, 5: 4},
    informed_mean=3.5833,
    trust_mean=3.8333,
    nps=20,
    nps_answers=10,
    signals={"doubt": 2, "cynicism": 0, "relief": 6, "regained_confidence": 3, "appreciation": 5},
    polarity={"positive": 8, "negative": 2, "mixed": 1, "neutral": 1},
    positive=8,
    negative=2,
    ratio=4.0,
    quotes={"relief": ["Glad it was fixed <fast>."], "doubt": []},
    followups_open=1,
    followups_total=3,
)


def test_the_report_page_shows_the_numbers_of_the_report(
    client: TestClient, world: SurveyWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def report(session: Session, incident: Incident) -> SurveyReport:
        asked.append(incident.reference)
        return REPORT

    monkeypatch.setattr(staff, "_report", report)

    page = client.get("/staff/surveys/INC-0001", auth=STAFF)

    assert page.status_code == 200 and asked == ["INC-0001"]
    assert page.headers["cache-control"] == "no-store"
    text = page.text
    for expected in (
        "<dt>Closed</dt>",
        "12 of 40 (30 %)",
        '<a href="/staff/followups?open=1">1 of 3</a>',
        '<tr><th scope="row">email</th><td>30</td><td>10</td><td>33 %</td></tr>',
        '<tr><th scope="row">sms</th><td>10</td><td>2</td><td>20 %</td></tr>',
        "How well were you kept informed (1–5): mean 3.6 of 5, 12 answers</caption>",
        "Do you trust us to handle this (1–5): mean 3.8 of 5, 12 answers</caption>",
        '<tr><th scope="row">4</th><td>4</td><td><span class="share-bar" aria-hidden="true">'
        '<span class="share share-35"></span></span> 33 %</td></tr>',
        "<strong>+20</strong> (10 answers)",
        "<strong>8 : 2</strong> (ratio 4.00)",
        '<tr><th scope="row">regained confidence</th><td>3</td>',
        '<tr><th scope="row">neutral</th><td>1</td>',
        "<h3>Relief</h3>",
        "<p>Glad it was fixed &lt;fast&gt;.</p>",
    ):
        assert expected in text, expected
    assert "<h3>Doubt</h3>" not in text  # no quote allowed there
    assert " style=" not in text


def test_the_report_page_of_a_real_survey_and_of_no_incident(client: TestClient, world: SurveyWorld) -> None:
    ask_for_a_person(client, world)

    page = client.get("/staff/surveys/INC-0001", auth=STAFF)
    assert page.status_code == 200
    assert "1 of 1 (100 %)" in page.text
    assert '<a href="/staff/followups?open=1">1 of 1</a>' in page.text

    missing = client.get("/staff/surveys/INC-9999", auth=STAFF)
    assert missing.status_code == 404
    assert "There is no incident INC-9999" in missing.text


def test_the_post_incident_report_page(client: TestClient, world: SurveyWorld) -> None:
    page = client.get("/staff/reports/INC-0001", auth=STAFF)
    assert page.status_code == 200
    assert (page.headers["cache-control"], page.headers["x-robots-tag"]) == ("no-store", "noindex, nofollow")
    assert '<h1><span class="reference">INC-0001</span> · API errors</h1>' in page.text
    assert "<div><dt>Survey</dt><dd>0 of 0 answered;" in page.text  # its survey opened, nobody asked yet
    missing = client.get("/staff/reports/INC-0999", auth=STAFF)
    assert missing.status_code == 404 and "There is no incident INC-0999." in missing.text
