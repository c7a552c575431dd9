"""The whole email subscription in a real browser (Debian's chromium driven by Playwright), against
the provider sandbox and the outbox worker: the form, the confirmation email in the sandbox's inbox,
its link, the confirmed subscription to one component, an update touching that component reaching
the subscriber and one touching another not, and unsubscribing on the manage page.

Every page is looked at on a desktop and a phone-sized viewport: no sideways scrolling, a screenshot
of each in the test's folder (``--basetemp`` keeps them), and no serious or critical axe-core
violation. Without chromium these tests skip, unless ``CLARION_REQUIRE_BROWSER=1`` (CI).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlmodel import Session, select

from channels.delivery import run_worker
from channels.sandbox import SandboxHandle, running_sandbox
from clarion import store
from clarion.audiences.sources import playbook_sources
from clarion.facts import load_facts
from clarion.kinds import Channel
from clarion.models import Subscriber, SubscriberState
from clarion.playbook import load_playbook
from clarion.settings import Settings
from clarion.updates.publish import stage_update
from faces.web.app import create_app
from tests.faces.web.browser import VIEWPORTS, base_url, loopback_socket, serving
from tests.faces.web.browser import chromium as chromium  # the browser fixture, for pytest
from tests.faces.web.subscribe_helpers import KEY, link_in
from tests.helpers import EXAMPLES, PLAYBOOKS, TEMPLATES, load_raw, write_yaml

SERIOUS = frozenset({"serious", "critical"})
ADA = "ada@example.com"


@dataclass
class Site:
    url: str
    settings: Settings
    engine: sa.Engine
    sandbox: SandboxHandle
    playbook_path: Path


def _playbook(folder: Path) -> Path:
    """The outage playbook, told to the status page's subscribers by email only."""
    data = load_raw(PLAYBOOKS / "outage.yaml")
    data["audiences"] = {
        "subscribers": {
            "description": "People who subscribed on the status page.",
            "channels": ["email"],
            "source": {"subscribers": {"channels": ["email"]}},
        }
    }
    data["public_channels"] = ["statuspage"]
    return write_yaml(folder / "outage.yaml", data)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """The web app on a free loopback port, the provider sandbox, a store of their own."""
    engine = store.make_engine(f"sqlite:///{tmp_path}/store/clarion.db")
    store.migrate(engine)
    sock = loopback_socket()
    url = base_url(sock)
    with running_sandbox() as sandbox:
        settings = Settings(
            home=tmp_path / "home",
            database_url=str(engine.url),
            public_url=url,
            sandbox_url=sandbox.url,
            secret_key=SecretStr(KEY),
            templates_dir=TEMPLATES,
            playbooks_dir=tmp_path / "playbooks",
            components_file=PLAYBOOKS / "statuspage" / "components.yaml",
            email_from="incidents@acme.example",
        )
        with serving(create_app(settings, engine=engine), sock):
            yield Site(url, settings, engine, sandbox, _playbook(tmp_path / "playbooks"))
        engine.dispose()


def look(browser: Any, url: str, shot: Path) -> tuple[int, str, list[str]]:
    """Open ``url`` at every viewport: (status, heading, serious axe violations); a screenshot each."""
    from axe_playwright_python.sync_playwright import Axe

    status, heading, violations = 0, "", []
    for name, viewport in VIEWPORTS.items():
        page = browser.new_page(viewport=viewport)
        response = page.goto(url)
        assert response is not None
        status, heading = response.status, page.inner_text("h1")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], f"{url} scrolls sideways at {name}: {width}px"
        page.screenshot(path=str(shot.with_name(f"{shot.stem}-{name}.png")), full_page=True)
        results = Axe().run(page)
        violations += [
            f"{name}: {v['id']} ({v['impact']}): {v['help']}"
            for v in results.response["violations"]
            if v.get("impact") in SERIOUS
        ]
        page.close()
    return status, heading, violations


def send_outbox(site: Site) -> None:
    """What ``clarion outbox work`` does: send everything due, through the sandbox."""
    run_worker(
        site.settings, site.engine, name="test-worker", channels=[Channel.EMAIL], threads=1, max_wait=0
    )


def emails_to(site: Site, address: str) -> list[Any]:
    return [r for r in site.sandbox.inbox("email") if r.address == address]


def publish(site: Site, components: list[str], reference: str, folder: Path) -> None:
    playbook = load_playbook(site.playbook_path)
    data = load_raw(EXAMPLES / "outage.yaml")
    data["impact"]["components"], data["reference"] = components, reference
    data.pop("recipient", None)
    facts = load_facts(write_yaml(folder / f"{reference}.yaml", data), playbook)
    sources = playbook_sources(playbook, site.playbook_path, site.settings)
    stage_update(engine=site.engine, playbook=playbook, facts=facts, settings=site.settings, sources=sources)


def state(site: Site) -> tuple[SubscriberState, list[str]]:
    with Session(site.engine) as session:
        found = session.exec(select(Subscriber)).one()
        return found.state, found.components


