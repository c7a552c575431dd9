"""Timers that act when they come due: the cadence check and the approval escalation.

Both are scheduled by the publish subflow as future runs of their deployments. Each one first asks
the store whether it still has something to do (a newer update supersedes a cadence timer; an
answered approval ends an escalation), so a late run, or one that escaped cancellation, is safe.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from clarion import audit
from clarion.errors import ClarionError
from clarion.incidents import approvals
from clarion.incidents.lifecycle import Action, Phase, cadence_action, facts_of, holding_facts
from clarion.kinds import UpdateKind, UpdateState
from clarion.models import Incident, utcnow
from clarion.responders import notices, who
from clarion.updates.publish import draft_update
from clarion.updates.render import Renderer
from flows import inside, timers
from flows.context import IncidentContext, open_context
from flows.publish import publish_update


def _audit(ctx: IncidentContext, action: str, subject: str, **details: Any) -> None:
    with ctx.session() as session:
        audit.append(
            session=session,
            actor="clarion",
            action=action,
            subject=f"{ctx.reference}/{subject}",
            details=details,
        )
        session.commit()


@task(name="draft holding statement", cache_policy=NO_CACHE)
def draft_holding(reference: str, update_number: int) -> int:
    """A holding statement from the last update's facts; returns its number."""
    ctx = open_context(reference)
    previous = ctx.update(update_number)
    renderer = Renderer(
        ctx.playbook, ctx.settings.templates_dir, sms_max_segments=ctx.settings.sms_max_segments
    )
    phrases = {locale: renderer.locale_text(locale).holding for locale in ctx.playbook.locales}
    # as of the lapsed promise, or now when the timer ran late: never before what was promised
    as_of = max(ctx.clock.now(), previous.next_update_by)
    facts = holding_facts(facts_of(previous), phrases=phrases, as_of=as_of)
    return draft_update(
        engine=ctx.engine,
        playbook=ctx.playbook,
        facts=facts,
        settings=ctx.settings,
        sources=ctx.sources,
        kind=UpdateKind.HOLDING,
        state=UpdateState.DRAFT,
        renderer=renderer,
    ).number


@flow(name="cadence-check", flow_run_name="{reference} · update {update_number} · {phase}", log_prints=True)
def cadence_check(reference: str, update_number: int, phase: Phase) -> str:
    """Remind the commander before the promised update; publish a holding statement when it lapsed."""
    logger = get_run_logger()
    ctx = open_context(reference)
    with ctx.session() as session:
        incident = session.get(Incident, ctx.incident.id)
        assert incident is not None
        action = cadence_action(
            session=session,
            incident=incident,
            update_number=update_number,
            phase=phase,
            playbook=ctx.playbook,
        )
    update = ctx.update(update_number)
    due = update.next_update_by.isoformat()
    late = (utcnow() - ctx.clock.wall(update.next_update_by)).total_seconds()
    if action is Action.NOTHING:
        logger.info("%s: update %s was superseded; nothing to do", reference, update_number)
    elif action is Action.REMIND:
        _audit(ctx, "cadence.reminder", f"update-{update_number}", due=due, commander=ctx.incident.commander)
        timers.emit(
            ctx,
            "clarion.incidents.cadence.reminder",
            update=update_number,
            due=due,
            commander=ctx.incident.commander,
        )
        inside.tell(
            ctx,
            notices.REMINDER,
            f"update-{update_number}",
            [ctx.incident.commander or ""],
            title=ctx.incident.title,
            update=update_number,
            due=inside.when(update.next_update_by),
            command=f"clarion update {reference} --facts <facts.yaml>",
        )
        logger.warning(
            "%s: the next update is promised by %s; %s, please post it (`clarion update %s`)",
            reference,
            due,
            ctx.incident.commander or "commander",
            reference,
        )
    elif action is Action.HOLD:
        try:
            number = draft_holding(reference, update_number)
        except ClarionError as exc:  # e.g. the holding wording does not fit a channel: say so loudly
            _lapsed(ctx, update_number, due, late, holding=False, problem=str(exc))
            return Action.ESCALATE.value
        published = publish_update(reference, number, holding_for=update_number)
        if published["state"] != "published":  # another update went out meanwhile: it kept the promise
            logger.info("%s: holding statement %s superseded; nothing more to do", reference, number)
            return Action.NOTHING.value
        _lapsed(ctx, update_number, due, late, holding=True)
        logger.warning("%s: promise of %s lapsed; holding statement %s published", reference, due, number)
    else:
        _lapsed(ctx, update_number, due, late, holding=False)
    return action.value


def _lapsed(
    ctx: IncidentContext,
    update_number: int,
    due: str,
    late: float,
    *,
    holding: bool,
    problem: str | None = None,
) -> None:
    details: dict[str, Any] = {"due": due, "late_seconds": round(late), "holding": holding}
    if problem is not None:
        details["problem"] = problem
    _audit(ctx, "cadence.lapsed", f"update-{update_number}", **details)
    inside.tell(  # the lapse is escalated: the commander, the approvers and their backups hear of it
        ctx,
        notices.LAPSE,
        f"update-{update_number}",
        who.everyone(ctx.playbook, ctx.incident.commander, escalate=True),
        title=ctx.incident.title,
        update=update_number,
        due=inside.when(ctx.update(update_number).next_update_by),
        holding=holding,
        problem=problem or "",
        command=f"clarion update {ctx.reference} --facts <facts.yaml>",
    )
    if not holding:
        timers.emit(ctx, "clarion.incidents.cadence.lapsed", update=update_number, **details)
        get_run_logger().error(
            "%s: the promise of %s lapsed and no holding statement went out%s: post an update",
            ctx.reference,
            due,
            f" ({problem})" if problem else "",
        )


@flow(name="approval-escalation", flow_run_name="{reference} · update {update_number} · escalate {role}")
def approval_escalation(reference: str, update_number: int, role: str) -> bool:
    """Tell the backup approver when ``role`` has not answered half-way through its window."""
    logger = get_run_logger()
    ctx = open_context(reference)
    update = ctx.update(update_number)
    with ctx.session() as session:
        pending = approvals.pending_roles(session=session, update=update, playbook=ctx.playbook)
    if update.state is not UpdateState.PENDING_APPROVAL or role not in pending:
        logger.info("%s update %s: %s has answered; no escalation", reference, update_number, role)
        return False
    step = next(s for s in ctx.playbook.approvals if s.role == role)
    backup = step.backup or ", ".join(step.approvers)
    inside.tell(
        ctx,
        notices.ESCALATION,
        f"update-{update_number}/{role}",
        who.backups(ctx.playbook, [role]),
        title=ctx.incident.title,
        update=update_number,
        role=role,
        approvers=", ".join(step.approvers),
        command=f"clarion approve {reference} --as {role}",
        ui_url="",
    )
    _audit(ctx, "approval.escalated", f"update-{update_number}", role=role, backup=backup)
    timers.emit(ctx, "clarion.approval.escalated", update=update_number, role=role, backup=backup)
    logger.warning(
        "%s update %s still needs %s's approval: escalated to %s (`clarion approve %s --as %s --by %s`)",
        reference,
        update_number,
        role,
        backup,
        reference,
        role,
        backup,
    )
    return True
