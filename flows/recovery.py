"""Pending approvals that lost their run: picked up again by a new publish run.

An update waiting for approval is held by a paused publish run. Stopping ``clarion serve`` (or a
worker) cancels that run ("Runner is shutting down"), and with it the only thing a ``clarion approve``
or the UI's Resume could answer. The store still says ``pending approval`` and keeps every answer
already given, so nothing is lost but the waiting: :func:`readopt_approvals` (run by every outbox
sweep, once a minute) finds each such update with no live publish run and starts one of the
``internal: publish an update`` deployment. That run asks only the roles still pending, keeps the
original request's time (its windows do not restart), sends no second request to approvers who were
already asked, and pauses for the answer like the first one did.

A run counts as live while it is scheduled, pending, running or paused. To abandon a pending update,
reject it (``clarion approve --reject``); a cancelled run alone is taken for an interrupted one.
"""

from __future__ import annotations

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterName,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from clarion import audit
from clarion.kinds import UpdateState
from clarion.models import AuditEvent, Incident, Update
from flows import timers
from flows.context import open_context
from flows.deployments import PUBLISH_UPDATE

LIVE = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.PAUSED, StateType.CANCELLING]
READOPTED = "approval.readopted"


def run_name(reference: str, number: int) -> str:
    """What a publish run of this update is called (the flow's ``flow_run_name``)."""
    return f"{reference} · update {number} · publish"


def pending_updates(engine: Engine) -> list[tuple[str, int]]:
    """(reference, update number) of every update waiting for approval."""
    with Session(engine) as session:
        rows = session.exec(
            select(Incident.reference, Update.number)
            .join(Incident, col(Incident.id) == col(Update.incident_id))
            .where(Update.state == UpdateState.PENDING_APPROVAL)
            .order_by(col(Update.id))
        ).all()
    return [(reference, number) for reference, number in rows]


def _live(names: list[str]) -> set[str]:
    if not names:
        return set()
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                name=FlowRunFilterName(any_=names),
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=LIVE)),
            )
        )
    return {run.name for run in runs}


def readopt_approvals(engine: Engine) -> list[str]:
    """Start a publish run for every pending approval that no live run holds; returns their names."""
    pending = pending_updates(engine)
    live = _live([run_name(reference, number) for reference, number in pending])
    started: list[str] = []
    for reference, number in pending:
        name = run_name(reference, number)
        if name in live:
            continue
        ctx = open_context(reference)
        subject = f"{reference}/update-{number}"
        with ctx.session() as session:
            before = session.exec(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.subject == subject, AuditEvent.action == READOPTED)
            ).one()
        scheduled = timers.schedule(
            ctx,
            PUBLISH_UPDATE,
            {"reference": reference, "update_number": number},
            at=ctx.clock.now(),
            key=f"update-{number}/readopt-{before + 1}",
            name=f"update {number} · publish",
        )
        if not scheduled:
            continue
        with ctx.session() as session:
            audit.append(session=session, actor="clarion", action=READOPTED, subject=subject, details={})
            session.commit()
        get_run_logger().warning(
            "%s update %s waits for approval but no run held it (was the runner stopped?): "
            "a new publish run takes the answers",
            reference,
            number,
        )
        started.append(name)
    return started
