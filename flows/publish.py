"""The publish subflow: approval gate, outbox, one delivery task per channel, artifacts, timers.

Every parent flow (declare, update, resolve, holding statement) drafts an update and hands its
number to :func:`publish_update`, which

1. asks the playbook's approvers when the update's kind needs them: a markdown artifact previews
   every rendition, the run pauses for an :class:`ApprovalInput` whose defaults approve nothing,
   and an escalation run is scheduled half-way through each role's window;
2. writes the outbox rows (one task) and sends them with one task per channel, while a progress
   artifact counts what has been accepted;
3. publishes the delivery table and the incident's timeline, and schedules the cadence timers
   (reminder and lapse) as Prefect runs, cancelling the ones this update supersedes.
"""

from __future__ import annotations

import time
from typing import Any, cast
from uuid import UUID

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from sqlmodel import col, select

from channels.delivery import run_worker
from clarion import approvals, audit, deadlines, reports
from clarion.errors import ClarionError
from clarion.facts import Facts
from clarion.kinds import ApprovalDecision, Channel, UpdateState
from clarion.lifecycle import facts_of, next_facts
from clarion.models import Incident, Rendition, Update, utcnow
from clarion.outbox.ledger import state_counts
from clarion.publish import enqueue_update, redraft_update
from flows import timers
from flows.context import IncidentContext, open_context
from flows.models import ApprovalAnswer

APPROVAL_POLL_SECONDS = 2


class ApprovalInput(RunInput, ApprovalAnswer):
    """The approval form the paused run shows (Prefect needs a RunInput)."""


class ApprovalExpired(ClarionError):
    """Nobody answered an approval before its window closed: nothing was sent."""


def artifact_key(reference: str, *parts: object) -> str:
    """Artifact keys allow lowercase letters, digits and dashes only."""
    return "-".join([reference.lower(), *(str(p) for p in parts)])


# ── approval ─────────────────────────────────────────────────────────────────────────────────────


def _renditions(ctx: IncidentContext, update_id: int) -> list[Rendition]:
    with ctx.session() as session:
        statement = select(Rendition).where(Rendition.update_id == update_id)
        rows = session.exec(statement.order_by(col(Rendition.channel), col(Rendition.locale))).all()
    return list(rows)


def _preview(ctx: IncidentContext, update: Update, pending: list[str], windows: dict[str, Any]) -> None:
    assert update.id is not None
    create_markdown_artifact(
        key=artifact_key(ctx.reference, "update", update.number, "preview"),
        markdown=reports.preview_markdown(
            incident=ctx.incident,
            update=update,
            renditions=_renditions(ctx, update.id),
            pending=pending,
            windows=windows,
        ),
        description=f"{ctx.reference} update {update.number}: every rendition, for the approvers",
    )


def _decide(
    ctx: IncidentContext, update: Update, answer: ApprovalAnswer, decision: ApprovalDecision
) -> Update:
    with ctx.session() as session:
        row = session.get(Update, update.id)
        incident = session.get(Incident, ctx.incident.id)
        assert row is not None and incident is not None
        approvals.record_decision(
            session=session,
            incident=incident,
            update=row,
            role=answer.role,
            approver=answer.approver,
            decision=decision,
            reason=answer.reason,
        )
        if decision is ApprovalDecision.REJECTED:
            row.state = UpdateState.REJECTED
            session.add(row)
        session.commit()
        session.refresh(row)
        return row


def _set_state(
    ctx: IncidentContext, update: Update, state: UpdateState, *, audit_action: str | None = None
) -> None:
    from clarion import audit

    with ctx.session() as session:
        row = session.get(Update, update.id)
        assert row is not None
        row.state = state
        session.add(row)
        if audit_action is not None:
            audit.append(
                session=session,
                actor="clarion",
                action=audit_action,
                subject=f"{ctx.reference}/update-{row.number}",
                details={"content_hash": row.content_hash},
            )
        session.commit()


