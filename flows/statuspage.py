"""Keep the static export of the status page current: rewritten after every publication.

With ``CLARION_STATUSPAGE_EXPORT_DIR`` set, the publish subflow ends with :func:`refresh_export`,
so the copy of the page hosted apart from clarion (object storage, any static host syncing the
folder) says what the live page says. The publication has happened by then: an export that fails is
reported loudly (an error in the run's log, an audit entry, a ``clarion.statuspage.export-failed``
event an automation can page someone with) and does not fail the publication.
"""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from clarion import audit
from clarion.errors import ClarionError
from clarion.models import utcnow
from clarion.statuspage.export import export_site
from clarion.statuspage.snapshot import take_snapshot
from flows import timers
from flows.context import open_context


@task(name="refresh status page export", cache_policy=NO_CACHE)
def refresh_export(reference: str) -> int | None:
    """Rewrite the export folder, if one is set; returns how many files changed (None: no folder)."""
    ctx = open_context(reference)
    folder = ctx.settings.statuspage_export_dir
    if folder is None:
        return None
    logger = get_run_logger()
    try:
        done = export_site(take_snapshot(ctx.engine, ctx.settings, utcnow()), folder)  # the wall clock
    except (ClarionError, OSError) as exc:
        logger.error("%s: the static status page in %s was not refreshed: %s", ctx.reference, folder, exc)
        with ctx.session() as session:
            audit.append(
                session=session,
                actor="clarion",
                action="statuspage.export-failed",
                subject=ctx.reference,
                details={"folder": str(folder), "problem": str(exc)[:500]},
            )
            session.commit()
        timers.emit(ctx, "clarion.statuspage.export-failed", folder=str(folder))
        return None
    logger.info(
        "%s: static status page refreshed in %s (%s files changed)", ctx.reference, folder, done.written
    )
    return done.written
