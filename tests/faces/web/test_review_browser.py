"""The post-incident report's staff page in a real browser (Debian's chromium driven by Playwright) on
a phone: the headline readable, wide tables scrolling inside their own boxes, a hostile title shown
as text, its two stylesheets loaded under the page's Content-Security-Policy (and no other
resource of the page), and axe-core finding nothing.
The screenshot goes to the test's folder (``--basetemp`` keeps it). Without chromium the test skips,
unless ``CLARION_REQUIRE_BROWSER=1`` (CI).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from clarion import store
from faces.web.app import create_app
from tests.clarion.review.review_world import HOSTILE, known_incident
from tests.faces.web.browser import VIEWPORTS, base_url, loopback_socket, serving
from tests.faces.web.browser import chromium as chromium  # the browser fixture, for pytest
from tests.faces.web.survey_helpers import STAFF_TOKEN, survey_settings

PHONE = VIEWPORTS["phone"]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    engine: sa.Engine = store.make_engine(f"sqlite:///{tmp_path}/store/clarion.db")
    store.migrate(engine)
    known_incident(engine, title=HOSTILE)
    sock = loopback_socket()
    settings = survey_settings(tmp_path, public_url=base_url(sock), staff=True)
    with serving(create_app(settings, engine=engine), sock) as url:
        yield url
    engine.dispose()


def test_the_report_reads_well_on_a_phone(chromium: Any, site: str, tmp_path: Path) -> None:
    from axe_playwright_python.sync_playwright import Axe

    context = chromium.new_context(
        viewport=PHONE, http_credentials={"username": "staff", "password": STAFF_TOKEN}
    )
    page = context.new_page()
    loaded: list[tuple[str, int]] = []
    page.on("response", lambda answer: loaded.append((answer.url.removeprefix(site), answer.status)))
    response = page.goto(f"{site}/staff/reports/INC-0042")

    assert response is not None and response.status == 200
    assert "style-src 'self'" in response.headers["content-security-policy"]
    assert page.inner_text("h1") == f"INC-0042 · {HOSTILE}"  # the title as text, its script never run
    figures = page.inner_text(".figures")
    assert "Promises kept\n2 of 3 (67 %), worst lateness 0h 25m" in figures
    assert "Reach\n2 of 5 affected recipients (40 %) received at least one message" in figures
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the report scrolls sideways: {width}px"
    page.screenshot(path=str(tmp_path / "review-phone.png"), full_page=True)
    violations = Axe().run(page).response["violations"]
    assert [f"{v['id']}: {v['help']}" for v in violations] == []
    assert sorted(r for r in loaded if r[0] != "/favicon.ico") == [  # the browser's guess, not the page's
        ("/staff/reports/INC-0042", 200),
        ("/static/review.css", 200),
        ("/static/status.css", 200),
    ]
    context.close()
