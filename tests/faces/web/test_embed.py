"""``/embed/banner``: the banner as a page that only the configured origins may frame."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

with warnings.catch_warnings():  # Starlette 1.x asks for "httpx2"; the httpx we have works the same
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`", UserWarning)
    from fastapi.testclient import TestClient

from clarion import banner as banners
from clarion import store
from clarion.models import utcnow
from clarion.settings import Settings
from faces.web.app import create_app
from tests.faces.web import test_banner_browser as browser_sites
from tests.faces.web import test_pages_browser as shared
from tests.faces.web.browser import serving
from tests.statuspage_world import World

chromium = shared.chromium
ATTACK = '</p><script>alert(1)</script><img src=x onerror="alert(2)">'
APP_ORIGIN = "https://app.acme.example"


def publish(engine: sa.Engine, text: str, link: str) -> None:
    world = World(engine)
    incident = world.incident("Checkout is failing", at=utcnow() - timedelta(minutes=5))
    update = world.tell(incident, "investigating", at=utcnow() - timedelta(minutes=4))
    assert incident.id is not None and update.id is not None
    with store.session_scope(engine) as session:
        banners.publish_banner(
            session=session, incident_id=incident.id, update_id=update.id, audience="all-customers",
            locale="en", severity="sev1", status="investigating", text=text, link=link,
        )  # fmt: skip


def client_for(engine: sa.Engine, tmp_path: Path, **settings: Any) -> TestClient:
    made = Settings(home=tmp_path / "home", secret_key=SecretStr(shared.KEY), **settings)
    return TestClient(create_app(made, engine=engine))


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = store.make_engine(f"sqlite:///{tmp_path}/store/clarion.db")
    store.migrate(engine)
    yield engine
    engine.dispose()


def test_without_configured_origins_nobody_may_frame_it(engine: sa.Engine, tmp_path: Path) -> None:
    with client_for(engine, tmp_path) as client:
        response = client.get("/embed/banner")
    assert response.status_code == 200
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert "All systems operational." in response.text


def test_configured_origins_may_frame_it_and_nothing_else_changes(engine: sa.Engine, tmp_path: Path) -> None:
    publish(engine, ATTACK, "javascript:alert(3)")
    with client_for(engine, tmp_path, embed_origins=f"{APP_ORIGIN} http://localhost:3000") as client:
        response = client.get("/embed/banner", params={"audience": "all-customers"})
        elsewhere = client.get("/")
    policy = response.headers["content-security-policy"]
    assert f"frame-ancestors {APP_ORIGIN} http://localhost:3000" in policy
    assert "script-src" not in policy and "unsafe-inline" not in policy
    assert "x-frame-options" not in response.headers
    assert (
        "&lt;/p&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in response.text and "<script" not in response.text
    )
    assert "javascript:" not in response.text  # a link that is not http(s) is left out
    # the rest of the app stays unframable
    assert "frame-ancestors 'none'" in elsewhere.headers["content-security-policy"]
    assert elsewhere.headers["x-frame-options"] == "DENY"


def test_it_answers_304_to_a_frame_that_has_it(engine: sa.Engine, tmp_path: Path) -> None:
    with client_for(engine, tmp_path) as client:
        first = client.get("/embed/banner")
        again = client.get("/embed/banner", headers={"If-None-Match": first.headers["etag"]})
    assert (again.status_code, again.content) == (304, b"")


@pytest.mark.parametrize(
    "origins", ["https://a.example/path", "https://a.example; script-src *", "*", "javascript:alert(1)"]
)
def test_an_origin_that_is_not_one_is_refused(origins: str) -> None:
    with pytest.raises(ValueError, match="is not an origin"):
        Settings(embed_origins=origins)


def test_a_configured_origin_frames_it_in_a_browser_and_another_cannot(chromium: Any, tmp_path: Path) -> None:
    engine = store.make_engine(f"sqlite:///{tmp_path}/store/clarion.db")
    store.migrate(engine)
    publish(engine, "Checkout fails for some of you.", "https://status.acme.example/incidents/INC-0001")
    host_folder = tmp_path / "host"
    host_folder.mkdir()
    host, host_url = browser_sites._serve_customer_page(host_folder, "about:blank")
    settings = Settings(home=tmp_path / "home", secret_key=SecretStr(shared.KEY), embed_origins=host_url)
    with serving(create_app(settings, engine=engine)) as base:
        (host_folder / "framed.html").write_text(
            "<!doctype html><html lang='en'><head><title>Acme</title></head><body>"
            f"<iframe title='Service status' src='{base}/embed/banner?audience=all-customers'></iframe>"
            "</body></html>",
            encoding="utf-8",
        )
        page = chromium.new_page()
        page.goto(f"{host_url}/framed.html")
        frame = page.frame_locator("iframe")
        assert (
            frame.locator("[role=status] span").inner_text(timeout=10_000)
            == "Checkout fails for some of you."
        )
        other = Settings(
            home=tmp_path / "home", secret_key=SecretStr(shared.KEY), embed_origins="https://x.example"
        )
    with serving(create_app(other, engine=engine)) as base:
        (host_folder / "framed.html").write_text(
            f"<!doctype html><html lang='en'><head><title>Acme</title></head><body><iframe title='s' "
            f"src='{base}/embed/banner'></iframe></body></html>",
            encoding="utf-8",
        )
        page.close()
        # a new context: the port may be the first server's again, and its cached answer allowed framing
        page = chromium.new_context().new_page()
        page.goto(f"{host_url}/framed.html")
        page.wait_for_load_state("networkidle")  # the frame was asked for and answered
        assert page.frame_locator("iframe").locator("[role=status]").count() == 0  # blocked by its policy
        page.close()
    host.shutdown()
    host.server_close()
    engine.dispose()
