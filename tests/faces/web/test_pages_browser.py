"""The web app's pages in a real browser: Debian's chromium driven by Playwright, axe-core on each,
at a desktop and a phone-sized viewport, and the one-click form clicked with JavaScript off.

The unsubscribe pages are every HTML page the app serves today: the question, the answer after
unsubscribing, and the refusals (a garbled link 400, a link for nobody 404, an expired link 410).
Each is screenshotted into the test's folder (``--basetemp`` keeps them) and must have no axe-core
violation. Without chromium these tests skip, unless ``CLARION_REQUIRE_BROWSER=1`` (CI), where they
fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlmodel import Session

from clarion import store
from clarion.audiences import consent
from clarion.audiences.unsubscribe import UNSUBSCRIBE_TTL, make_token, secret_key
from clarion.kinds import Channel, ConsentState
from clarion.models import RecipientCreate, utcnow
from clarion.settings import Settings
from faces.web.app import create_app
from tests.faces.web.browser import VIEWPORTS, chromium, serving

KEY = "Zq3-vF8_kP2wLx9RtB7nYc4HmJ6sDa1E"
__all__ = ["KEY", "VIEWPORTS", "chromium"]  # the browser fixture, for pytest to find here too


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, Settings, sa.Engine, int]]:
    """The web app on a free loopback port, a store with one recipient: (base URL, settings, engine, id)."""
    engine = store.make_engine(f"sqlite:///{tmp_path}/store/clarion.db")
    store.migrate(engine)
    with store.session_scope(engine) as session:
        recipient = store.add_recipient(
            session=session,
            recipient_in=RecipientCreate(external_id="c1", email="ada@example.com"),
            consents={Channel.EMAIL: ConsentState.GRANTED},
        )
        assert recipient.id is not None
        recipient_id = recipient.id
    settings = Settings(
        home=tmp_path / "home",
        public_url="http://127.0.0.1:8765",
        secret_key=SecretStr(KEY),
        email_from="incidents@acme.example",
    )
    with serving(create_app(settings, engine=engine)) as base:
        yield base, settings, engine, recipient_id
    engine.dispose()


def _token(settings: Settings, recipient_id: int, *, made_ago: timedelta = timedelta(0)) -> str:
    key = secret_key(settings)
    return make_token(key, recipient_id=recipient_id, channel=Channel.EMAIL, now=utcnow() - made_ago)


def _look(browser: Any, url: str, shot: Path, *, javascript: bool = True) -> tuple[int, str, list[str]]:
    """Open ``url`` at every viewport: (status, heading, axe violations); a screenshot of each."""
    from axe_playwright_python.sync_playwright import Axe

    status, heading, violations = 0, "", []
    for name, viewport in VIEWPORTS.items():
        page = browser.new_page(viewport=viewport, java_script_enabled=javascript)
        response = page.goto(url)
        assert response is not None
        status, heading = response.status, page.inner_text("h1")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], f"{url} scrolls sideways at {name}: {width}px"
        page.screenshot(path=str(shot.with_name(f"{shot.stem}-{name}.png")), full_page=True)
        if javascript:  # axe runs in the page
            results = Axe().run(page)
            violations += [f"{name}: {v['id']}: {v['help']}" for v in results.response["violations"]]
        page.close()
    return status, heading, violations


def test_unsubscribe_pages_read_well_in_a_browser_at_every_size(
    chromium: Any, site: tuple[str, Settings, sa.Engine, int], tmp_path: Path
) -> None:
    base, settings, _engine, recipient_id = site
    pages = {
        "question": (f"/unsubscribe/{_token(settings, recipient_id)}", 200, "Unsubscribe"),
        "garbled": ("/unsubscribe/v2.not.a.token", 400, "Invalid link"),
        "nobody": (f"/unsubscribe/{_token(settings, recipient_id + 41)}", 404, "Unknown link"),
        "expired": (
            f"/unsubscribe/{_token(settings, recipient_id, made_ago=UNSUBSCRIBE_TTL + timedelta(days=1))}",
            410,
            "Link expired",
        ),
    }
    for name, (path, status, heading) in pages.items():
        seen, title, violations = _look(chromium, base + path, tmp_path / f"{name}.png")
        assert (seen, title) == (status, heading), name
        assert violations == [], name


def test_the_one_click_form_works_without_javascript(
    chromium: Any, site: tuple[str, Settings, sa.Engine, int], tmp_path: Path
) -> None:
    base, settings, engine, recipient_id = site
    url = f"{base}/unsubscribe/{_token(settings, recipient_id)}"
    page = chromium.new_page(viewport=VIEWPORTS["phone"], java_script_enabled=False)
    page.goto(url)
    page.get_by_role("button", name="Unsubscribe").click()
    page.wait_for_load_state()
    assert page.inner_text("h1") == "Unsubscribed"
    assert "You are unsubscribed from incident emails." in page.inner_text("main")
    page.screenshot(path=str(tmp_path / "pressed-phone.png"), full_page=True)
    page.close()
    with Session(engine) as session:
        assert consent.has_withdrawn(session=session, recipient_id=recipient_id, channel=Channel.EMAIL)

    status, heading, violations = _look(chromium, url, tmp_path / "answered.png")
    assert (status, heading, violations) == (200, "Unsubscribed", [])
