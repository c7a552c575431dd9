"""The Statuspage-compatible API and the Atom/RSS feeds over HTTP: schemas, caching, headers."""

from __future__ import annotations

import json
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

with warnings.catch_warnings():  # Starlette 1.x asks for "httpx2"; the httpx we have works the same
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`", UserWarning)
    from fastapi.testclient import TestClient
from clarion.settings import Settings
from clarion.statuspage.api import DOCUMENTS
from faces.web import statusapi
from faces.web.app import create_app
from faces.web.public_cache import PublicCache
from tests.statuspage_world import COMPONENTS_FILE, T0, World

SCHEMAS = Path(__file__).parent / "schemas" / "statuspage"
API_PATHS = [f"/api/v2/{path}" for path in DOCUMENTS]
FEED_PATHS = ["/history.atom", "/history.rss"]
ATTACK = '</title><script>alert(1)</script><img src=x onerror="alert(2)"> & "quotes"'


def schema_file(path: str) -> str:
    """``incidents/unresolved.json`` is described by ``incidents-unresolved.json``."""
    return path.removeprefix("/api/v2/").replace("/", "-")


@pytest.fixture(scope="module")
def registry() -> Registry[Any]:
    assert "date-time" in FormatChecker().checkers, "times go unchecked without rfc3339-validator"
    resources = []
    for file in sorted(SCHEMAS.glob("*.json")):
        contents = json.loads(file.read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(contents)
        resources.append((contents["$id"], Resource.from_contents(contents)))
    return Registry().with_resources(resources)


def validator(registry: Registry[Any], path: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / schema_file(path)).read_text(encoding="utf-8"))
    return Draft202012Validator(schema, registry=registry, format_checker=FormatChecker())


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(T0 + timedelta(minutes=90))


@pytest.fixture
def client(engine: sa.Engine, tmp_path: Path, clock: Clock) -> Iterator[TestClient]:
    settings = Settings(
        home=tmp_path, public_url="https://status.acme.example", components_file=COMPONENTS_FILE
    )
    app = create_app(settings, engine=engine)
    app.state.public = PublicCache(engine, settings, revalidate_every=0, clock=clock)  # ask every request
    with TestClient(app) as client:
        yield client


@pytest.fixture
def world(engine: sa.Engine) -> World:
    """Something in every list: open and resolved incidents, maintenance past, under way and to come."""
    world = World(engine)
    outage = world.incident(
        "API errors", components={"api": "partial_outage"}, cause=ATTACK, severity="sev1", at=T0
    )
    world.tell(
        outage, "monitoring", at=T0 + timedelta(minutes=30), components={"api": "degraded_performance"}
    )
    fixed = world.incident(
        "Slow builds", components={"builds": "degraded_performance"}, at=T0 + timedelta(minutes=5)
    )
    world.resolve(fixed, at=T0 + timedelta(minutes=45))
    world.draft(outage, at=T0 + timedelta(minutes=50))
    world.maintenance("Agent upgrade", starts=T0 + timedelta(hours=1), hours=2, components=["acme-agent"])
    world.maintenance("Database upgrade", starts=T0 + timedelta(days=2), components=["api", "dashboard"])
    done = world.maintenance("Export move", starts=T0 - timedelta(days=1), components=["customer-export"])
    world.resolve(done, at=T0 - timedelta(hours=20))
    return world


# ── the documents ─────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("path", API_PATHS)
def test_every_document_validates_against_its_schema(
    client: TestClient, world: World, registry: Registry[Any], path: str
) -> None:
    response = client.get(path)

    assert (response.status_code, response.headers["content-type"]) == (200, "application/json")
    document = response.json()
    validator(registry, path).validate(document)
    lists = [v for v in document.values() if isinstance(v, list)]
    assert all(lists), f"{path} lists nothing: the schema checked no item"


@pytest.mark.parametrize("path", API_PATHS)
def test_documents_of_an_empty_page_validate(client: TestClient, registry: Registry[Any], path: str) -> None:
    validator(registry, path).validate(client.get(path).json())


def test_the_schemas_reject_what_statuspage_clients_would_not_understand(
    client: TestClient, world: World, registry: Registry[Any]
) -> None:
    summary = client.get("/api/v2/summary.json").json()
    check = validator(registry, "summary.json")
    broken: list[dict[str, Any]] = [
        summary | {"status": {"indicator": "red", "description": "Bad"}},
        summary | {"incidents": [summary["incidents"][0] | {"status": "resolved"}]},
        summary | {"incidents": [summary["incidents"][0] | {"created_at": "yesterday"}]},
        summary | {"components": [{k: v for k, v in summary["components"][1].items() if k != "group_id"}]},
        summary
        | {"scheduled_maintenances": [summary["scheduled_maintenances"][0] | {"status": "identified"}]},
    ]

    for document in broken:
        with pytest.raises(ValidationError):
            check.validate(document)


def test_the_summary_tells_the_state_of_the_page(client: TestClient, world: World) -> None:
    summary = client.get("/api/v2/summary.json").json()

    assert summary["status"] == {"indicator": "critical", "description": "Major System Outage"}
    assert [i["name"] for i in summary["incidents"]] == ["API errors"]
    assert [(m["name"], m["status"]) for m in summary["scheduled_maintenances"]] == [
        ("Agent upgrade", "in_progress"),
        ("Database upgrade", "scheduled"),
    ]
    states = {c["id"]: c["status"] for c in summary["components"]}
    assert (states["api"], states["acme-agent"], states["builds"]) == (
        "degraded_performance",
        "under_maintenance",
        "operational",
    )
    assert [i["name"] for i in client.get("/api/v2/incidents.json").json()["incidents"]] == [
        "Slow builds",
        "API errors",
    ]
    history = client.get("/api/v2/scheduled-maintenances.json").json()["scheduled_maintenances"]
    assert {m["name"]: m["status"] for m in history} == {
        "Agent upgrade": "in_progress",
        "Database upgrade": "scheduled",
        "Export move": "completed",
    }


def test_markup_in_a_story_is_plain_json_text(client: TestClient, world: World) -> None:
    response = client.get("/api/v2/incidents/unresolved.json")

    bodies = [u["body"] for u in response.json()["incidents"][0]["incident_updates"]]
    assert bodies[-1] == f"Some of you cannot use the API. We are sorry.\n\n{ATTACK}"
    assert "DRAFT" not in response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_locale_picks_the_language_and_anything_else_is_english(
    client: TestClient, engine: sa.Engine
) -> None:
    World(engine).incident("API errors", locale_parts={"de": {"apology": "Die API ist gestört."}})

    def body(**params: str) -> str:
        found = client.get("/api/v2/incidents.json", params=params).json()
        return str(found["incidents"][0]["incident_updates"][0]["body"])

    english = client.get("/api/v2/incidents.json")
    odd = client.get("/api/v2/incidents.json", params={"locale": "xx"})
    assert body(locale="de") == "Die API ist gestört."
    assert body() == body(locale="en") == "Some of you cannot use the API. We are sorry."
    assert (odd.content, odd.headers["etag"]) == (english.content, english.headers["etag"])
    assert client.get("/api/v2/incidents.json", params={"locale": "x" * 36}).status_code == 422


# ── caching and headers ───────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("path", API_PATHS + FEED_PATHS)
def test_etag_304_cache_control_cors_and_head(client: TestClient, world: World, path: str) -> None:
    response = client.get(path)
    etag = response.headers["etag"]
    again = client.get(path, headers={"If-None-Match": etag})
    head = client.head(path)

    assert response.status_code == 200 and response.content
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    assert (head.status_code, head.content, head.headers["etag"]) == (200, b"", etag)
    for answer in (response, again, head):
        assert answer.headers["cache-control"] == "public, max-age=15, stale-while-revalidate=60"
        assert answer.headers["access-control-allow-origin"] == "*"
        assert answer.headers["access-control-expose-headers"] == "ETag"
        assert answer.headers["cross-origin-resource-policy"] == "cross-origin"


def test_a_publication_invalidates_every_document(client: TestClient, engine: sa.Engine) -> None:
    world = World(engine)
    outage = world.incident("API errors", components={"api": "partial_outage"})
    paths = ["/api/v2/summary.json", "/api/v2/incidents/unresolved.json", "/history.atom", "/history.rss"]
    etags = {path: client.get(path).headers["etag"] for path in paths}
    unchanged = {path: client.get(path, headers={"If-None-Match": etags[path]}).status_code for path in paths}

    world.resolve(outage, at=T0 + timedelta(minutes=60))
    changed = {path: client.get(path, headers={"If-None-Match": etags[path]}) for path in paths}

    assert set(unchanged.values()) == {304}
    assert {path: r.status_code for path, r in changed.items()} == dict.fromkeys(paths, 200)
    assert changed["/api/v2/summary.json"].json()["incidents"] == []
    assert changed["/api/v2/incidents/unresolved.json"].json()["incidents"] == []
    assert "INC-0001 · API errors · Resolved" in changed["/history.atom"].text


def test_each_document_is_built_once_per_snapshot(
    client: TestClient, world: World, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []
    real = statusapi.render_document

    def counting(snapshot: Any, path: str, locale: str = "en") -> bytes:
        built.append(f"{path}?{locale}")
        return real(snapshot, path, locale)

    monkeypatch.setattr(statusapi, "render_document", counting)
    for _ in range(3):
        client.get("/api/v2/summary.json")
        client.get("/api/v2/summary.json", params={"locale": "de"})
        client.get("/api/v2/status.json", params={"locale": "fr"})
    assert built == ["summary.json?en", "summary.json?de", "status.json?en"]

    world.tell(world.incident("Search down"), "identified", at=T0 + timedelta(minutes=80))
    client.get("/api/v2/summary.json")
    assert built[-1] == "summary.json?en" and len(built) == 4


# ── the feeds ─────────────────────────────────────────────────────────────────────────────────────


def parse(body: bytes) -> ET.Element:
    """Our own feed's bytes (the standard library's parser is fine for what we wrote ourselves)."""
    return ET.fromstring(body)  # noqa: S314


def test_the_feeds_have_their_media_types_and_one_entry_per_update(client: TestClient, world: World) -> None:
    atom = client.get("/history.atom")
    rss = client.get("/history.rss")

    assert atom.headers["content-type"] == "application/atom+xml; charset=utf-8"
    assert rss.headers["content-type"] == "application/rss+xml; charset=utf-8"
    titles = [e.text for e in parse(atom.content).iter("{http://www.w3.org/2005/Atom}title")][1:]
    assert titles == [
        "INC-0002 · Slow builds · Resolved",
        "INC-0001 · API errors · Monitoring",
        "INC-0002 · Slow builds · Investigating",
        "INC-0001 · API errors · Investigating",
        "INC-0005 · Export move · Completed",
        "INC-0004 · Database upgrade · Scheduled",
        "INC-0003 · Agent upgrade · Scheduled",
        "INC-0005 · Export move · Scheduled",
    ]  # newest first; the draft is not there
    assert [i.findtext("title") for i in parse(rss.content).iter("item")] == titles
    assert client.get("/history.rss", params={"locale": "de"}).text.count("Wird untersucht") == 2


def test_markup_in_a_story_is_inert_in_the_feeds(client: TestClient, world: World) -> None:
    for path in FEED_PATHS:
        root = parse(client.get(path).content)
        assert not {e.tag.split("}")[-1] for e in root.iter()} & {"script", "img"}
    atom = client.get("/history.atom").text
    assert "&lt;/title&gt;&lt;script&gt;" in atom and "<script>" not in atom
