"""Watching regulatory clocks: a check at 50 %, 75 % and 90 % of each window and at the deadline.

``watch-deadlines`` checks every open clock of an incident now (catching up on thresholds already
passed), schedules a ``deadline-check`` run at each threshold still ahead, and publishes the countdown
artifact. The declare flow runs it when the clocks start; the CLI starts it after anything that
starts or moves a clock (an event, a submission, an override). Each ``deadline-check`` asks the store
first, so a run for a clock met, waived or moved since it was scheduled does nothing; the idempotency
key names the due time, so a moved clock gets runs of its own.

A crossed threshold writes the audit log and emits ``clarion.deadline.at-risk`` naming the commander
and the approvers to tell; the deadline itself emits ``clarion.deadline.missed`` and escalates to the
approvers' backups as well: a missed clock is never silent.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from clarion.compliance import deadlines
from clarion.compliance.deadlines import THRESHOLDS, Crossing, threshold_time
from clarion.incidents.reports import countdown_markdown, time_left
from clarion.kinds import DeadlineState
from clarion.models import Deadline, Incident
from clarion.responders import notices, who
from flows import inside, timers
from flows.context import IncidentContext, open_context
from flows.delivery import artifact_key
from flows.deployments import DEADLINE_CHECK


def _tell(ctx: IncidentContext, crossing: Crossing) -> None:
    row, missed = crossing.row, crossing.state is DeadlineState.MISSED
    to = who.everyone(ctx.playbook, ctx.incident.commander, escalate=missed)
    payload: dict[str, Any] = {
        "regime": row.regime,
        "stage": row.stage,
        "recipient": row.recipient,
        "threshold": crossing.threshold,
        "due": row.due_at.isoformat(),
        "notify": to,
    }
    logger = get_run_logger()
    command = f"clarion notify-regulator {ctx.reference} --regime {row.regime} --stage {row.stage}"
    inside.tell(  # a missed deadline buzzes phones too
        ctx,
        notices.DEADLINE,
        f"{row.regime}/{row.stage}/{int(row.due_at.timestamp())}/{100 if missed else crossing.threshold}",
        to,
        urgent=missed,
        regime=row.regime,
        stage=row.stage,
        recipient=row.recipient,
        due=inside.when(row.due_at),
        threshold=crossing.threshold,
        missed=missed,
        left=time_left(row.due_at - ctx.clock.now()),
        command=command,
    )
    if missed:
        with ctx.session() as session:
            deadlines.escalate(session=session, incident=ctx.incident, row=row, to=to)
            session.commit()
        timers.emit(ctx, "clarion.deadline.missed", **payload, escalated=True)
        logger.error(
            "%s: %s/%s was due %s and no submission is recorded; escalated to %s (`%s`)",
            ctx.reference,
            row.regime,
            row.stage,
            row.due_at.isoformat(),
            ", ".join(to),
            command,
        )
    else:
        left = time_left(row.due_at - ctx.clock.now())
        timers.emit(ctx, "clarion.deadline.at-risk", **payload, left=left)
        logger.warning(
            "%s: %s%% of %s/%s has passed, %s left (due %s); telling %s (`%s`)",
            ctx.reference,
            crossing.threshold,
            row.regime,
            row.stage,
            left,
            row.due_at.isoformat(),
            ", ".join(to),
            command,
        )


def _check_all(ctx: IncidentContext, rows: list[Deadline]) -> list[Crossing]:
    """Check ``rows`` now, in one transaction; tell about every crossing found."""
    now = ctx.clock.now()
    with ctx.session() as session:
        incident = session.get(Incident, ctx.incident.id)
        assert incident is not None
        crossings = []
        for row in rows:
            fresh = session.get(Deadline, row.id)
            assert fresh is not None
            crossing = deadlines.check(session=session, incident=incident, row=fresh, now=now)
            if crossing is not None:
                crossings.append(crossing)
        session.commit()
    for crossing in crossings:
        _tell(ctx, crossing)
    return crossings


def _countdown(ctx: IncidentContext) -> None:
    now = ctx.clock.now()
    with ctx.session() as session:
        incident = session.get(Incident, ctx.incident.id)
        assert incident is not None
        faces = deadlines.clockfaces(session=session, incident=incident, now=now)
        markdown = countdown_markdown(incident, faces, now=now)
    create_markdown_artifact(
        key=artifact_key(ctx.reference, "deadlines"),
        markdown=markdown,
        description=f"{ctx.reference}: regulatory deadlines",
    )


def watch(ctx: IncidentContext) -> int:
    """Check the incident's open clocks now and schedule the thresholds still ahead; returns how
    many checks were scheduled."""
    with ctx.session() as session:
        incident = session.get(Incident, ctx.incident.id)
        assert incident is not None
        rows = deadlines.open_rows(session, incident)
    _check_all(ctx, rows)
    now, scheduled = ctx.clock.now(), 0
    for row in rows:
        for percent in THRESHOLDS:
            at = threshold_time(row, percent)
            if at <= now:  # passed: the check above has told about it
                continue
            scheduled += timers.schedule(
                ctx,
                DEADLINE_CHECK,
                {"reference": ctx.reference, "regime": row.regime, "stage": row.stage},
                at=at,
                key=f"deadline:{row.regime}:{row.stage}:{int(row.due_at.timestamp())}:{percent}",
                name=f"{row.regime}/{row.stage} · {percent}%",
            )
    _countdown(ctx)
    return scheduled


@flow(name="watch-deadlines", flow_run_name="{reference} · deadlines")
def watch_deadlines(reference: str) -> int:
    """Check an incident's regulatory clocks now and schedule a check at each threshold ahead."""
    return watch(open_context(reference))


@flow(name="deadline-check", flow_run_name="{reference} · {regime}/{stage}")
def deadline_check(reference: str, regime: str, stage: str) -> str:
    """Check one clock at a threshold: tell the commander and approvers, escalate when missed."""
    ctx = open_context(reference)
    with ctx.session() as session:
        incident = session.get(Incident, ctx.incident.id)
        assert incident is not None
        row = deadlines.find(session, incident, regime, stage)
    crossings = _check_all(ctx, [row])
    _countdown(ctx)
    if not crossings:
        get_run_logger().info("%s %s/%s: nothing new to tell", reference, regime, stage)
        return "nothing"
    return crossings[0].state.value
