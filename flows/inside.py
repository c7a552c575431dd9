"""Telling the people inside from a flow run: responder notices staged through the outbox.

The rules of whom and where are the domain's (:mod:`clarion.responders`); here a run stages the
notice and says in its log whom it could not reach. The outbox worker sends it like any message.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import get_run_logger
from prefect.runtime import flow_run
from sqlalchemy.exc import SQLAlchemyError

from channels.delivery import run_worker
from clarion.errors import ClarionError, PlaybookError, RenderError, TemplateError
from clarion.kinds import Channel
from clarion.outbox.notices import NoticeRenderer
from clarion.responders import notices
from clarion.responders.notices import Telling, Told
from clarion.responders.people import People
from flows.context import IncidentContext


def when(instant: datetime) -> str:
    """A time as responders read it in a notice: UTC, to the minute."""
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def ui_url() -> str:
    """This flow run's page in the Prefect UI, where an approver can answer ("" outside a run)."""
    try:
        return str(flow_run.ui_url or "")
    except Exception:  # a courtesy link: whatever prefect.runtime cannot answer, the notice goes without
        return ""


def tell(
    ctx: IncidentContext,
    kind: str,
    topic: str,
    to: list[str],
    *,
    urgent: bool = False,
    people: People | None = None,
    **params: Any,
) -> Told:
    """Stage one notice of ``kind`` for each responder in ``to`` (once per topic, person and channel);
    ``people`` replaces the playbook's people file (a file with someone added who is not in it)."""
    logger = get_run_logger()
    to = [person for person in to if person]  # an incident declared without a commander names none
    if not to:
        logger.warning("%s: nobody inside to tell of %s (nobody is named)", ctx.reference, kind)
        return Told()
    try:
        people = people or ctx.people
    except PlaybookError as exc:  # the file broke mid-incident: say so loudly, never block the run
        logger.error("%s: nobody inside is told (%s): %s", ctx.reference, kind, exc)
        return Told(unreachable=list(to))
    if people is None:
        logger.info("%s: the playbook names no people file; nobody inside is told (%s)", ctx.reference, kind)
        return Told(unreachable=list(to))
    check = NoticeRenderer(
        ctx.settings.templates_dir, notices.notice_contexts(), sms_max_segments=ctx.settings.sms_max_segments
    )
    telling = Telling(
        kind=kind, topic=topic, to=to, params={"reference": ctx.reference, **params}, urgent=urgent
    )
    try:
        told = notices.tell(
            engine=ctx.engine, people=people, reference=ctx.reference, telling=telling, check=check
        )
    except (TemplateError, RenderError) as exc:  # what `clarion preview` would have refused
        logger.error("%s: nobody inside is told (%s), nothing staged: %s", ctx.reference, kind, exc)
        return Told(unreachable=list(to))
    if told.unreachable:
        logger.warning(
            "%s: %s not told (%s): not in %s or no channel for it",
            ctx.reference,
            ", ".join(told.unreachable),
            kind,
            people.source,
        )
    logger.info("%s: %s staged for %s notices (%s already)", ctx.reference, kind, told.staged, told.already)
    if told.channels:
        _send_now(ctx, told)
    return told


def _send_now(ctx: IncidentContext, told: Told) -> None:
    """Send what was staged at once (an approval request must not wait for the sweep): one pass,
    no waiting for retries; what a provider refused for now, the outbox sweep sends later."""
    channels = sorted(told.channels, key=list(Channel).index)
    try:
        run_worker(
            ctx.settings, ctx.engine, name=f"inside-{flow_run.id or 'local'}", channels=channels, max_wait=0
        )
    except (ClarionError, SQLAlchemyError) as exc:  # staged and in the ledger: the sweep sends them
        get_run_logger().warning(
            "%s: notices to the people inside wait for the sweep: %s", ctx.reference, exc
        )