def await_approval(ctx: IncidentContext, update: Update) -> bool:
    """Pause until every role approved (True) or one rejected (False); raises ApprovalExpired."""
    logger = get_run_logger()
    steps = approvals.required_steps(ctx.playbook, update.kind)
    with ctx.session() as session:
        pending = approvals.pending_roles(session=session, update=update, playbook=ctx.playbook)
        regulatory_due = approvals.earliest_open_deadline(session=session, incident_id=ctx.incident.id or 0)
    if not pending:  # the playbook asks nobody for this kind of update (a holding statement)
        _set_state(ctx, update, UpdateState.APPROVED)
        return True
    requested = ctx.clock.now()
    windows = {
        s.role: approvals.window(s, requested_at=requested, regulatory_due=regulatory_due) for s in steps
    }
    _set_state(ctx, update, UpdateState.PENDING_APPROVAL, audit_action="approval.requested")
    _preview(ctx, update, pending, windows)
    for role in pending:
        timers.schedule_escalation(ctx, update, role, at=windows[role].escalate_at)
    expires = max(windows[r].expires_at for r in pending)
    while pending:
        seconds = max(1, int((ctx.clock.wall(expires) - utcnow()).total_seconds()))
        description = (
            f"**{ctx.reference} · update {update.number}** needs approval by: {', '.join(pending)}. "
            f"See the artifact `{artifact_key(ctx.reference, 'update', update.number, 'preview')}` for "
            f"every rendition. Tick *approved* to approve; leave it unticked with a reason to reject."
        )
        try:
            answer = pause_flow_run(
                wait_for_input=ApprovalInput.with_initial_data(
                    description=description, role=pending[0], approver="", approved=False, reason=""
                ),
                timeout=seconds,
                poll_interval=APPROVAL_POLL_SECONDS,
            )
        except FlowPauseTimeout:
            _set_state(ctx, update, UpdateState.REJECTED, audit_action="approval.expired")
            timers.emit(ctx, "clarion.approval.expired", update=update.number, roles=pending)
            raise ApprovalExpired(
                f"{ctx.reference} update {update.number}: no answer from {', '.join(pending)} in time; "
                "nothing was sent"
            ) from None
        problem = approvals.check_answer(ctx.playbook, pending, answer.role, answer.approver)
        if problem is not None:
            logger.warning("approval answer not accepted: %s", problem)
            continue
        if answer.story:
            try:
                update = _edit(ctx, update, answer)
            except ClarionError as exc:  # the edit does not fit a channel: refuse it, keep waiting
                logger.warning("the edit by %s was not applied: %s", answer.approver, exc)
                continue
        elif answer.approved:
            update = _decide(ctx, update, answer, ApprovalDecision.APPROVED)
        else:
            if not answer.reason.strip():
                logger.warning("a rejection needs a reason; the approval is still open")
                continue
            _decide(ctx, update, answer, ApprovalDecision.REJECTED)
            timers.emit(ctx, "clarion.update.rejected", update=update.number, role=answer.role)
            logger.warning("%s rejected update %s: %s", answer.role, update.number, answer.reason)
            return False
        with ctx.session() as session:
            pending = approvals.pending_roles(session=session, update=update, playbook=ctx.playbook)
        logger.info("%s answered; still pending: %s", answer.role, ", ".join(pending) or "nobody")
    update = _refresh_times(ctx, update)
    _set_state(ctx, update, UpdateState.APPROVED)
    return True


def _refresh_times(ctx: IncidentContext, update: Update) -> Update:
    """Re-render an approved draft "as of now" when the approvals took so long that its promise
    would reach people with less than half of its interval left (or already past).

    Only the times change (as of, next update by): the approved words are the same. The audit log
    records the refresh with the old and the new content hash.
    """
    previous = facts_of(update)
    promise = update.next_update_by
    now = ctx.clock.now()
    if previous.next_update_by is not None or promise - now >= (promise - previous.as_of) / 2:
        return update  # an explicit promise stays as given; a fresh enough one needs nothing
    facts = previous.model_copy(update={"as_of": now})
    _redraft(ctx, update, facts)
    refreshed = ctx.update(update.number)
    with ctx.session() as session:
        audit.append(
            session=session,
            actor="clarion",
            action="update.times-refreshed",
            subject=f"{ctx.reference}/update-{update.number}",
            details={
                "approved_hash": update.content_hash,
                "content_hash": refreshed.content_hash,
                "next_update_by": refreshed.next_update_by.isoformat(),
            },
        )
        session.commit()
    get_run_logger().info(
        "%s update %s: approvals took long; times refreshed, next update by %s",
        ctx.reference,
        update.number,
        refreshed.next_update_by.isoformat(),
    )
    return refreshed


def _redraft(ctx: IncidentContext, update: Update, facts: Facts) -> None:
    assert update.id is not None
    redraft_update(
        engine=ctx.engine,
        playbook=ctx.playbook,
        update_id=update.id,
        facts=facts,
        settings=ctx.settings,
        sources=ctx.sources,
    )


def _edit(ctx: IncidentContext, update: Update, answer: ApprovalAnswer) -> Update:
    """Apply an approver's edit to the draft; it counts as their approval of the new text."""
    previous = facts_of(update)
    keep = {"next_update_by": previous.next_update_by.isoformat()} if previous.next_update_by else {}
    facts = next_facts(
        previous, ctx.playbook, as_of=previous.as_of, story=answer.story, changes=keep, source="approval edit"
    )
    _redraft(ctx, update, facts)
    edited = _decide(ctx, update, answer, ApprovalDecision.EDITED)
    with ctx.session() as session:
        pending = approvals.pending_roles(session=session, update=edited, playbook=ctx.playbook)
    _preview(ctx, edited, pending, {})
    return edited


