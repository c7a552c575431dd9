"""The status page's routes: language by ?lang= or Accept-Language, caching with ETags, pages that
change when something is published, 404 pages that are not kept, and headers that forbid inline code."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from clarion.models import utcnow
from clarion.settings import Settings
from faces.web.app import create_app
from faces.web.public_cache import PublicCache
from tests.statuspage_world import COMPONENTS_FILE, World

with warnings.catch_warnings():  # Starlette 1.x asks for "httpx2"; the httpx we have works the same
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`", UserWarning)
    from fastapi.testclient import TestClient


@pytest.fixture
def app(tmp_path: Path, engine: sa.Engine) -> FastAPI:
    settings = Settings(
        home=tmp_path / "home", public_url="https://status.acme.example", components_file=COMPONENTS_FILE
    )
    app = create_app(settings, engine=engine)
    app.state.public = PublicCache(engine, settings, revalidate_every=0)  # every request asks the store
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


@pytest.fixture
def world(engine: sa.Engine) -> World:
    return World(engine)


def test_the_language_comes_from_the_query_then_the_header(client: TestClient, world: World) -> None:
    world.incident("API errors", at=utcnow() - timedelta(minutes=5), components={"api": "partial_outage"})
    english = client.get("/")
    assert english.status_code == 200 and english.headers["content-type"] == "text/html; charset=utf-8"
    assert '<html lang="en">' in english.text and "Partial outage" in english.text
    german = client.get("/", headers={"Accept-Language": "fr;q=1, de-CH;q=0.8, en;q=0.5"})
    assert '<html lang="de">' in german.text and "Teilweiser Ausfall" in german.text
    assert 'href="/history"' in german.text  # chosen by the header: links stay plain
    asked = client.get("/?lang=de", headers={"Accept-Language": "en"})
    assert '<html lang="de">' in asked.text and 'href="/history?lang=de"' in asked.text
    unknown = client.get("/?lang=xx", headers={"Accept-Language": "de"})
    assert '<html lang="de">' in unknown.text
    for response in (english, german, asked):
        assert response.headers["vary"] == "Accept-Language"
    assert len({english.headers["etag"], german.headers["etag"], asked.headers["etag"]}) == 3


def test_an_unchanged_page_is_304_and_a_publication_changes_it(client: TestClient, world: World) -> None:
    first = client.get("/")
    etag = first.headers["etag"]
    assert "All systems operational" in first.text
    assert first.headers["cache-control"].startswith("public, max-age=")
    again = client.get("/", headers={"If-None-Match": etag})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    head = client.head("/")
    assert (head.status_code, head.content, head.headers["etag"]) == (200, b"", etag)

    outage = world.incident("Dashboard down", at=utcnow(), components={"dashboard": "major_outage"})
    changed = client.get("/", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert "Dashboard down" in changed.text and "Major outage" in changed.text
    page = client.get(f"/incidents/{outage.reference}")
    assert page.status_code == 200 and "Dashboard down" in page.text
    assert (
        client.get(
            f"/incidents/{outage.reference}", headers={"If-None-Match": page.headers["etag"]}
        ).status_code
        == 304
    )


def test_an_incident_page_appears_when_published_and_404_is_not_kept(
    client: TestClient, world: World
) -> None:
    missing = client.get("/incidents/INC-0001", headers={"Accept-Language": "de"})
    assert missing.status_code == 404 and "Seite nicht gefunden" in missing.text
    assert missing.headers["cache-control"] == "no-cache" and "etag" not in missing.headers
    assert missing.headers["content-type"] == "text/html; charset=utf-8"
    outage = world.incident("API errors", at=utcnow(), components={"api": "partial_outage"})
    assert outage.reference == "INC-0001"
    found = client.get("/incidents/INC-0001")
    assert found.status_code == 200 and "API errors" in found.text


@pytest.mark.parametrize(
    "path",
    ["/incidents/INC-1", "/incidents/inc-0001", "/incidents/INC-0001x", "/incidents/%3Cscript%3E",
     "/history/page/0", "/history/page/-1", "/history/page/two", "/history/page/2", "/history/page/9999999"],
)  # fmt: skip
def test_addresses_that_name_nothing_are_404_pages(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404 and "Page not found" in response.text, path
    assert "<script>" not in response.text


def test_history_has_one_address_per_page(client: TestClient) -> None:
    history = client.get("/history")
    assert history.status_code == 200 and "Past incidents and maintenance" in history.text
    moved = client.get("/history/page/1?lang=de", follow_redirects=False)
    assert (moved.status_code, moved.headers["location"]) == (308, "/history?lang=de")


def test_pages_forbid_inline_code_and_sniffing(client: TestClient, world: World) -> None:
    outage = world.incident("API errors", at=utcnow(), components={"api": "partial_outage"})
    for path in ("/", f"/incidents/{outage.reference}", "/history", "/incidents/INC-9999"):
        response = client.get(path)
        policy = response.headers["content-security-policy"]
        assert (
            "unsafe-inline" not in policy and "style-src 'self'" in policy and "script-src 'self'" in policy
        )
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert ' style="' not in response.text and "<style" not in response.text
    css, script = client.get("/static/status.css"), client.get("/static/localtime.js")
    assert css.status_code == script.status_code == 200
    assert script.headers["content-type"].startswith("application/javascript")
