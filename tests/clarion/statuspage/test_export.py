"""The static export: every document of the page as files, written atomically, only what changed."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from clarion.settings import Settings
from clarion.statuspage.export import MANIFEST, ExportError, export_site, site_files
from clarion.statuspage.snapshot import Snapshot, take_snapshot
from tests.statuspage_world import COMPONENTS_FILE, T0, World


def snapshot(engine: sa.Engine, tmp_path: Path, at: timedelta = timedelta(hours=2)) -> Snapshot:
    settings = Settings(
        home=tmp_path, public_url="https://status.acme.example", components_file=COMPONENTS_FILE
    )
    return take_snapshot(engine, settings, T0 + at)


def test_every_document_is_a_file(engine: sa.Engine, tmp_path: Path) -> None:
    world = World(engine)
    outage = world.incident(
        "API errors", components={"api": "partial_outage"}, cause="A bad deploy <b>x</b>."
    )
    world.maintenance("Database upgrade", starts=T0 + timedelta(days=3), components=["api"])
    names = dict(site_files(snapshot(engine, tmp_path)))
    assert {
        "index.html",
        f"incidents/{outage.reference}/index.html",
        "history/index.html",
        "404.html",
        "api/v2/summary.json",
        "api/v2/incidents/unresolved.json",
        "api/v2/scheduled-maintenances/upcoming.json",
        "history.atom",
        "history.rss",
        "static/status.css",
    } <= set(names)
    assert b"A bad deploy &lt;b&gt;x&lt;/b&gt;." in names[f"incidents/{outage.reference}/index.html"]
    summary = json.loads(names["api/v2/summary.json"])
    assert [i["id"] for i in summary["incidents"]] == [outage.reference]


def test_export_writes_only_what_changed_and_removes_what_is_gone(engine: sa.Engine, tmp_path: Path) -> None:
    world = World(engine)
    outage = world.incident("API errors", components={"api": "partial_outage"})
    site = tmp_path / "site"
    first = export_site(snapshot(engine, tmp_path), site)
    assert first.written == first.files > 10 and first.removed == 0
    assert (site / "index.html").stat().st_mode & 0o777 == 0o644
    again = export_site(snapshot(engine, tmp_path), site)
    assert again.written == 0  # nothing changed, nothing rewritten (a sync uploads nothing)
    world.resolve(outage, at=T0 + timedelta(hours=3))
    later = export_site(snapshot(engine, tmp_path, timedelta(hours=4)), site)
    assert 0 < later.written < later.files
    assert "Resolved" in (site / "incidents" / outage.reference / "index.html").read_text(encoding="utf-8")
    listed = json.loads((site / MANIFEST).read_text(encoding="utf-8"))["files"]
    assert "index.html" in listed and not list(site.rglob(".tmp-*"))


def test_a_stale_file_of_an_earlier_export_is_removed_but_nothing_else(
    engine: sa.Engine, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    export_site(snapshot(engine, tmp_path), site)
    manifest = json.loads((site / MANIFEST).read_text(encoding="utf-8"))
    (site / "history" / "page" / "9").mkdir(parents=True)
    (site / "history" / "page" / "9" / "index.html").write_text("old")
    (site / "robots.txt").write_text("mine")
    (site / MANIFEST).write_text(json.dumps({"files": [*manifest["files"], "history/page/9/index.html"]}))
    done = export_site(snapshot(engine, tmp_path), site)
    assert done.removed == 1 and not (site / "history" / "page" / "9" / "index.html").exists()
    assert (site / "robots.txt").read_text() == "mine"


def test_a_folder_that_is_not_an_export_is_refused(engine: sa.Engine, tmp_path: Path) -> None:
    folder = tmp_path / "documents"
    folder.mkdir()
    (folder / "thesis.tex").write_text("years of work")
    with pytest.raises(ExportError, match="holds files but no"):
        export_site(snapshot(engine, tmp_path), folder)
    assert [p.name for p in folder.iterdir()] == ["thesis.tex"]