# ── sending ──────────────────────────────────────────────────────────────────────────────────────


@task(name="enqueue", cache_policy=NO_CACHE)
def enqueue(reference: str, update_id: int) -> int:
    """Write one outbox row per message (audiences checked again first); returns how many."""
    ctx = open_context(reference)
    staged = enqueue_update(
        engine=ctx.engine,
        playbook=ctx.playbook,
        update_id=update_id,
        settings=ctx.settings,
        sources=ctx.sources,
    )
    return staged.planned


@task(name="deliver", task_run_name="deliver {channel}", cache_policy=NO_CACHE)
def deliver(reference: str, channel: Channel, worker: str) -> dict[str, int]:
    """Send every due message of one channel (one provider request per batch)."""
    ctx = open_context(reference)
    stats = run_worker(ctx.settings, ctx.engine, name=worker, channels=[channel], threads=2)
    return {"accepted": stats.accepted, "failed": stats.failed, "retried": stats.retried}


def _deliver_all(ctx: IncidentContext, update_id: int, number: int) -> list[dict[str, object]]:
    counts = state_counts(ctx.engine, update_id=update_id)
    channels = sorted({c for (c, s) in counts if s in reports.PENDING}, key=list(Channel).index)
    run_id = flow_run.id or "local"
    progress = cast(
        UUID,
        create_progress_artifact(
            progress=0.0,
            key=artifact_key(ctx.reference, "update", number, "progress"),
            description=f"{ctx.reference} update {number}: messages sent",
        ),
    )
    futures = [
        deliver.submit(ctx.reference, channel, f"flow-{run_id}-{channel.value}") for channel in channels
    ]
    while not all(f.state.is_final() for f in futures):
        done, total = reports.delivery_totals(
            reports.delivery_rows(state_counts(ctx.engine, update_id=update_id))
        )
        update_progress_artifact(
            progress, 100.0 * done / total if total else 100.0, f"{done} of {total} sent"
        )
        time.sleep(0.5)
    for future in futures:
        future.result()  # a channel's bug fails the flow here, after every channel had its go
    rows = reports.delivery_rows(state_counts(ctx.engine, update_id=update_id))
    done, total = reports.delivery_totals(rows)
    update_progress_artifact(progress, 100.0 * done / total if total else 100.0, f"{done} of {total} sent")
    return rows


@flow(name="publish-update", flow_run_name="{reference} · update {update_number} · publish", log_prints=True)
def publish_update(reference: str, update_number: int) -> dict[str, Any]:
    """Approve (when the playbook asks), send on every channel, report, and set the next timers."""
    logger = get_run_logger()
    ctx = open_context(reference)
    update = ctx.update(update_number)
    assert update.id is not None
    if update.state is UpdateState.REJECTED:
        return {"reference": reference, "update": update_number, "state": update.state.value}
    if update.state is not UpdateState.PUBLISHED:
        if not await_approval(ctx, update):
            timers.cancel_escalations(ctx, update_number)
            return {"reference": reference, "update": update_number, "state": UpdateState.REJECTED.value}
        timers.cancel_escalations(ctx, update_number)
        planned = enqueue(reference, update.id)
        logger.info("%s update %s: %s messages in the outbox", reference, update_number, planned)
    rows = _deliver_all(ctx, update.id, update_number)
    create_table_artifact(
        key=artifact_key(reference, "update", update_number, "deliveries"),
        table=rows,
        description=f"{reference} update {update_number}: deliveries per channel",
    )
    ctx.refresh()
    update = ctx.update(update_number)
    with ctx.session() as session:
        met = deadlines.meet_by_update(
            session=session, incident=ctx.incident, update_number=update_number, at=ctx.clock.now()
        )
        session.commit()
        for row in met:
            logger.info("%s: %s/%s met by update %s", reference, row.regime, row.stage, update_number)
        timeline = reports.timeline_markdown(session=session, incident=ctx.incident)
    create_markdown_artifact(
        key=artifact_key(reference, "timeline"), markdown=timeline, description=f"{reference}: timeline"
    )
    timers.schedule_cadence(ctx, update)
    timers.emit(ctx, "clarion.update.published", update=update_number, kind=update.kind.value)
    failed = sum(int(str(r["failed"])) for r in rows)
    return {
        "reference": reference,
        "update": update_number,
        "state": UpdateState.PUBLISHED.value,
        "deliveries": rows,
        "failed": failed,
        "pending": [r["channel"] for r in rows if r["pending"]],
    }