def test_the_whole_email_subscription_in_a_browser(chromium: Any, site: Site, tmp_path: Path) -> None:
    seen: dict[str, tuple[int, str, list[str]]] = {}
    seen["form"] = look(chromium, f"{site.url}/subscribe", tmp_path / "form.png")

    page = chromium.new_page(viewport=VIEWPORTS["phone"])
    page.goto(f"{site.url}/subscribe")
    page.get_by_label("Email address").fill(ADA)
    for box in page.locator('input[name="components"]').all():
        box.uncheck()
    page.get_by_label("API", exact=True).check()
    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_load_state()
    assert page.inner_text("h1") == "Check your inbox"
    seen["sent"] = look(chromium, page.url, tmp_path / "sent.png")
    assert state(site) == (SubscriberState.PENDING, ["api"])

    send_outbox(site)
    (confirmation,) = emails_to(site, ADA)
    assert confirmation.subject == "Confirm your subscription to 127.0.0.1 status updates"
    confirm_url = site.url + link_in(confirmation.text, "subscribe/confirm", base=site.url)
    seen["confirm"] = look(chromium, confirm_url, tmp_path / "confirm.png")

    page.goto(confirm_url)
    page.get_by_role("button", name="Confirm subscription").click()
    page.wait_for_load_state()
    assert page.inner_text("h1") == "Your subscription"
    assert "Your subscription is confirmed" in page.inner_text("main")
    manage_url = page.url
    seen["manage"] = look(chromium, manage_url, tmp_path / "manage.png")
    assert state(site) == (SubscriberState.CONFIRMED, ["api"])

    send_outbox(site)  # the welcome, with the manage link
    assert [r.subject for r in emails_to(site, ADA)][-1] == "You are subscribed to 127.0.0.1 status updates"

    publish(site, ["api"], "INC-0201", tmp_path)
    send_outbox(site)
    touching = emails_to(site, ADA)[-1]
    assert "INC-0201" in (touching.subject or "")

    publish(site, ["builds"], "INC-0202", tmp_path)
    send_outbox(site)
    assert not any("INC-0202" in (r.subject or "") for r in emails_to(site, ADA))
    assert len(emails_to(site, ADA)) == 3

    page.goto(manage_url)
    page.get_by_role("button", name="Unsubscribe").click()
    page.wait_for_load_state()
    assert page.inner_text("h1") == "You are unsubscribed"
    page.screenshot(path=str(tmp_path / "unsubscribed-phone.png"), full_page=True)
    page.close()
    assert state(site)[0] is SubscriberState.UNSUBSCRIBED
    seen["ended-link"] = look(chromium, manage_url, tmp_path / "ended.png")

    assert {name: (status, heading) for name, (status, heading, _) in seen.items()} == {
        "form": (200, "Get status updates"),
        "sent": (200, "Check your inbox"),
        "confirm": (200, "Confirm your subscription"),
        "manage": (200, "Your subscription"),
        "ended-link": (410, "This subscription has ended"),
    }
    assert {name: found[2] for name, found in seen.items() if found[2]} == {}


def test_the_form_shows_its_problems_accessibly(chromium: Any, site: Site, tmp_path: Path) -> None:
    page = chromium.new_page(viewport=VIEWPORTS["phone"])
    page.goto(f"{site.url}/subscribe?lang=de")
    page.get_by_label("E-Mail-Adresse").fill("ada@")
    page.get_by_role("button", name="Abonnieren").click()
    page.wait_for_load_state()
    assert "Geben Sie eine E-Mail-Adresse wie name@example.com ein." in page.inner_text(".error-summary")
    assert page.get_by_label("E-Mail-Adresse").get_attribute("aria-invalid") == "true"
    page.screenshot(path=str(tmp_path / "problems-phone.png"), full_page=True)
    from axe_playwright_python.sync_playwright import Axe

    serious = [v["id"] for v in Axe().run(page).response["violations"] if v.get("impact") in SERIOUS]
    page.close()
    assert serious == []
    for name, path, status in (
        ("forged", "/subscribe/confirm/v2.not.a.token", 400),
        ("unknown-manage", "/subscriptions/v2.1.1.1.AAAAAAAAAAAAAAAAAAAAAA", 400),
    ):
        seen, _, violations = look(chromium, site.url + path, tmp_path / f"{name}.png")
        assert (seen, violations) == (status, []), name


def test_the_sms_code_pages_read_well(chromium: Any, site: Site, tmp_path: Path) -> None:
    page = chromium.new_page(viewport=VIEWPORTS["phone"])
    page.goto(f"{site.url}/subscribe")
    page.get_by_label("By text message (SMS)").check()
    page.get_by_label("Mobile number").fill("+49 151 12345678")
    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_load_state()
    assert page.inner_text("h1") == "Enter the code we sent you"
    code_url = page.url
    page.get_by_label("Code from the text message").fill("12")
    page.get_by_role("button", name="Confirm subscription").click()
    page.wait_for_load_state()
    assert "Tries left: 4" in page.inner_text("main")
    page.screenshot(path=str(tmp_path / "wrong-code-phone.png"), full_page=True)
    from axe_playwright_python.sync_playwright import Axe

    serious = [v["id"] for v in Axe().run(page).response["violations"] if v.get("impact") in SERIOUS]
    page.close()
    assert serious == []
    status, heading, violations = look(chromium, code_url, tmp_path / "code.png")
    assert (status, heading, violations) == (200, "Enter the code we sent you", [])
