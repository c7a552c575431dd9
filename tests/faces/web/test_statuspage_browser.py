"""The status page in a real browser: Debian's chromium driven by Playwright, axe-core on every page,
at a desktop and a phone-sized viewport, with JavaScript on and off.

The store holds an open incident (two updates, the cause told in the second, in English and German),
incidents resolved last week and last month, a maintenance coming and one done. Each page is
screenshotted into the test's folder (``--basetemp`` keeps them). Without chromium these tests skip,
unless ``CLARION_REQUIRE_BROWSER=1`` (CI), where they fail.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlmodel import Session

from clarion import store
from clarion.kinds import CommitmentState
from clarion.models import Commitment, utcnow
from clarion.settings import Settings
from faces.web.app import create_app
from tests.faces.web import test_pages_browser as shared
from tests.faces.web.browser import serving
from tests.statuspage_world import COMPONENTS_FILE, World

KEY, VIEWPORTS, _look = shared.KEY, shared.VIEWPORTS, shared._look
chromium = shared.chromium  # the same browser fixture: Debian's chromium, skipped or failed alike

CAUSE = "A configuration change sent a fifth of API requests to servers that were not ready."
FOUR_PARTS = (
    "What happened",
    "Why it happened",
    "What we are doing, and what you can do",
    "What we will change",
)


@dataclass(frozen=True)
class Scene:
    base: str
    now: datetime
    open_reference: str
    resolved_reference: str
    maintenance_reference: str


def seed(engine: sa.Engine, now: datetime) -> tuple[str, str, str]:
    """A month of a status page's life ending ``now``: (open incident, resolved one, maintenance)."""
    world = World(engine)
    builds = world.incident(
        "Builds stuck in the queue",
        at=now - timedelta(days=33),
        components={"builds": "major_outage", "deploys": "partial_outage"},
        severity="sev1",
        apology="New builds did not start for 2 hours. We are sorry: you could not ship.",
    )
    world.tell(
        builds, "identified", at=now - timedelta(days=33, minutes=-40),
        components={"builds": "major_outage"}, cause="A full disk on the build scheduler.",
    )  # fmt: skip
    world.resolve(
        builds, at=now - timedelta(days=33, hours=-2), cause="A full disk on the build scheduler.",
        fix="We freed space and restarted the scheduler; queued builds ran in order.",
        prevention="We now alert at 70 % disk use and clean old layers every night.",
    )  # fmt: skip
    promise(engine, builds.id, now)
    slow = world.incident(
        "Slow dashboard", at=now - timedelta(days=3), components={"dashboard": "degraded_performance"},
        severity="sev3", apology="The dashboard was slow to load. Sorry for the wait.",
    )  # fmt: skip
    world.resolve(slow, at=now - timedelta(days=3, hours=-1), cause="A slow database query.", fix="Indexed.")
    done = world.maintenance(
        "Database upgrade", starts=now - timedelta(days=20), hours=2, components=["api"],
        announced=now - timedelta(days=27),
    )  # fmt: skip
    world.resolve(done, at=now - timedelta(days=20, hours=-2), apology="The upgrade is done. Thank you.")
    coming = world.maintenance(
        "Export service move", starts=now + timedelta(days=2), hours=3, components=["customer-export"],
        announced=now - timedelta(days=1),
        apology="We move the export service to new servers. Exports started in the window will wait.",
    )  # fmt: skip
    api = world.incident(
        "API errors for some customers",
        at=now - timedelta(minutes=50),
        components={"api": "partial_outage", "dashboard": "degraded_performance"},
        apology="About one in five API requests fail with error 503. We are sorry.",
        locale_parts={
            "de": {"apology": "Etwa jede fünfte API-Anfrage schlägt mit Fehler 503 fehl. Das tut uns leid."}
        },
    )
    world.tell(
        api, "identified", at=now - timedelta(minutes=20), components={"api": "partial_outage"},
        apology="About one in five API requests fail with error 503. We are sorry.", cause=CAUSE,
        fix="We are rolling the change back. Retry failed requests; they are safe to repeat.",
    )  # fmt: skip
    return api.reference, builds.reference, coming.reference


