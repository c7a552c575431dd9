"""The public feeds: banner.json, banner.js, summary.json and healthz, over a migrated SQLite file.

``summary.json`` moved to the status page's Statuspage-compatible API (``faces/web/statusapi.py``,
tested in full in ``test_statusapi.py``); the summary tests here are kept as they were where the
document still says the same, and changed, with a comment saying why, where the new shape differs.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

with warnings.catch_warnings():  # Starlette 1.x asks for "httpx2"; the httpx we have works the same
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`", UserWarning)
    from fastapi.testclient import TestClient
from clarion import banner as banners
from clarion import store
from clarion.kinds import Channel, IncidentStatus, UpdateState
from clarion.models import Incident, IncidentCreate, Rendition, Update, UpdateCreate
from clarion.settings import Settings
from faces.web import feeds
from faces.web.app import create_app

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SCRIPT = Path(feeds.__file__).parent / "static" / "banner.js"
ATTACK = '</script><script>alert(1)</script><img src=x onerror="alert(2)"> & "quotes"'


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = store.make_engine(f"sqlite:///{tmp_path}/clarion.db")
    store.migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def client(engine: sa.Engine, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        home=tmp_path, public_url="https://status.acme.example", public_time_zone="Europe/Berlin"
    )
    app = create_app(settings, engine=engine)
    # The status page's cache asks the store at most once a second; these tests publish faster.
    app.state.public.revalidate_every = 0
    with TestClient(app) as client:
        yield client


def declare(engine: sa.Engine, title: str = "Checkout is failing", severity: str = "sev1") -> Incident:
    with store.session_scope(engine) as session:
        return store.create_incident(
            session=session,
            incident_in=IncidentCreate(playbook="outage", severity=severity, title=title, aware_at=T0),
        )


def tell(
    engine: sa.Engine,
    incident: Incident,
    status: IncidentStatus = IncidentStatus.INVESTIGATING,
    *,
    minutes: int = 0,
    published: bool = True,
    apology: dict[str, dict[str, str | None]] | None = None,
    banner: dict[str, str] | None = None,
) -> Update:
    """Add an update (published ``minutes`` after T0 unless a draft), with banners per locale."""
    with store.session_scope(engine) as session:
        update = store.add_update(
            session=session,
            incident=incident,
            update_in=UpdateCreate(
                status=status,
                apology=apology or {"en": {"text": f"Sorry ({status}).", "short": "Sorry."}},
                facts={"status_page_url": f"https://status.acme.example/incidents/{incident.reference}"},
                next_update_by=T0 + timedelta(hours=2),
            ),
        )
        if published:
            update.state = UpdateState.PUBLISHED
            update.published_at = T0 + timedelta(minutes=minutes)
            session.add(update)
        assert incident.id is not None and update.id is not None
        for locale, text in (banner or {}).items():
            banners.publish_banner(
                session=session,
                incident_id=incident.id,
                update_id=update.id,
                audience="customers",
                locale=locale,
                severity=incident.severity,
                status=status.value,
                text=text,
                link="https://status.acme.example/incidents/" + incident.reference,
            )
        return update


# ── healthz and banner.json ───────────────────────────────────────────────────────────────────────


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")

    assert (response.status_code, response.json()) == (200, {"ok": True})


def test_no_banner_is_an_empty_list(client: TestClient) -> None:
    body = client.get("/banner.json").json()

    assert body["banners"] == []
    assert ISO_Z.match(body["generated_at"])


def test_banner_json_shape_and_filters(client: TestClient, engine: sa.Engine) -> None:
    incident = declare(engine)
    tell(engine, incident, banner={"en": "INC-0001 · Investigating: checkout fails.", "de": "Störung."})

    response = client.get("/banner.json", params={"audience": "customers", "locale": "en"})

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    [item] = response.json()["banners"]
    assert list(item) == [
        "id", "revision", "incident", "severity", "status", "text", "link",
        "locale", "audience", "starts_at", "expires_at", "updated_at",
    ]  # fmt: skip
    assert item | {"starts_at": "…", "updated_at": "…"} == {
        "id": 1,
        "revision": 1,
        "incident": "INC-0001",
        "severity": "sev1",
        "status": "investigating",
        "text": "INC-0001 · Investigating: checkout fails.",
        "link": "https://status.acme.example/incidents/INC-0001",
        "locale": "en",
        "audience": "customers",
        "starts_at": "…",
        "expires_at": None,
        "updated_at": "…",
    }
    assert ISO_Z.match(item["starts_at"]) and ISO_Z.match(item["updated_at"])
    assert [b["locale"] for b in client.get("/banner.json").json()["banners"]] == ["de", "en"]
    assert client.get("/banner.json", params={"audience": "partners"}).json()["banners"] == []


def test_etag_answers_304_without_a_body_until_the_banner_changes(
    client: TestClient, engine: sa.Engine
) -> None:
    incident = declare(engine)
    tell(engine, incident, banner={"en": "Checkout fails."})
    first = client.get("/banner.json")
    etag = first.headers["etag"]

    again = client.get("/banner.json", headers={"If-None-Match": etag})
    listed = client.get("/banner.json", headers={"If-None-Match": f'"other", W/{etag}'})
    tell(engine, incident, IncidentStatus.IDENTIFIED, minutes=30, banner={"en": "Found it."})
    changed = client.get("/banner.json", headers={"If-None-Match": etag})

    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    assert listed.status_code == 304
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert changed.json()["banners"][0]["revision"] == 2
    assert (
        client.get("/banner.json", headers={"If-None-Match": etag}, params={"locale": "de"}).status_code
        == 200
    )


def test_a_cleared_banner_changes_the_etag(client: TestClient, engine: sa.Engine) -> None:
    incident = declare(engine)
    tell(engine, incident, banner={"en": "Checkout fails."})
    etag = client.get("/banner.json").headers["etag"]
    assert incident.id is not None
    with store.session_scope(engine) as session:
        banners.clear_banners(session=session, incident_id=incident.id, at=datetime.now(UTC))

    response = client.get("/banner.json", headers={"If-None-Match": etag})

    assert (response.status_code, response.json()["banners"]) == (200, [])


def test_the_304_path_renders_no_json(
    client: TestClient, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    tell(engine, declare(engine), banner={"en": "Checkout fails."})
    etag = client.get("/banner.json").headers["etag"]

    def no_rendering(_document: dict[str, Any]) -> bytes:
        raise AssertionError("JSON rendered for a 304")

    monkeypatch.setattr(feeds, "_json", no_rendering)
    assert client.get("/banner.json", headers={"If-None-Match": etag}).status_code == 304


@pytest.mark.parametrize("path", ["/banner.json", "/banner.js", "/api/v2/summary.json"])
def test_public_cache_and_cors_headers(client: TestClient, path: str) -> None:
    response = client.get(path)
    not_modified = client.get(path, headers={"If-None-Match": response.headers["etag"]})

    for answer in (response, not_modified):
        assert answer.headers["access-control-allow-origin"] == "*"
        assert answer.headers["cache-control"].startswith("public, max-age=")
        assert answer.headers["x-content-type-options"] == "nosniff"
    assert not_modified.status_code == 304
    head = client.head(path)
    assert (head.status_code, head.content, head.headers["etag"]) == (200, b"", response.headers["etag"])
    if path == "/banner.json":
        assert response.headers["cache-control"] == "public, max-age=30"
    elif path.startswith("/api/"):  # served from the status page's cache: a CDN may serve it stale briefly
        assert response.headers["cache-control"] == "public, max-age=15, stale-while-revalidate=60"


def test_markup_in_banner_text_is_served_as_a_plain_json_string(
    client: TestClient, engine: sa.Engine
) -> None:
    tell(engine, declare(engine), banner={"en": ATTACK})

    response = client.get("/banner.json")

    assert response.json()["banners"][0]["text"] == ATTACK
    assert response.headers["content-type"] == "application/json"


# ── banner.js ─────────────────────────────────────────────────────────────────────────────────────


def test_banner_js_is_a_small_cacheable_script_without_innerhtml(client: TestClient) -> None:
    response = client.get("/banner.js")

    assert response.headers["content-type"] == "application/javascript; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert client.get("/banner.js", headers={"If-None-Match": response.headers["etag"]}).status_code == 304
    assert len(response.content) < 3.2 * 1024
    for unsafe in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert unsafe not in response.text
    assert "textContent" in response.text


NODE_HARNESS = r"""
const fs = require("fs");
const log = [];
function node(tag) {
  return { tag, attrs: {}, kids: [], listeners: {}, textContent: "",
    setAttribute(k, v) { this.attrs[k] = String(v); }, appendChild(c) { this.kids.push(c); },
    addEventListener(k, f) { this.listeners[k] = f; }, remove() { document.body.kids = []; },
    set innerHTML(v) { throw new Error("innerHTML used"); } };
}
const feeds = JSON.parse(process.argv[3]);
let call = 0;
global.window = { fetch: true };
global.localStorage = { data: {}, getItem(k) { return k in this.data ? this.data[k] : null; },
  setItem(k, v) { this.data[k] = v; } };
