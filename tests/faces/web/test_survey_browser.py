"""The follow-up survey in a real browser (Debian's chromium driven by Playwright) on a phone: the form
filled by tapping labels, sent, and the thank-you page; the form with its problems; the same with
JavaScript off. axe-core checks each page for serious or critical violations; no page scrolls
sideways. Screenshots go to the test's folder (``--basetemp`` keeps them). Without chromium these
tests skip, unless ``CLARION_REQUIRE_BROWSER=1`` (CI).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from clarion import store
from clarion.models import SurveyFollowup, SurveyResponse
from faces.web.app import create_app
from tests.faces.web.browser import VIEWPORTS, base_url, loopback_socket, serving
from tests.faces.web.browser import chromium as chromium  # the browser fixture, for pytest
from tests.faces.web.survey_helpers import STAFF_TOKEN, SurveyWorld, survey_settings, survey_world

SERIOUS = frozenset({"serious", "critical"})
PHONE = VIEWPORTS["phone"]
INFORMED = "How well were you kept informed?"
TRUST = "Do you trust us to handle this?"


@dataclass
class Site:
    url: str
    engine: sa.Engine
    world: SurveyWorld


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """The web app on a free loopback port (its public URL: the form cookie is not ``Secure`` on
    http), a resolved outage with its survey, the real tagger, and the staff pages."""
    engine = store.make_engine(f"sqlite:///{tmp_path}/store/clarion.db")
    store.migrate(engine)
    sock = loopback_socket()
    url = base_url(sock)
    world = survey_world(engine)
    settings = survey_settings(tmp_path, public_url=url, staff=True)
    with serving(create_app(settings, engine=engine), sock):
        yield Site(url, engine, world)
    engine.dispose()


def serious(page: Any) -> list[str]:
    """The serious and critical axe-core violations of the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    violations = Axe().run(page).response["violations"]
    return [f"{v['id']} ({v['impact']}): {v['help']}" for v in violations if v.get("impact") in SERIOUS]


def fits(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"])


def fill(page: Any) -> None:
    """Answer as a person would: tap the numbers' labels, type, tick, choose."""
    page.get_by_role("group", name=INFORMED).get_by_text("4", exact=True).click()
    page.get_by_role("group", name=TRUST).get_by_text("5", exact=True).click()
    page.get_by_label("Anything you would like to tell us? (optional)").fill(
        "The updates were clear.\nThank you for the timeline."
    )
    page.get_by_label("I would like a person to contact me").check()
    page.get_by_label("By phone").check()
    page.get_by_label("You may quote my words, without my name").check()


def answers(engine: sa.Engine) -> list[SurveyResponse]:
    with Session(engine) as session:
        return list(session.exec(select(SurveyResponse)))


def test_the_survey_on_a_phone(chromium: Any, site: Site, tmp_path: Path) -> None:
    token = site.world.invite()
    page = chromium.new_page(viewport=PHONE)
    response = page.goto(f"{site.url}/survey/{token}")
    assert response is not None and response.status == 200
    assert page.inner_text("h1") == "How did we do?"
    assert fits(page)
    page.screenshot(path=str(tmp_path / "form-phone.png"), full_page=True)
    assert serious(page) == []

    fill(page)
    assert page.get_by_role("radio", name="4", exact=True).first.is_checked()
    page.get_by_role("button", name="Send my answers").click()
    page.wait_for_load_state()

    assert page.url == f"{site.url}/survey/{token}/thanks"
    assert page.inner_text("h1") == "Thank you for your answers"
    assert "A person from our support team will contact you by phone" in page.inner_text("main")
    assert fits(page)
    page.screenshot(path=str(tmp_path / "thanks-phone.png"), full_page=True)
    assert serious(page) == []

    page.goto(f"{site.url}/survey/{token}")  # a second visit: the answer given
    assert page.inner_text("h1") == "You have answered this survey"
    assert serious(page) == []
    page.close()

    (stored,) = answers(site.engine)
    assert (stored.informed_score, stored.trust_score, stored.contact_channel) == (4, 5, "phone")
    assert stored.free_text == "The updates were clear.\nThank you for the timeline."
    assert stored.quote_allowed
    with Session(site.engine) as session:
        assert session.exec(select(SurveyFollowup)).one().channel == "phone"


def test_the_forms_problems_are_shown_accessibly(chromium: Any, site: Site, tmp_path: Path) -> None:
    token = site.world.invite("bea", locale="de")
    page = chromium.new_page(viewport=PHONE)
    page.goto(f"{site.url}/survey/{token}")
    assert page.inner_text("h1") == "Wie haben wir es gemacht?"
    page.get_by_role("group", name="Vertrauen Sie darauf, dass wir das in den Griff bekommen?").get_by_text(
        "3", exact=True
    ).click()
    page.get_by_role("button", name="Antworten senden").click()
    page.wait_for_load_state()

    summary = page.inner_text(".error-summary")
    assert "Wählen Sie, wie gut wir Sie informiert haben, von 1 bis 5." in summary
    assert page.get_by_role("radio", name="3", exact=True).nth(1).is_checked()  # kept
    assert page.locator("#informed").get_attribute("aria-describedby") == "informed-error"
    assert fits(page)
    page.screenshot(path=str(tmp_path / "problems-phone.png"), full_page=True)
    assert serious(page) == []

    page.get_by_role("link", name="Wählen Sie, wie gut wir Sie informiert haben, von 1 bis 5.").click()
    assert page.evaluate("document.activeElement.id") == "informed-1"
    assert answers(site.engine) == []
    page.close()

    refused = chromium.new_page(viewport=PHONE)
    response = refused.goto(f"{site.url}/survey/v2.1.1.AAAAAAAAAAAAAAAAAAAAAA")
    assert response is not None and response.status == 404
    assert refused.inner_text("h1") == "Page not found"
    assert serious(refused) == []
    refused.close()


def test_the_survey_works_without_javascript(chromium: Any, site: Site, tmp_path: Path) -> None:
    token = site.world.invite()
    context = chromium.new_context(viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{site.url}/survey/{token}")
    fill(page)
    page.get_by_role("button", name="Send my answers").click()
    page.wait_for_load_state()
    assert page.inner_text("h1") == "Thank you for your answers"
    page.screenshot(path=str(tmp_path / "thanks-nojs-phone.png"), full_page=True)
    context.close()
    assert [a.informed_score for a in answers(site.engine)] == [4]


def test_the_staff_pages_read_well_on_a_phone(chromium: Any, site: Site, tmp_path: Path) -> None:
    token = site.world.invite()
    page = chromium.new_page(viewport=PHONE)
    page.goto(f"{site.url}/survey/{token}")
    fill(page)
    page.get_by_role("button", name="Send my answers").click()
    page.wait_for_load_state()
    page.close()

    context = chromium.new_context(
        viewport=PHONE, http_credentials={"username": "staff", "password": STAFF_TOKEN}
    )
    for name, path, heading in (
        ("followups", "/staff/followups?open=1", "Open follow-ups"),
        ("report", "/staff/surveys/INC-0001", "INC-0001 · API errors"),
    ):
        staff = context.new_page()
        response = staff.goto(site.url + path)
        assert response is not None and response.status == 200, name
        assert staff.inner_text("h1") == heading
        assert fits(staff), name  # wide tables scroll inside their own box
        staff.screenshot(path=str(tmp_path / f"staff-{name}-phone.png"), full_page=True)
        assert serious(staff) == [], name
        staff.close()
    context.close()
