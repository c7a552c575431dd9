"""Timers as Prefect scheduled runs, and the events clarion emits.

A timer is a flow run of a clarion deployment created now with a ``scheduled_time`` in the future
(``run_deployment(..., timeout=0)``): a row on the Prefect server, so it survives restarts of the
runner, and a runner that was down at the due time runs it late rather than never. Idempotency keys
name the incident (its reference and the moment it was declared: a store started afresh numbers its
incidents from INC-0001 again, and the Prefect server must not hand it the old incident's runs), the
update and the purpose, so scheduling twice creates one run. When an update
supersedes another, the scheduled runs of the older ones are cancelled (and each timer checks the
store when it runs anyway, so one that escaped cancellation does nothing).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import StateType
from prefect.deployments import run_deployment
from prefect.events import emit_event
from prefect.exceptions import ObjectNotFound
from prefect.states import Cancelled

from clarion import audit
from clarion.commitments.record import stored
from clarion.commitments.tracking import checks, is_open
from clarion.incidents.lifecycle import facts_of, timers
from clarion.incidents.maintenance import ahead, window_key
from clarion.models import Update
from clarion.surveys.invites import survey_of
from clarion.surveys.plan import ask_at
from flows.context import IncidentContext
from flows.deployments import (
    APPROVAL_ESCALATION,
    CADENCE_CHECK,
    COMMITMENT_CHECK,
    MAINTENANCE_STEP,
    SEND_SURVEY,
    DeploymentSpec,
)


def emit(ctx: IncidentContext, event: str, **payload: Any) -> None:
    """A Prefect event about the incident (automations can react to it)."""
    emit_event(
        event=event,
        resource={
            "prefect.resource.id": f"clarion.incident.{ctx.reference}",
            "prefect.resource.name": ctx.reference,
            "clarion.incident.reference": ctx.reference,
        },
        payload={"playbook": ctx.playbook.name, **payload},
    )


def schedule(
    ctx: IncidentContext,
    spec: DeploymentSpec,
    parameters: dict[str, Any],
    *,
    at: datetime,
    key: str,
    name: str,
) -> bool:
    """Create the scheduled run; False (and an audit entry) when the deployment is not registered."""
    try:
        run_deployment(
            spec.full_name,
            parameters=parameters,
            scheduled_time=ctx.clock.wall(at),
            flow_run_name=f"{ctx.reference} · {name}",
            timeout=0,
            idempotency_key=f"{ctx.reference}:{ctx.incident.declared_at.isoformat()}:{key}",
            as_subflow=False,
            tags=["clarion", ctx.reference],
        )
    except ObjectNotFound:
        get_run_logger().error(
            "deployment %s is not registered, so the %s timer of %s was not set: run `clarion serve`",
            spec.full_name,
            name,
            ctx.reference,
        )
        with ctx.session() as session:
            audit.append(
                session=session,
                actor="clarion",
                action="timer.unscheduled",
                subject=f"{ctx.reference}/{key}",
                details={"deployment": spec.full_name, "due": at.isoformat()},
            )
            session.commit()
        return False
    return True


def schedule_cadence(ctx: IncidentContext, update: Update) -> None:
    """The reminder and the lapse check of a published update; cancels older updates' timers."""
    cancel_scheduled(ctx, keep=update.number)
    facts = facts_of(update)
    for timer in timers(ctx.playbook, promise=update.next_update_by, published_at=facts.as_of):
        schedule(
            ctx,
            CADENCE_CHECK,
            {"reference": ctx.reference, "update_number": update.number, "phase": timer.phase.value},
            at=timer.at,
            key=f"u{update.number}:{timer.phase.value}",
            name=f"update {update.number} · {timer.phase.value}",
        )


