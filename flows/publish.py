"""The publish subflow: approval gate, outbox, one delivery task per channel, artifacts, timers.

Every parent flow (declare, update, resolve, holding statement) drafts an update and hands its
number to :func:`publish_update`, which

1. asks the playbook's approvers when the update's kind needs them: a markdown artifact previews
   every rendition, the run pauses for an :class:`ApprovalInput` whose defaults approve nothing,
   and an escalation run is scheduled half-way through each role's window;
2. writes the outbox rows (one task) and sends them with one task per channel, while a progress
   artifact counts what has been accepted;
3. publishes the delivery table and the incident's timeline (and, with the resolution, the
   post-incident report), and schedules the cadence timers (reminder and lapse) as Prefect runs,
   cancelling the ones this update supersedes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from sqlmodel import col, select

from channels.delivery import request_preparation
from clarion import audit
from clarion.compliance import deadlines
from clarion.errors import ClarionError
from clarion.facts import Facts
from clarion.incidents import approvals, reports
from clarion.incidents.approvals import Verdict
from clarion.incidents.lifecycle import facts_of, next_facts, published_since, superseded_by
from clarion.kinds import ApprovalDecision, UpdateKind, UpdateState
from clarion.models import AuditEvent, Incident, Rendition, Update, utcnow
from clarion.responders import notices, who
from clarion.responders.notices import preview_of
from clarion.updates.publish import enqueue_update, redraft_update
from flows import inside, timers
from flows.context import IncidentContext, open_context
from flows.delivery import DeliveryIncomplete, artifact_key, deliver_update, report_incomplete, table
from flows.models import ApprovalAnswer
from flows.review import report_artifact
from flows.statuspage import refresh_export

APPROVAL_POLL_SECONDS = 1
"""How often the paused run asks whether it was answered (Prefect's default is 10 s): the last
approval waits half of it on average before anything is sent. One small read a second per paused run."""
REQUESTED = "approval.requested"


class ApprovalInput(RunInput, ApprovalAnswer):
    """The approval form the paused run shows (Prefect needs a RunInput)."""


class ApprovalExpired(ClarionError):
    """Nobody answered an approval before its window closed: nothing was sent."""


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


def _superseded(ctx: IncidentContext, update: Update, base: int | None) -> bool:
    """Reject a holding statement when another update went out since (its facts are stale): since
    ``base``, the update whose promise lapsed, or since the holding statement was drafted. The second
    holds without ``base`` (a run started again for a pending approval carries none)."""
    if update.kind is not UpdateKind.HOLDING and base is None:
        return False
    with ctx.session() as session:
        newer = (
            None
            if base is None
            else superseded_by(session=session, incident_id=ctx.incident.id or 0, base=base)
        )
        if newer is None and update.kind is UpdateKind.HOLDING:
            newer = published_since(session=session, holding=update)
    if newer is None:
        return False
    _set_state(ctx, update, UpdateState.REJECTED, audit_action="update.superseded")
    get_run_logger().warning(
        "%s: holding statement %s not sent: update %s went out since",
        ctx.reference,
        update.number,
        newer.number,
    )
    return True


def _requested_at(ctx: IncidentContext, update: Update) -> datetime | None:
    """When the pending approval of ``update`` was asked for (incident time), from the audit log."""
    with ctx.session() as session:
        asked = session.exec(
            select(AuditEvent)
            .where(
                AuditEvent.subject == f"{ctx.reference}/update-{update.number}",
                AuditEvent.action == REQUESTED,
            )
            .order_by(col(AuditEvent.id).desc())
            .limit(1)
        ).first()
    when = asked.details.get("requested_at") if asked is not None else None
    return datetime.fromisoformat(when) if isinstance(when, str) else None


def _set_state(
    ctx: IncidentContext,
    update: Update,
    state: UpdateState,
    *,
    audit_action: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
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
                details={"content_hash": row.content_hash, **(details or {})},
            )
        session.commit()


def _request_approvals(
    ctx: IncidentContext, update: Update, pending: list[str], windows: dict[str, approvals.Window]
) -> None:
    """Tell each pending role's approvers that the update waits for them: the preview, the command,
    the Prefect UI link. Sent once per update and role, however often this run is retried."""
    assert update.id is not None
    preview = preview_of(_renditions(ctx, update.id), ctx.playbook.default_locale)
    for role in pending:
        inside.tell(
            ctx,
            notices.APPROVAL,
            f"update-{update.number}/{role}",
            who.approvers(ctx.playbook, [role]),
            **notices.approval_params(
                reference=ctx.reference,
                title=ctx.incident.title,
                update=update.number,
                role=role,
                preview=preview,
                ui_url=inside.ui_url(),
                expires=inside.when(windows[role].expires_at),
            ),
        )


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
    requested = _requested_at(ctx, update) if update.state is UpdateState.PENDING_APPROVAL else None
    if requested is None:
        requested = ctx.clock.now()
        _set_state(
            ctx,
            update,
            UpdateState.PENDING_APPROVAL,
            audit_action=REQUESTED,
            details={"requested_at": requested.isoformat()},
        )
    else:  # a new run after the first was stopped (flows.recovery): the same request, its windows kept
        logger.info("%s update %s: still waiting for %s", ctx.reference, update.number, ", ".join(pending))
    windows = {
        s.role: approvals.window(s, requested_at=requested, regulatory_due=regulatory_due) for s in steps
    }
    _preview(ctx, update, pending, windows)
    for role in pending:
        timers.schedule_escalation(ctx, update, role, at=windows[role].escalate_at)
    _request_approvals(ctx, update, pending, windows)
    expires = max(windows[r].expires_at for r in pending)
    while pending:
        seconds = max(1, int((ctx.clock.wall(expires) - utcnow()).total_seconds()))
        description = (
            f"**{ctx.reference} · update {update.number}** needs approval by: {', '.join(pending)}. "
            f"See the artifact `{artifact_key(ctx.reference, 'update', update.number, 'preview')}` for "
            f"every rendition. Tick *approved* to approve; leave it unticked with a reason to reject. "
            "The approver you name is recorded as asserted by you, not verified."
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
        decision = approvals.decide(
            ctx.playbook,
            pending,
            role=answer.role,
            approver=answer.approver,
            approved=answer.approved,
            reason=answer.reason,
            edited=bool(answer.story),
        )
        if decision.verdict is Verdict.REFUSED:
            logger.warning("approval answer not accepted: %s; the approval is still open", decision.problem)
            continue
        if decision.verdict is Verdict.EDIT:
            try:
                update = _edit(ctx, update, answer)
            except ClarionError as exc:  # the edit does not fit a channel: refuse it, keep waiting
                logger.warning("the edit by %s was not applied: %s", answer.approver, exc)
                continue
        elif decision.verdict is Verdict.APPROVE:
            update = _decide(ctx, update, answer, ApprovalDecision.APPROVED)
        else:
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
        preparation=request_preparation(ctx.settings),
    )
    return staged.planned


@flow(name="publish-update", flow_run_name="{reference} · update {update_number} · publish", log_prints=True)
def publish_update(reference: str, update_number: int, holding_for: int | None = None) -> dict[str, Any]:
    """Approve (when the playbook asks), send on every channel, report, and set the next timers.

    ``holding_for``: the update whose lapsed promise this holding statement keeps; if another update
    went out since, the holding statement is stale and is rejected instead of sent."""
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
        if _superseded(ctx, update, holding_for):
            return {"reference": reference, "update": update_number, "state": UpdateState.REJECTED.value}
        planned = enqueue(reference, update.id)
        logger.info("%s update %s: %s messages in the outbox", reference, update_number, planned)
    delivered = deliver_update(ctx, update.id, update_number)
    table(ctx, update_number, delivered)
    if not delivered.complete:  # said now, retried later; the rest of the publish goes on regardless
        report_incomplete(ctx, update_number, delivered, attempt=1)
    rows = delivered.rows
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
    timers.schedule_maintenance(ctx, update)
    timers.schedule_survey(ctx, update)
    timers.schedule_commitments(ctx)
    if update.kind is UpdateKind.RESOLUTION:  # the record of how it was told; never a reason to fail
        made = report_artifact(reference, return_state=True)
        if made.is_failed():
            logger.error(
                "%s: the post-incident report artifact failed (%s); `clarion report %s` gives it",
                reference,
                made.message,
                reference,
            )
    if ctx.settings.statuspage_export_dir is not None:
        refresh_export(reference)
    timers.emit(ctx, "clarion.update.published", update=update_number, kind=update.kind.value)
    if delivered.failures:
        raise DeliveryIncomplete(
            f"{reference} update {update_number} is published but not fully sent: "
            + "; ".join(f"{c}: {why}" for c, why in delivered.failures.items())
            + " (a retry-delivery run is scheduled; `clarion outbox work` sends what is left now)"
        )
    failed = sum(int(str(r["failed"])) for r in rows)
    return {
        "reference": reference,
        "update": update_number,
        "state": UpdateState.PUBLISHED.value,
        "deliveries": rows,
        "failed": failed,
        "pending": [r["channel"] for r in rows if r["pending"]],
    }
