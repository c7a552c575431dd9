"""The embeddable banner in a real browser, on a page of another origin: shown, dismissed, and shown
again when a newer update replaces it; resolved, it goes away.

Two loopback servers: clarion's web app (the banner feed and ``banner.js``) and a customer's app on
another port (another origin) whose page embeds ``<script src=".../banner.js" async>``. The browser
fetches the feed across origins (CORS), so this proves the headers, the script and the feed together.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from clarion import banner as banners
from clarion import store
from clarion.models import Incident, utcnow
from clarion.settings import Settings
from faces.web.app import create_app
from tests.faces.web import test_pages_browser as shared
from tests.faces.web.browser import serving
from tests.statuspage_world import World

chromium = shared.chromium

BAR = "[role=status][data-severity]"


@dataclass
class Sites:
    clarion: str
    customer: str
    engine: sa.Engine
    world: World
    incident: Incident


def _serve_customer_page(folder: Path, script_url: str) -> tuple[http.server.ThreadingHTTPServer, str]:
    (folder / "index.html").write_text(
        "<!doctype html><html lang='en'><head><title>Acme app</title></head><body><main>"
        "<h1>Your dashboard</h1><p>Everything you run on Acme.</p></main>"
        f"<script src='{script_url}' data-audience='all-customers' async></script></body></html>",
        encoding="utf-8",
    )

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _publish(engine: sa.Engine, incident: Incident, update_id: int, text: str) -> None:
    with store.session_scope(engine) as session:
        assert incident.id is not None
        banners.publish_banner(
            session=session,
            incident_id=incident.id,
            update_id=update_id,
            audience="all-customers",
            locale="en",
            severity="sev1",
            status="investigating",
            text=text,
            link=f"https://status.acme.example/incidents/{incident.reference}",
        )


@pytest.fixture
def sites(tmp_path: Path) -> Iterator[Sites]:
    engine = store.make_engine(f"sqlite:///{tmp_path}/store/clarion.db")
    store.migrate(engine)
    world = World(engine)
    incident = world.incident("Checkout is failing", at=utcnow() - timedelta(minutes=5))
    settings = Settings(
        home=tmp_path / "home", public_url="https://status.acme.example", secret_key=SecretStr(shared.KEY)
    )
    with serving(create_app(settings, engine=engine)) as base:
        customer, customer_url = _serve_customer_page(tmp_path, f"{base}/banner.js")
        try:
            yield Sites(base, customer_url, engine, world, incident)
        finally:
            customer.shutdown()
            customer.server_close()
            engine.dispose()


def test_the_banner_shows_on_another_origin_dismisses_and_returns_for_a_new_update(
    chromium: Any, sites: Sites, tmp_path: Path
) -> None:
    first = sites.world.tell(sites.incident, "investigating", at=utcnow() - timedelta(minutes=4))
    assert first.id is not None
    _publish(sites.engine, sites.incident, first.id, "Checkout fails for some of you. <b>Sorry</b>.")
    context = chromium.new_context(viewport=shared.VIEWPORTS["phone"])
    page = context.new_page()
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(sites.customer)
    bar = page.locator(BAR)
    bar.wait_for(timeout=10_000)
    assert (
        bar.locator("span").inner_text() == "Checkout fails for some of you. <b>Sorry</b>."
    )  # text, not HTML
    assert (
        bar.locator("a").get_attribute("href")
        == f"https://status.acme.example/incidents/{sites.incident.reference}"
    )
    page.screenshot(path=str(tmp_path / "banner-shown.png"))

    bar.locator("button").click()
    assert page.locator(BAR).count() == 0
    page.reload()
    page.wait_for_load_state("networkidle")
    assert page.locator(BAR).count() == 0  # the dismissal holds for this revision

    second = sites.world.tell(sites.incident, "identified", at=utcnow() - timedelta(minutes=1))
    assert second.id is not None
    _publish(sites.engine, sites.incident, second.id, "We found the cause; a fix is rolling out.")
    page.reload()
    page.locator(BAR).wait_for(timeout=10_000)
    assert page.locator(BAR).locator("span").inner_text() == "We found the cause; a fix is rolling out."

    with store.session_scope(sites.engine) as session:
        assert sites.incident.id is not None
        banners.clear_banners(session=session, incident_id=sites.incident.id, at=utcnow())
    page.reload()
    page.wait_for_load_state("networkidle")
    assert page.locator(BAR).count() == 0
    assert failed == []  # no request was refused (CORS, CORP) on the way
    context.close()


def test_the_whole_story_banner_reads_well_on_a_phone_and_a_desktop(
    chromium: Any, sites: Sites, tmp_path: Path
) -> None:
    """The banner now tells all four parts, most by a pointer: the German one, the longest of the
    example's, wraps inside a phone's and a desktop's width and passes axe-core at both."""
    from axe_playwright_python.sync_playwright import Axe

    from clarion.facts import load_facts
    from clarion.kinds import Channel
    from clarion.playbook import load_playbook
    from clarion.settings import get_settings
    from clarion.updates.compose import compose
    from tests.helpers import EXAMPLES, PLAYBOOKS

    playbook = load_playbook(PLAYBOOKS / "data-breach.yaml")
    facts = load_facts(EXAMPLES / "data-breach.yaml", playbook)
    [banner] = [
        r
        for r in compose(playbook, facts, get_settings())
        if r.channel is Channel.BANNER and r.locale == "de"
    ]
    update = sites.world.tell(sites.incident, "identified", at=utcnow() - timedelta(minutes=1))
    assert update.id is not None
    _publish(sites.engine, sites.incident, update.id, banner.body)
    for size, viewport in shared.VIEWPORTS.items():
        page = chromium.new_page(viewport=viewport)
        page.goto(sites.customer)
        bar = page.locator(BAR)
        bar.wait_for(timeout=10_000)
        assert bar.locator("span").inner_text() == banner.body
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], f"the banner scrolls sideways at {size}: {width}px"
        box = bar.bounding_box()
        assert box is not None and box["height"] < viewport["height"] / 3
        page.screenshot(path=str(tmp_path / f"banner-whole-story-{size}.png"))
        violations = [f"{v['id']}: {v['help']}" for v in Axe().run(page).response["violations"]]
        assert violations == [], size
        page.close()