PROMISED = {
    "C1": ("We alert at 70 % disk use on every build machine.", CommitmentState.SHIPPED, -40, "Alerts live."),
    "C2": ("Old image layers are cleaned every night.", CommitmentState.IN_PROGRESS, -2, None),
    "C3": ("A second scheduler takes over within a minute.", CommitmentState.DROPPED, 20, "Replaced by C1."),
}


def promise(engine: sa.Engine, incident_id: int | None, now: datetime) -> None:
    """The resolved incident's commitments: one built, one overdue (two days past), one dropped."""
    assert incident_id is not None
    with Session(engine) as session:
        for key, (text, state, days, note) in PROMISED.items():
            final = state in (CommitmentState.SHIPPED, CommitmentState.DROPPED)
            session.add(
                Commitment(
                    incident_id=incident_id, key=key, texts={"en": text}, owner="owner@acme.example",
                    due_on=(now + timedelta(days=days)).date(), state=state, note=note,
                    changed_at=now - timedelta(days=10) if final else None,
                )
            )  # fmt: skip
        session.commit()


@pytest.fixture
def scene(tmp_path: Path) -> Iterator[Scene]:
    """The web app on a free loopback port over a seeded store."""
    engine = store.make_engine(f"sqlite:///{tmp_path}/store/clarion.db")
    store.migrate(engine)
    now = utcnow()
    open_ref, resolved_ref, maintenance_ref = seed(engine, now)
    settings = Settings(
        home=tmp_path / "home",
        public_url="https://status.acme.example",
        secret_key=SecretStr(KEY),
        components_file=COMPONENTS_FILE,
    )
    with serving(create_app(settings, engine=engine)) as base:
        yield Scene(base, now, open_ref, resolved_ref, maintenance_ref)
    engine.dispose()


def _main_text(browser: Any, url: str, **context: Any) -> tuple[str, Any]:
    page = browser.new_page(**context)
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    return page.inner_text("main"), page


def test_every_page_reads_well_and_passes_axe_at_every_size(
    chromium: Any, scene: Scene, tmp_path: Path
) -> None:
    pages = {
        "home": ("/", "Partial outage"),
        "incident": (f"/incidents/{scene.open_reference}", "API errors for some customers"),
        "resolved": (f"/incidents/{scene.resolved_reference}", "Builds stuck in the queue"),
        "maintenance": (f"/incidents/{scene.maintenance_reference}", "Export service move"),
        "history": ("/history", "Past incidents and maintenance"),
        "home-de": ("/?lang=de", "Teilweiser Ausfall"),
        "incident-de": (f"/incidents/{scene.open_reference}?lang=de", "API errors for some customers"),
    }
    for name, (path, heading) in pages.items():
        status, seen, violations = _look(chromium, scene.base + path, tmp_path / f"{name}.png")
        assert (status, seen) == (200, heading), name
        assert violations == [], name
    status, seen, violations = _look(chromium, scene.base + "/incidents/INC-9999", tmp_path / "missing.png")
    assert (status, seen, violations) == (404, "Page not found", [])


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_home_and_incident_show_the_four_parts_the_states_and_the_promise(
    chromium: Any,
    scene: Scene,
    viewport: str,
) -> None:
    for path, latest in (
        ("/", ".card.incident"),
        (f"/incidents/{scene.open_reference}", ".update.is-latest"),
    ):
        text, page = _main_text(chromium, scene.base + path, viewport=VIEWPORTS[viewport])
        story = page.locator(latest)
        for heading in FOUR_PARTS:
            assert story.get_by_role("heading", name=heading).is_visible(), (path, heading)
        told = story.inner_text()
        assert CAUSE in told and "Retry failed requests" in told
        assert "We are working on a fix" not in told  # the fix was told in the second update
        assert "Once this is fixed we will review what happened" in told  # prevention not known yet
        assert "Cause identified" in text and "Partial outage" in text
        assert page.locator(".promise").first.is_visible()
        assert re.search(r"Next update by .+\.", page.inner_text(".promise >> nth=0"))
        assert "+44 20 7946 0000" in text
        page.close()
    home, page = _main_text(chromium, scene.base + "/", viewport=VIEWPORTS[viewport])
    assert "Degraded performance" not in page.inner_text(".card")  # the second update dropped it
    assert "Operational" in home and "Export service move" in home and "Scheduled" in home
    page.close()


