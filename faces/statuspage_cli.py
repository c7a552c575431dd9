"""``clarion statuspage``: the public status page from the command line.

``clarion statuspage export DIR`` writes the whole public site (pages, feeds, the Statuspage-compatible
JSON) as static files, to host apart from the systems it reports on; setting
``CLARION_STATUSPAGE_EXPORT_DIR`` makes every publication refresh such a folder. ``clarion statuspage
show`` prints what the page says now. Heavy modules are imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from faces.console import console, errors_to_exit

statuspage_app = typer.Typer(
    help="The public status page: export it as static files, show it.", no_args_is_help=True
)
out = console()

Locale = Annotated[str, typer.Option("--locale", help="The language of the pages: en or de.")]


def _check_locale(locale: str) -> None:
    from clarion.errors import InputError, Problem
    from clarion.statuspage.pages import LOCALES

    if locale not in LOCALES:
        raise InputError([Problem("--locale", None, "", f"{locale!r} is not one of {', '.join(LOCALES)}")])


@statuspage_app.command("export")
def export(
    folder: Annotated[Path, typer.Argument(help="Where to write the site (created when missing).")],
    locale: Locale = "en",
) -> None:
    """Write every page, feed and API document as static files (only what changed is rewritten)."""
    with errors_to_exit():
        _check_locale(locale)
        from clarion.models import utcnow
        from clarion.settings import get_settings
        from clarion.statuspage.export import export_site
        from clarion.statuspage.snapshot import take_snapshot
        from clarion.store import get_engine, require_current

        settings = get_settings()
        snapshot = take_snapshot(require_current(get_engine()), settings, utcnow())
        done = export_site(snapshot, folder, locale)
        out.print(
            f"{done.files} files in {done.folder} ({done.bytes / 1024:.0f} KiB): "
            f"{done.written} written, {done.files - done.written} unchanged, {done.removed} removed",
            markup=False,
        )
        out.print(
            f"status: {snapshot.description}; {len(snapshot.open_incidents)} open incidents", markup=False
        )


@statuspage_app.command("show")
def show() -> None:
    """What the status page says now: the overall state, each component, open incidents and maintenance."""
    with errors_to_exit():
        from clarion.models import utcnow
        from clarion.settings import get_settings
        from clarion.statuspage.snapshot import take_snapshot
        from clarion.store import get_engine, require_current

        settings = get_settings()
        page = take_snapshot(require_current(get_engine()), settings, utcnow())
        out.print(f"{page.page.url}: {page.description}", markup=False)
        for component in page.catalogue.components:
            out.print(f"  {component.name:<28} {page.states[component.id].value}", markup=False)
        for incident in page.open_incidents:
            out.print(f"  {incident.reference} {incident.status.value:<13} {incident.title}", markup=False)
        for work in (*page.active_maintenances, *page.upcoming_maintenances):
            window = work.window
            assert window is not None
            out.print(
                f"  {work.reference} {page.maintenance_status(work).value:<13} {work.title} "
                f"({window.starts_at:%Y-%m-%d %H:%M}–{window.ends_at:%H:%M} UTC)",
                markup=False,
            )
