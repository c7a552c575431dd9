"""The whole public status page as static files, to host apart from the systems it reports on.

:func:`site_files` yields every document of a snapshot under the path a static host serves it at:

==============================  ===========================================
``index.html``                  the home page
``incidents/INC-0042/index.html``  each incident and maintenance
``history/index.html``, ``history/page/2/index.html``  the history, paged
``404.html``                    the not-found page (most static hosts use it)
``api/v2/*.json``               the Statuspage-compatible documents
``history.atom``, ``history.rss``  the feeds
``static/*``                    the stylesheet and the script
==============================  ===========================================

They are the same bytes the web app serves (one renderer for both), in one language (``locale``;
the pages' language links need the web app's ``?lang=``).

:func:`export_site` writes them into a folder it owns. Each file is written to a temporary name and
renamed into place, and only when its bytes changed, so a web server reading the folder never serves
half a file and a sync to object storage uploads only what changed. The folder keeps a manifest
(``.clarion-export.json``) of what the export wrote: files of an earlier export that are gone now
(a history page) are removed, anything else in the folder is left alone, and a folder that holds files
but no manifest is refused rather than mixed into.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from clarion.errors import ClarionError
from clarion.statuspage.api import DOCUMENTS, render_document
from clarion.statuspage.feed import FeedFormat, render_feed
from clarion.statuspage.site import render_history, render_home, render_incident, render_not_found
from clarion.statuspage.snapshot import Snapshot

MANIFEST = ".clarion-export.json"
MAX_HISTORY_PAGES = 1000


class ExportError(ClarionError):
    """The export folder cannot be used (not ours, not writable)."""


@dataclass(frozen=True)
class Exported:
    folder: Path
    files: int
    written: int
    removed: int
    bytes: int


def site_files(snapshot: Snapshot, locale: str = "en") -> Iterator[tuple[str, bytes]]:
    """Every file of the static site, as (relative path, bytes)."""
    yield "index.html", render_home(snapshot, locale, "")
    for incident in snapshot.record.incidents:
        page = render_incident(snapshot, incident.reference, locale, "")
        if page is not None:
            yield f"incidents/{incident.reference}/index.html", page
    for number in range(1, MAX_HISTORY_PAGES + 1):
        history = render_history(snapshot, number, locale, "")
        if history is None:
            break
        yield ("history/index.html" if number == 1 else f"history/page/{number}/index.html"), history
    yield "404.html", render_not_found(snapshot, locale, "")
    for path in DOCUMENTS:
        yield f"api/v2/{path}", render_document(snapshot, path, locale)
    for form in FeedFormat:
        yield f"history.{form.value}", render_feed(snapshot, form, locale)
    static = files("clarion.statuspage").joinpath("static")
    for item in sorted(static.iterdir(), key=lambda i: i.name):
        if item.is_file() and not item.name.startswith("."):
            yield f"static/{item.name}", item.read_bytes()


def _previous(folder: Path) -> set[str]:
    manifest = folder / MANIFEST
    if not manifest.exists():
        if folder.exists() and any(folder.iterdir()):
            raise ExportError(
                f"{folder} holds files but no {MANIFEST}: export into an empty folder, or one an earlier "
                "export wrote, so nothing of yours is overwritten or removed"
            )
        return set()
    try:
        listed = json.loads(manifest.read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        problem = f"{manifest} is unreadable ({exc}); move the folder aside and export again"
        raise ExportError(problem) from exc
    return {str(p) for p in listed}


def _write(target: Path, body: bytes) -> bool:
    """Write ``body`` to ``target`` by renaming a complete temporary file; False when unchanged."""
    try:
        if target.read_bytes() == body:
            return False
    except FileNotFoundError:
        pass
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(body)
        Path(temporary).chmod(0o644)  # a public site: the web server's user must read it
        Path(temporary).replace(target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


def export_site(snapshot: Snapshot, folder: Path, locale: str = "en") -> Exported:
    """Write the site into ``folder`` (created when missing); see the module for the guarantees."""
    folder = folder.resolve()
    try:
        before = _previous(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = size = 0
        now: list[str] = []
        for relative, body in site_files(snapshot, locale):
            now.append(relative)
            size += len(body)
            written += _write(folder / relative, body)
        removed = 0
        for stale in sorted(before - set(now)):
            path = folder / stale
            if path.resolve().is_relative_to(folder) and path.is_file():
                path.unlink()
                removed += 1
        _write(folder / MANIFEST, json.dumps({"files": sorted(now)}, indent=0).encode())
    except OSError as exc:
        raise ExportError(f"cannot write the status page into {folder}: {exc.strerror or exc}") from exc
    return Exported(folder, len(now), written, removed, size)