def test_without_javascript_everything_is_there_in_utc(chromium: Any, scene: Scene) -> None:
    text, page = _main_text(
        chromium, scene.base + f"/incidents/{scene.open_reference}", java_script_enabled=False
    )
    promise = page.inner_text(".promise time")
    assert promise.endswith("UTC"), promise
    assert page.locator(".promise time").get_attribute("title") is None
    assert CAUSE in text and "What changed since the previous update" in text
    page.close()


def test_with_javascript_times_show_in_the_readers_zone(chromium: Any, scene: Scene) -> None:
    page = chromium.new_page(timezone_id="Asia/Tokyo", locale="en-GB")
    page.goto(scene.base + f"/incidents/{scene.open_reference}")
    time_element = page.locator(".promise time")
    shown, utc = time_element.inner_text(), time_element.get_attribute("title")
    promised = datetime.fromisoformat(str(time_element.get_attribute("datetime")).replace("Z", "+00:00"))
    tokyo = promised + timedelta(hours=9)
    assert utc is not None and utc.endswith("UTC") and "UTC" not in shown
    assert f"{tokyo:%H:%M}" in shown and ("GMT+9" in shown or "JST" in shown), shown
    assert page.locator(".promise .late").is_hidden()
    page.close()


def test_a_promise_that_passes_while_the_page_is_cached_shows_as_late(chromium: Any, scene: Scene) -> None:
    page = chromium.new_page()
    page.clock.install(time=scene.now + timedelta(hours=2))  # the reader's clock, not the server's
    page.goto(scene.base + f"/incidents/{scene.open_reference}")
    late = page.locator(".promise .late")
    assert late.is_visible() and "This update is late" in late.inner_text()
    page.close()
    no_script = chromium.new_page(java_script_enabled=False)
    no_script.goto(scene.base + f"/incidents/{scene.open_reference}")
    assert no_script.locator(".promise .late").is_hidden()  # the server built it in time
    no_script.close()


def test_the_90_day_bar_names_each_day_and_links_the_incidents(chromium: Any, scene: Scene) -> None:
    page = chromium.new_page(viewport=VIEWPORTS["phone"])
    page.goto(scene.base + "/")
    days = page.locator("#component-builds .days > li")
    assert days.count() == 90
    link = page.locator("#component-builds .days a").first
    assert link.inner_text().startswith(f"{scene.resolved_reference}: Builds stuck")
    link.focus()  # a keyboard reader sees the day it is on
    info = page.locator("#component-builds .days li:focus-within .day-info")
    assert info.is_visible() and "Major outage" in info.inner_text()
    box = info.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= VIEWPORTS["phone"]["width"]
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORTS["phone"]["width"]
    link.click()
    assert page.inner_text("h1") == "Builds stuck in the queue"
    page.close()


def test_the_dark_scheme_keeps_its_contrast(chromium: Any, scene: Scene, tmp_path: Path) -> None:
    from axe_playwright_python.sync_playwright import Axe

    for name, path in (
        ("home", "/"),
        ("incident", f"/incidents/{scene.open_reference}"),
        ("history", "/history"),
    ):
        page = chromium.new_page(viewport=VIEWPORTS["phone"], color_scheme="dark")
        page.goto(scene.base + path)
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(13, 17, 23)", name  # the dark scheme is the one tested
        page.screenshot(path=str(tmp_path / f"{name}-dark-phone.png"), full_page=True)
        violations = Axe().run(page).response["violations"]
        assert [v["id"] for v in violations if v["impact"] in ("serious", "critical")] == [], name
        page.close()


def test_the_commitments_say_where_each_promise_stands(chromium: Any, scene: Scene, tmp_path: Path) -> None:
    url = scene.base + f"/incidents/{scene.resolved_reference}"
    text, page = _main_text(chromium, url, viewport=VIEWPORTS["phone"])
    page.screenshot(path=str(tmp_path / "commitments.png"), full_page=True)
    assert "What we promised" in text
    items = page.locator(".commitment").all_inner_texts()
    assert len(items) == 3
    built, overdue, dropped = sorted(
        items, key=lambda item: next(k for k, v in PROMISED.items() if v[0] in item)
    )
    assert "Built" in built and "Alerts live." in built
    assert "Overdue" in overdue and "Due by" in overdue
    assert "Dropped" in dropped and "Replaced by C1." in dropped
    assert "owner@acme.example" not in page.content()
