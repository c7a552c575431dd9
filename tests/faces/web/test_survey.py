"""The survey pages through the real app: the form in the invitation's language, an answer stored once
with the follow-up it asks for, and every bad link or input a clear page with its status code,
storing nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from clarion.errors import TemplateError
from clarion.models import Notice, SurveyFollowup, SurveyInvite, SurveyResponse, utcnow
from clarion.settings import Settings
from clarion.surveys.answers import MAX_TEXT
from faces.web.limits import SURVEY_FORM_MAX_BYTES
from tests.faces.web.subscribe_helpers import KEY, TestClient
from tests.faces.web.survey_helpers import (
    SUPPORT,
    FakeTagger,
    SurveyWorld,
    counts,
    csrf_of,
    survey_client,
    survey_settings,
    survey_world,
)

GOOD = {"informed": "4", "trust": "5", "text": "Thanks for telling us early.", "quote": "yes"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return survey_settings(tmp_path)


@pytest.fixture
def world(engine: sa.Engine) -> SurveyWorld:
    return survey_world(engine)


@pytest.fixture
def tagger() -> FakeTagger:
    return FakeTagger()


@pytest.fixture
def client(settings: Settings, engine: sa.Engine, tagger: FakeTagger) -> Iterator[TestClient]:
    with survey_client(settings, engine, tagger) as client:
        yield client


def answer(client: TestClient, token: str, **fields: str) -> Any:
    """Open the form (the client keeps the form cookie) and post ``fields`` with its token."""
    form = client.get(f"/survey/{token}")
    assert form.status_code == 200, form.text
    return client.post(f"/survey/{token}", data={"csrf": csrf_of(form.text), **fields})


def stored(engine: sa.Engine) -> SurveyResponse:
    with Session(engine) as session:
        response = session.exec(select(SurveyResponse)).one()
        session.expunge(response)
        return response


def flipped(token: str) -> str:
    """The token with one character of its signature changed."""
    i = len(token) - 5
    return token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]


# ── the form ──────────────────────────────────────────────────────────────────────────────────────


def test_the_form_asks_the_playbooks_questions_about_the_incident(
    client: TestClient, world: SurveyWorld
) -> None:
    page = client.get(f"/survey/{world.invite()}")

    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert "noindex" in page.headers["x-robots-tag"]
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "unsafe-inline" not in page.headers["content-security-policy"]
    text = page.text
    for expected in (
        "<h1>How did we do?</h1>",
        "INC-0001",
        "API errors",
        "<legend>How well were you kept informed?</legend>",
        "<legend>Do you trust us to handle this?</legend>",
        'id="informed-5" name="informed" value="5"',
        '<span class="visually-hidden"> (Very well)</span>',
        'id="trust-1" name="trust" value="1"',
        '<textarea id="text" name="text"',
        'name="quote" value="yes"',
        'name="contact" value="yes"',
        'value="email"',
        'value="phone"',
        'value="sms"',
        'name="csrf"',
        "We keep what you write for 180 days",
    ):
        assert expected in text, expected
    assert 'name="nps"' not in text  # the outage playbook asks no NPS
    assert " style=" not in text and "<script>" not in text  # nothing the page's CSP would block


def test_the_form_speaks_the_invitations_language_unless_the_reader_picks_another(
    client: TestClient, world: SurveyWorld
) -> None:
    token = world.invite("bea", locale="de")

    german = client.get(f"/survey/{token}", headers={"accept-language": "en"})
    assert german.status_code == 200
    assert '<html lang="de">' in german.text
    assert "<h1>Wie haben wir es gemacht?</h1>" in german.text
    assert "<legend>Wie gut wurden Sie informiert?</legend>" in german.text

    english = client.get(f"/survey/{token}?lang=en")
    assert "<h1>How did we do?</h1>" in english.text
    assert f'action="/survey/{token}?lang=en"' in english.text


def test_the_nps_question_is_asked_only_when_the_playbook_asks_it(
    tmp_path: Path, engine: sa.Engine, world: SurveyWorld
) -> None:
    token = world.invite()
    with survey_client(survey_settings(tmp_path, nps=True), engine) as client:
        page = client.get(f"/survey/{token}")
        assert "How likely are you to recommend us" in page.text
        assert 'id="nps-0" name="nps" value="0"' in page.text and 'id="nps-10"' in page.text

        refused = client.post(f"/survey/{token}", data={"csrf": csrf_of(page.text), **GOOD, "nps": "11"})
        assert refused.status_code == 422
        assert 'href="#nps-0">Choose a number from 0 to 10' in refused.text

        done = answer(client, token, **GOOD, nps="9")
        assert done.status_code == 303
    assert stored(engine).nps == 9


# ── an answer ─────────────────────────────────────────────────────────────────────────────────────


def test_an_answer_is_stored_with_its_scores_and_the_thanks_page_says_what_comes_next(
    client: TestClient, world: SurveyWorld, engine: sa.Engine, tagger: FakeTagger
) -> None:
    token = world.invite("bea", locale="de")

    posted = answer(client, token, **GOOD)

    assert posted.status_code == 303
    assert posted.headers["location"] == f"/survey/{token}/thanks"
    assert posted.headers["cache-control"] == "no-store"
    response = stored(engine)
    assert (response.informed_score, response.trust_score, response.nps) == (4, 5, None)
    assert (response.free_text, response.quote_allowed, response.wants_contact) == (GOOD["text"], True, False)
    assert (response.tags, response.polarity, response.locale) == (["relief"], "positive", "de")
    assert tagger.seen == [(GOOD["text"], "de")]
    assert counts(engine) | {"audit": 0} == {
        "responses": 1,
        "followups": 0,
        "notices": 0,
        "deliveries": 0,
        "audit": 0,
        "answered": 1,
    }

    thanks = client.get(posted.headers["location"])
    assert thanks.status_code == 200
    assert thanks.headers["cache-control"] == "no-store"
    assert "Vielen Dank für Ihre Antworten" in thanks.text
    assert "Wir lesen jede Antwort." in thanks.text
    assert "Von Ihnen wird nichts weiter benötigt." in thanks.text
    assert 'href="/incidents/INC-0001"' in thanks.text


def test_asking_for_a_person_opens_a_follow_up_and_tells_support(
    client: TestClient, world: SurveyWorld, engine: sa.Engine
) -> None:
    token = world.invite()

    posted = answer(client, token, informed="2", trust="3", contact="yes", contact_channel="phone")

    assert posted.status_code == 303
    with Session(engine) as session:
        followup = session.exec(select(SurveyFollowup)).one()
        notice = session.exec(select(Notice)).one()
    assert (followup.reason, followup.channel, followup.closed_at) == ("asked", "phone", None)
    assert (notice.kind, notice.address, notice.params["followup"]) == (
        "survey-followup",
        SUPPORT,
        followup.id,
    )
    assert stored(engine).contact_channel == "phone"
    thanks = client.get(posted.headers["location"])
    assert "A person from our support team will contact you by phone" in thanks.text


def test_words_asking_for_a_person_open_a_follow_up_too(
    client: TestClient, world: SurveyWorld, engine: sa.Engine
) -> None:
    posted = answer(client, world.invite(), informed="3", trust="3", text="Please call me.")
    assert posted.status_code == 303
    with Session(engine) as session:
        followup = session.exec(select(SurveyFollowup)).one()
    assert (followup.reason, followup.channel) == ("text: call me", "email")  # the invitation's channel
    assert "contact you by email" in client.get(posted.headers["location"]).text


def test_a_second_visit_shows_the_answer_given_instead_of_the_form(
    client: TestClient, world: SurveyWorld
) -> None:
    token = world.invite()
    answer(client, token, **GOOD, contact="yes", contact_channel="sms")

    again = client.get(f"/survey/{token}")

    assert again.status_code == 200
    assert "<h1>You have answered this survey</h1>" in again.text
    assert "You answered on <time datetime=" in again.text
    assert "<dd>4 of 5</dd>" in again.text and "<dd>5 of 5</dd>" in again.text
    assert GOOD["text"] in again.text
    assert "You asked to be contacted: by text message" in again.text
    assert 'name="informed"' not in again.text


def test_a_second_post_is_refused_and_changes_nothing(
    client: TestClient, world: SurveyWorld, engine: sa.Engine
) -> None:
    token = world.invite()
    form = client.get(f"/survey/{token}")
    first = client.post(f"/survey/{token}", data={"csrf": csrf_of(form.text), **GOOD})
    assert first.status_code == 303
    before = counts(engine)

    second = client.post(
        f"/survey/{token}", data={"csrf": csrf_of(form.text), "informed": "1", "trust": "1", "contact": "yes"}
    )

    assert second.status_code == 409
    assert "<h1>You have answered already</h1>" in second.text
    assert counts(engine) == before
    assert (stored(engine).informed_score, stored(engine).trust_score) == (4, 5)


def test_the_thanks_page_before_an_answer_leads_to_the_form(client: TestClient, world: SurveyWorld) -> None:
    token = world.invite()
    early = client.get(f"/survey/{token}/thanks?lang=de")
    assert (early.status_code, early.headers["location"]) == (303, f"/survey/{token}?lang=de")


# ── links that do not work ────────────────────────────────────────────────────────────────────────


def _links(world: SurveyWorld) -> dict[str, tuple[str, int, str]]:
    genuine = world.invite("genuine")
    expired = world.invite("late", expires_at=utcnow() - timedelta(minutes=1))
    return {
        "forged": ("v2.1.99999999999.AAAAAAAAAAAAAAAAAAAAAA", 404, "Page not found"),
        "garbled": ("not-a-token", 404, "Page not found"),
        "tampered": (flipped(genuine), 404, "Page not found"),
        "expired": (expired, 410, "This survey has closed"),
    }


@pytest.mark.parametrize("kind", ["forged", "garbled", "tampered", "expired"])
def test_a_link_that_does_not_work_is_a_clear_page_that_reveals_nothing_and_stores_nothing(
    kind: str, client: TestClient, world: SurveyWorld, engine: sa.Engine
) -> None:
    token, status, heading = _links(world)[kind]
    csrf = csrf_of(client.get(f"/survey/{world.invite('cookie')}").text)  # a genuine form token
    before = counts(engine)

    for method, path in (("GET", ""), ("GET", "/thanks"), ("POST", "")):
        data = {"csrf": csrf, **GOOD} if method == "POST" else None
        page = client.request(method, f"/survey/{token}{path}", data=data)
        assert page.status_code == status, (method, path)
        assert f"<h1>{heading}</h1>" in page.text
        assert page.headers["cache-control"] == "no-store"
        assert "INC-0001" not in page.text and "API errors" not in page.text
    assert counts(engine) == before


# ── answers that are refused ──────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("fields", "wrong", "said"),
    [
        ({"informed": "0", "trust": "3"}, "informed", "Choose how well we kept you informed"),
        ({"informed": "6", "trust": "3"}, "informed", "Choose how well we kept you informed"),
        ({"informed": "abc", "trust": "3"}, "informed", "Choose how well we kept you informed"),
        ({"trust": "3"}, "informed", "Choose how well we kept you informed"),
        ({"informed": "3"}, "trust", "Choose how much you trust us"),
        ({"informed": "3", "trust": "3", "nps": "8"}, "nps", "This survey has no recommendation question"),
        (
            {"informed": "3", "trust": "3", "text": "x" * (MAX_TEXT + 1)},
            "text",
            "Your text has 2001 characters",
        ),
        ({"informed": "3", "trust": "3", "text": "clear \x1b[2J screen"}, "text", "invisible control"),
        ({"informed": "3", "trust": "3", "text": "evil \u202e txet"}, "text", "invisible control"),
        (
            {"informed": "3", "trust": "3", "contact": "yes", "contact_channel": "pigeon"},
            "contact_channel",
            "Choose email, phone or text message",
        ),
    ],
)
def test_a_wrong_answer_is_the_form_again_with_each_problem_beside_its_field_and_nothing_stored(
    fields: dict[str, str], wrong: str, said: str, client: TestClient, world: SurveyWorld, engine: sa.Engine
) -> None:
    token = world.invite()
    before = counts(engine)

    page = answer(client, token, **fields)

    assert page.status_code == 422
    assert page.headers["cache-control"] == "no-store"
    assert counts(engine) == before
    text = page.text
    assert '<div class="error-summary" role="alert">' in text
    summary = text[text.index("error-summary") : text.index("</ul>")]
    assert said in summary
    if wrong != "nps":  # not a field of this form: named in the summary, without a link
        assert re.search(rf'<p class="field-error" id="{wrong}-error">[^<]*{re.escape(said)}', text), said
        assert re.search(rf'id="{wrong}"[^>]*aria-describedby="[^"]*{wrong}-error', text), wrong
    if fields.get("trust") == "3":
        assert 'id="trust-3" name="trust" value="3" checked' in text  # what was chosen is kept
    if wrong == "text" and len(fields["text"]) > MAX_TEXT:
        assert fields["text"] in text  # kept to shorten, not lost
    if "evil" in fields.get("text", ""):
        assert ">evil  txet</textarea>" in text  # kept, without the control that was refused


def test_the_text_box_and_quote_are_asked_only_when_the_playbook_asks_for_text(
    tmp_path: Path, engine: sa.Engine, world: SurveyWorld
) -> None:
    settings = survey_settings(tmp_path)
    playbook = (settings.playbooks_dir / "outage.yaml").read_text()
    (settings.playbooks_dir / "outage.yaml").write_text(
        playbook.replace("free_text: true", "free_text: false")
    )
    token = world.invite()
    with survey_client(settings, engine) as client:
        page = client.get(f"/survey/{token}")
        assert "<textarea" not in page.text and 'name="quote"' not in page.text
        refused = client.post(f"/survey/{token}", data={"csrf": csrf_of(page.text), **GOOD})
    assert refused.status_code == 422
    assert "This survey has no text box" in refused.text


# ── posts that are not this site's form ───────────────────────────────────────────────────────────


def test_a_post_without_the_forms_token_or_with_another_cookies_token_is_refused(
    client: TestClient, world: SurveyWorld, engine: sa.Engine, settings: Settings
) -> None:
    token = world.invite()
    client.get(f"/survey/{token}")  # the cookie
    before = counts(engine)

    without = client.post(f"/survey/{token}", data=GOOD)
    assert without.status_code == 403
    assert "<h1>This form has expired</h1>" in without.text

    with survey_client(settings, engine) as other:
        foreign = csrf_of(other.get(f"/survey/{token}").text)  # signed over the other client's cookie
    stolen = client.post(f"/survey/{token}", data={"csrf": foreign, **GOOD})
    assert stolen.status_code == 403

    assert counts(engine) == before


def test_a_post_that_is_not_a_form_or_too_large_is_refused(
    client: TestClient, world: SurveyWorld, engine: sa.Engine
) -> None:
    token = world.invite()
    csrf = csrf_of(client.get(f"/survey/{token}").text)
    before = counts(engine)

    json = client.post(f"/survey/{token}", json={"csrf": csrf, **GOOD})
    assert json.status_code == 415
    assert "<h1>Not a form we know</h1>" in json.text

    huge = client.post(
        f"/survey/{token}",
        content=f"csrf={csrf}&informed=4&trust=4&text={'x' * SURVEY_FORM_MAX_BYTES}",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert huge.status_code == 413

    assert counts(engine) == before


def test_a_longest_answer_fits_the_body_limit(
    client: TestClient, world: SurveyWorld, engine: sa.Engine
) -> None:
    """2000 four-byte characters, percent-encoded, and every other field: read and stored."""
    longest = GOOD | {"text": "😀" * MAX_TEXT, "contact": "yes", "contact_channel": "email"}
    posted = answer(client, world.invite(), **longest)
    assert posted.status_code == 303
    assert stored(engine).free_text == "😀" * MAX_TEXT


# ── set-ups that do not work ──────────────────────────────────────────────────────────────────────


def test_an_answer_whose_follow_up_cannot_be_told_is_not_stored(
    client: TestClient, world: SurveyWorld, engine: sa.Engine
) -> None:
    def broken(notice: object) -> None:
        raise TemplateError.at("templates/notice/survey-followup", None, "no such kind of notice")

    client.app.state.survey_notices = (KEY.encode(), broken)  # type: ignore[attr-defined]
    token = world.invite()
    before = counts(engine)

    posted = answer(client, token, **GOOD, contact="yes")

    assert posted.status_code == 503
    assert counts(engine) == before
    with Session(engine) as session:
        assert session.exec(select(SurveyInvite)).one().responded_at is None
    assert client.get(f"/survey/{token}").status_code == 200  # the form again: they may try later


def test_the_tagger_is_loaded_from_the_settings_when_none_is_given(
    settings: Settings, engine: sa.Engine, world: SurveyWorld
) -> None:
    signals = pytest.importorskip("clarion.surveys.signals")
    if not hasattr(signals, "load_tagger"):
        pytest.skip("clarion.surveys.signals.load_tagger is not there yet")
    token = world.invite()
    with survey_client(settings, engine) as client:
        del client.app.state.survey_tagger  # type: ignore[attr-defined]
        posted = answer(client, token, informed="5", trust="5", text="Thank you, I am relieved it is fixed.")
    assert posted.status_code == 303
    assert stored(engine).free_text == "Thank you, I am relieved it is fixed."