global.document = { body: node("body"), createElement: node,
  currentScript: { src: "https://status.acme.example/feeds/banner.js",
    getAttribute(n) { return { "data-audience": "customers", "data-locale": "en" }[n] || null; } } };
global.fetch = (url, opts) => { log.push({ url, opts });
  const doc = feeds[Math.min(call++, feeds.length - 1)];
  return Promise.resolve({ ok: true, json: () => Promise.resolve(doc) }); };
let tick = null;
global.setInterval = (f, ms) => { tick = f; log.push({ interval: ms }); };
function snapshot() {
  const bar = document.body.kids[0];
  if (!bar) return null;
  return { role: bar.attrs.role, severity: bar.attrs["data-severity"],
    kids: bar.kids.map((k) => ({ tag: k.tag, text: k.textContent, href: k.attrs.href || null })) };
}
const wait = () => new Promise((r) => setTimeout(r, 0));
(async () => {
  eval(fs.readFileSync(process.argv[2], "utf8"));
  const shots = [];
  await wait(); await wait(); shots.push(snapshot());
  const bar = document.body.kids[0];
  bar.kids[bar.kids.length - 1].listeners.click();
  shots.push(snapshot());
  tick(); await wait(); await wait(); shots.push(snapshot());
  tick(); await wait(); await wait(); shots.push(snapshot());
  console.log(JSON.stringify({ log, shots, stored: localStorage.data }));
})();
"""


def banner(revision: int, text: str, link: str) -> dict[str, Any]:
    return {"banners": [{"id": 7, "revision": revision, "severity": "sev1", "text": text, "link": link}]}


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the script")
def test_banner_js_shows_dismisses_and_reshows_a_new_revision(tmp_path: Path) -> None:
    harness = tmp_path / "harness.js"
    harness.write_text(NODE_HARNESS)
    docs = [
        banner(1, ATTACK, "https://status.acme.example/incidents/INC-0001"),
        banner(1, ATTACK, "https://status.acme.example/incidents/INC-0001"),
        banner(2, "Fixed soon.", "javascript:alert(1)"),
    ]
    done = subprocess.run(
        ["node", str(harness), str(SCRIPT), json.dumps(docs)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)

    first, dismissed, same_revision, new_revision = result["shots"]
    assert first["role"] == "status"
    assert first["severity"] == "sev1"
    assert [(k["tag"], k["text"], k["href"]) for k in first["kids"]] == [
        ("span", ATTACK, None),
        ("a", "Details", "https://status.acme.example/incidents/INC-0001"),
        ("button", "×", None),
    ]
    assert dismissed is None
    assert same_revision is None  # dismissed per id + revision
    assert [(k["tag"], k["text"]) for k in new_revision["kids"]] == [("span", "Fixed soon."), ("button", "×")]
    assert result["stored"] == {"clarion-banner-dismissed:7": "1"}
    fetches = [entry for entry in result["log"] if "url" in entry]
    assert fetches[0]["url"] == "https://status.acme.example/feeds/banner.json?audience=customers&locale=en"
    assert fetches[0]["opts"] == {"cache": "no-cache", "credentials": "omit"}
    assert {"interval": 60000} in result["log"]


# ── summary.json ──────────────────────────────────────────────────────────────────────────────────


def test_summary_with_nothing_to_tell(client: TestClient) -> None:
    body = client.get("/api/v2/summary.json").json()

    assert body["status"] == {"indicator": "none", "description": "All Systems Operational"}
    assert (body["incidents"], body["scheduled_maintenances"]) == ([], [])
    # The summary now lists the page's components (the shipped components file), all operational.
    assert [c["id"] for c in body["components"] if not c["group"]] == [
        "builds", "deploys", "runtime", "dashboard", "api",
        "customer-export", "acme-agent", "status-notifications",
    ]  # fmt: skip
    assert {c["status"] for c in body["components"]} == {"operational"}
    assert body["page"] | {"id": "…"} == {
        "id": "…",
        "name": "status.acme.example",
        "url": "https://status.acme.example",
        "time_zone": "Europe/Berlin",
        "updated_at": None,
    }


def test_summary_shape_impact_and_updates(client: TestClient, engine: sa.Engine) -> None:
    checkout = declare(engine, "Checkout is failing", "sev2")
    tell(engine, checkout, minutes=0, banner={"en": "Banner: investigating."})
    tell(engine, checkout, IncidentStatus.MONITORING, minutes=20)
    newest = tell(engine, checkout, IncidentStatus.MONITORING, minutes=40, banner={"en": "Banner: watching."})
    tell(engine, checkout, IncidentStatus.RESOLVED, minutes=60, published=False)  # a draft: not public
    search = declare(engine, "Search is slow", "sev3")
    tell(engine, search, minutes=10)
    declare(engine, "Breach under legal review", "sev1")  # nothing published: not on the page

    body = client.get("/api/v2/summary.json").json()

    assert body["status"] == {"indicator": "major", "description": "Partial System Outage"}
    assert body["page"]["updated_at"] == "2026-03-01T10:10:00.000Z"
    # Newest first by when each was first told, as the page and incidents.json list them (no longer by
    # the latest update, which made incidents swap places whenever one was updated).
    assert [(i["id"], i["name"], i["impact"], i["status"]) for i in body["incidents"]] == [
        ("INC-0002", "Search is slow", "minor", "investigating"),
        ("INC-0001", "Checkout is failing", "major", "monitoring"),
    ]
    first = body["incidents"][1]
    assert first | {"incident_updates": []} == {
        "id": "INC-0001",
        "name": "Checkout is failing",
        "status": "monitoring",
        "impact": "major",
        "shortlink": "https://status.acme.example/incidents/INC-0001",
        "created_at": "2026-03-01T09:30:00.000Z",
        "updated_at": "2026-03-01T10:10:00.000Z",
        "monitoring_at": "2026-03-01T09:50:00.000Z",
        "resolved_at": None,
        "page_id": body["page"]["id"],
        "incident_updates": [],
        "started_at": "2026-03-01T09:30:00.000Z",  # new: Statuspage's field; the first word when unknown
        "components": [],  # new: the affected components' objects (these updates name none)
    }
    updates = first["incident_updates"]
    # A body is now the update's four parts as told on the page, no longer the banner's short text.
    assert [(u["status"], u["body"], u["created_at"]) for u in updates] == [
        ("monitoring", "Sorry (monitoring).", "2026-03-01T10:10:00.000Z"),
        ("monitoring", "Sorry (monitoring).", "2026-03-01T09:50:00.000Z"),
        ("investigating", "Sorry (investigating).", "2026-03-01T09:30:00.000Z"),
    ]
    assert updates[0] | {"body": "…"} == {
        "id": str(newest.id),
        "status": "monitoring",
        "body": "…",
        "created_at": "2026-03-01T10:10:00.000Z",
        "display_at": "2026-03-01T10:10:00.000Z",
        "updated_at": "2026-03-01T10:10:00.000Z",
        "incident_id": "INC-0001",
        "affected_components": None,  # new: Statuspage's field, null when no component state changed
    }


@pytest.mark.parametrize(("severity", "impact", "description"), [
    ("sev1", "critical", "Major System Outage"),
    ("sev2", "major", "Partial System Outage"),
    ("sev3", "minor", "Minor Service Outage"),
    ("downtime", "minor", "Minor Service Outage"),
])  # fmt: skip
def test_impact_follows_severity(
    client: TestClient, engine: sa.Engine, severity: str, impact: str, description: str
) -> None:
    tell(engine, declare(engine, severity=severity))

    body = client.get("/api/v2/summary.json").json()

    assert body["incidents"][0]["impact"] == impact
    assert body["status"] == {"indicator": impact, "description": description}


def test_resolved_incidents_leave_the_summary(client: TestClient, engine: sa.Engine) -> None:
    told_resolved = declare(engine, "Told resolved")
    tell(engine, told_resolved, minutes=0)
    tell(engine, told_resolved, IncidentStatus.RESOLVED, minutes=5)
    closed = declare(engine, "Closed")
    tell(engine, closed, minutes=1)
    with store.session_scope(engine) as session:
        row = store.get_incident(session=session, reference=closed.reference)
        row.status, row.resolved_at = IncidentStatus.RESOLVED, T0 + timedelta(minutes=90)
        session.add(row)

    body = client.get("/api/v2/summary.json").json()

    assert body["incidents"] == []
    assert body["status"]["indicator"] == "none"
    assert body["page"]["updated_at"] == "2026-03-01T11:00:00.000Z"


def test_update_bodies_follow_the_page_locale(client: TestClient, engine: sa.Engine) -> None:
    incident = declare(engine)
    bilingual = {"en": {"text": "Sorry.", "short": None}, "de": {"text": "Entschuldigung.", "short": None}}
    first = tell(engine, incident, apology=bilingual)
    with store.session_scope(engine) as session:
        assert first.id is not None
        session.add(
            Rendition(
                update_id=first.id,
                channel=Channel.BANNER,
                locale="de",
                time_zone="UTC",
                body="Banner (Rendition): Störung.",
                length=28,
                measure="characters",
            )
        )
    english_only = tell(engine, incident, minutes=5)

    def bodies(locale: str) -> list[str]:
        summary = client.get("/api/v2/summary.json", params={"locale": locale}).json()
        return [u["body"] for u in summary["incidents"][0]["incident_updates"]]

    assert english_only.id is not None
    # The German apology, no longer the banner rendition: the API tells the story as the page does.
    assert bodies("de") == ["Sorry (investigating).", "Entschuldigung."]
    assert bodies("en") == ["Sorry (investigating).", "Sorry."]
    assert bodies("fr") == ["Sorry (investigating).", "Sorry."]


def test_summary_etag(client: TestClient, engine: sa.Engine) -> None:
    incident = declare(engine)
    tell(engine, incident)
    etag = client.get("/api/v2/summary.json").headers["etag"]

    same = client.get("/api/v2/summary.json", headers={"If-None-Match": etag})
    tell(engine, incident, IncidentStatus.IDENTIFIED, minutes=10)
    changed = client.get("/api/v2/summary.json", headers={"If-None-Match": etag})

    assert (same.status_code, same.content) == (304, b"")
    assert changed.status_code == 200


def test_the_app_uses_the_engine_of_its_settings(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/other.db")

    app = create_app(settings)

    assert store.sqlite_file(app.state.engine.url) == tmp_path / "other.db"
    assert app.state.settings is settings
    app.state.engine.dispose()