def schedule_maintenance(ctx: IncidentContext, update: Update) -> int:
    """One run per step of the maintenance still ahead of this update (none for other incidents).
    The idempotency key names the window and the step, so every update of the same window schedules
    each step once, and a moved window gets runs of its own."""
    policy = ctx.playbook.maintenance_policy
    facts = facts_of(update)
    if policy is None or facts.maintenance is None or update.status.value == "resolved":
        return 0
    window = window_key(facts.maintenance)
    planned = ahead(policy, facts.maintenance, facts.as_of)
    for step in planned:
        schedule(
            ctx,
            MAINTENANCE_STEP,
            {"reference": ctx.reference, "step": step.step.value, "window": window, "key": step.key},
            at=step.at,
            key=f"maintenance:{window}:{step.key}",
            name=f"maintenance {step.key}",
        )
    return len(planned)


def schedule_survey(ctx: IncidentContext, update: Update) -> bool:
    """A resolution schedules the survey at the playbook's delay (once per incident: none when its
    survey was sent already); an update that reopens the incident cancels the runs not started yet."""
    at = ask_at(ctx.playbook, facts_of(update))
    if at is None:
        if ctx.incident.resolved_at is None:  # never resolved: no survey can be waiting
            return False
        waiting = [r for r in _scheduled_runs(ctx) if "resolution" in r.parameters]
        if cancelled := _cancel(waiting, "the incident was reopened"):
            get_run_logger().info("%s: reopened, %s survey runs cancelled", ctx.reference, cancelled)
        return False
    with ctx.session() as session:
        if survey_of(session, ctx.incident.id or 0) is not None:
            return False
    return schedule(
        ctx,
        SEND_SURVEY,
        {"reference": ctx.reference, "resolution": update.number},
        at=at,
        key=f"u{update.number}:survey",
        name="survey",
    )


def schedule_commitments(ctx: IncidentContext) -> int:
    """The reminder and the overdue check of every open commitment (once per commitment and day)."""
    with ctx.session() as session:
        rows = [row for row in stored(session, ctx.incident.id or 0).values() if is_open(row)]
    lead = ctx.playbook.commitments.remind_before
    for row in rows:
        for phase, at in checks(row, lead):
            schedule(
                ctx,
                COMMITMENT_CHECK,
                {
                    "reference": ctx.reference,
                    "key": row.key,
                    "phase": phase.value,
                    "due": row.due_on.isoformat(),
                },
                at=at,
                key=f"commitment:{row.key}:{row.due_on.isoformat()}:{phase.value}",
                name=f"commitment {row.key} · {phase.value}",
            )
    return len(rows)


def schedule_escalation(ctx: IncidentContext, update: Update, role: str, *, at: datetime) -> None:
    schedule(
        ctx,
        APPROVAL_ESCALATION,
        {"reference": ctx.reference, "update_number": update.number, "role": role},
        at=at,
        key=f"u{update.number}:escalate:{role}",
        name=f"update {update.number} · escalate {role}",
    )


def _scheduled_runs(ctx: IncidentContext) -> list[Any]:
    with get_client(sync_client=True) as client:
        return list(
            client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    tags=FlowRunFilterTags(all_=[ctx.reference]),
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
                )
            )
        )


def _cancel(runs: list[Any], message: str) -> int:
    with get_client(sync_client=True) as client:
        for run in runs:
            client.set_flow_run_state(run.id, Cancelled(message=message), force=True)
    return len(runs)


def cancel_scheduled(ctx: IncidentContext, *, keep: int) -> int:
    """Cancel the scheduled cadence timers of every update but ``keep``: the latest supersedes them."""
    runs = [
        r
        for r in _scheduled_runs(ctx)
        if "phase" in r.parameters and int(r.parameters.get("update_number", keep)) != keep
    ]
    return _cancel(runs, f"superseded by update {keep}")


def cancel_escalations(ctx: IncidentContext, update_number: int) -> int:
    """The approval of ``update_number`` is over: its escalation timers have nothing left to do."""
    runs = [
        r
        for r in _scheduled_runs(ctx)
        if "role" in r.parameters and int(r.parameters.get("update_number", -1)) == update_number
    ]
    return _cancel(runs, "the approval was answered")
