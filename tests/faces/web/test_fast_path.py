"""The public documents' fast path: the same answer as the app, from a copy, until something changes."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

with warnings.catch_warnings():  # Starlette 1.x asks for "httpx2"; the httpx we have works the same
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`", UserWarning)
    from fastapi.testclient import TestClient

from clarion.models import utcnow
from clarion.settings import Settings
from faces.web.app import create_app
from faces.web.fast_path import PublicFastPath
from faces.web.public_cache import VERSION_HEADER
from tests.faces.web.test_pages_browser import KEY
from tests.statuspage_world import COMPONENTS_FILE, World

PATHS = ["/", "/history", "/api/v2/summary.json", "/history.atom"]


@pytest.fixture
def client(engine: sa.Engine, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        home=tmp_path / "home",
        public_url="https://status.acme.example",
        secret_key=SecretStr(KEY),
        components_file=COMPONENTS_FILE,
    )
    World(engine).incident("API errors", components={"api": "major_outage"}, at=utcnow() - timedelta(hours=1))
    app = create_app(settings, engine=engine)
    app.state.public.revalidate_every = 0.3
    with TestClient(app) as client:
        yield client


def fast_path(client: TestClient) -> PublicFastPath:
    stack = client.app.middleware_stack  # type: ignore[attr-defined]
    assert isinstance(stack, PublicFastPath)
    return stack


@pytest.mark.parametrize("path", PATHS)
def test_a_copy_answers_as_the_app_did(client: TestClient, path: str) -> None:
    client.app.state.public.revalidate_every = 60.0  # type: ignore[attr-defined]  # a slow first render stays fresh
    first = client.get(path)
    hits = fast_path(client).hits
    again = client.get(path)
    assert fast_path(client).hits == hits + 1
    assert (again.status_code, again.content) == (200, first.content)
    same = {k: v for k, v in first.headers.items() if k != "date"}
    assert {k: v for k, v in again.headers.items() if k != "date"} == same
    assert VERSION_HEADER not in first.headers and VERSION_HEADER not in again.headers
    assert again.headers["content-security-policy"] and again.headers["x-content-type-options"] == "nosniff"
    not_modified = client.get(path, headers={"If-None-Match": first.headers["etag"]})
    assert (not_modified.status_code, not_modified.content) == (304, b"")
    assert not_modified.headers["etag"] == first.headers["etag"]
    head = client.head(path)
    assert (head.status_code, head.content, head.headers["content-length"]) == (
        200,
        b"",
        str(len(first.content)),
    )


def test_languages_get_their_own_copies(client: TestClient) -> None:
    english = client.get("/", headers={"Accept-Language": "en-GB"})
    german = client.get("/", headers={"Accept-Language": "de-DE,de;q=0.9"})
    hits = fast_path(client).hits
    assert client.get("/", headers={"Accept-Language": "de"}).content == german.content != english.content
    assert client.get("/", headers={"Accept-Language": "fr, en;q=0.3"}).content == english.content
    assert fast_path(client).hits == hits + 2


def test_a_publication_shows_within_the_revalidation_interval(client: TestClient, engine: sa.Engine) -> None:
    before = client.get("/").text
    client.get("/")
    World(engine).incident("Dashboard down", components={"dashboard": "major_outage"}, at=utcnow())
    time.sleep(0.35)  # the copy is used only while the snapshot needs no look at the store
    after = client.get("/").text
    assert "Dashboard down" in after and "Dashboard down" not in before


def test_only_documents_of_the_snapshot_are_copied(client: TestClient) -> None:
    for path in ("/banner.json", "/static/status.css", "/subscribe", "/embed/banner", "/incidents/INC-9999"):
        client.get(path)
        client.get(path)
    kept = {path for path, _, _ in fast_path(client).copies}
    assert kept <= set(PATHS) | {"/incidents/INC-0001"}
    assert "/subscribe" not in kept and "/banner.json" not in kept
