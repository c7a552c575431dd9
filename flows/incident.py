"""The incident commander's flows: declare, post an update, resolve.

Each drafts one update (every audience row checked, every rendition rendered and preflighted,
nothing sent) in a task, renames its run after the incident (``INC-0042 · update 3``), and hands
the update to the :func:`~flows.publish.publish_update` subflow.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.runtime import flow_run
from sqlmodel import Session

from clarion.audiences.sources import playbook_sources
from clarion.commitments import record as commitments
from clarion.facts import Facts
from clarion.incidents.clock import IncidentClock
from clarion.incidents.lifecycle import (
    check_fit,
    facts_of,
    first_facts,
    latest_published,
    latest_update,
    next_facts,
    open_incident,
)
from clarion.kinds import IncidentStatus, UpdateKind, UpdateState
from clarion.models import utcnow
from clarion.updates.publish import check_draft, draft_update
from flows.context import IncidentContext, load_playbook_named, open_context, store
from flows.deadlines import watch
from flows.models import Declaration, UpdateKindChoice, UpdateRequest
from flows.publish import publish_update


def _rename(name: str) -> None:
    """Give the current run the incident's name, once the flow knows it."""
    run_id = flow_run.id
    if run_id is None:
        return
    with get_client(sync_client=True) as client:
        client.update_flow_run(run_id, name=name)


@task(name="draft", cache_policy=NO_CACHE)
def draft(reference: str, facts: Facts, kind: UpdateKind) -> int:
    """Check, render and store the update as a draft; returns its number."""
    ctx = open_context(reference)
    return draft_update(
        engine=ctx.engine,
        playbook=ctx.playbook,
        facts=facts,
        settings=ctx.settings,
        sources=ctx.sources,
        kind=kind,
        state=UpdateState.DRAFT,
        commander=ctx.incident.commander,
    ).number


@task(name="watch deadlines", cache_policy=NO_CACHE)
def watch_clocks(reference: str) -> int:
    """Check the regulatory clocks the declaration started and schedule their thresholds."""
    return watch(open_context(reference))


@flow(name="declare-incident", flow_run_name="declare · {declaration.playbook}", log_prints=True)
def declare_incident(declaration: Declaration) -> dict[str, Any]:
    """Declare an incident from a playbook and facts: draft, approve, publish to every channel."""
    settings, engine = store()
    playbook, path = load_playbook_named(declaration.playbook, settings)
    given = declaration.facts
    provisional = given.complete(reference=given.reference or "INC-0000", as_of=utcnow())
    check_fit(provisional, playbook, "declaration")
    commitments.check(
        provisional.commitments, {}, today=provisional.as_of.astimezone(UTC).date(), source="declaration"
    )
    # Every audience and rendition is checked before the incident exists: a declaration that could
    # not draft its first update must not leave an incident behind that cannot be declared again.
    check_draft(
        playbook=playbook,
        facts=provisional,
        settings=settings,
        sources=playbook_sources(playbook, path, settings),
    )
    with Session(engine, expire_on_commit=False) as session:
        incident = open_incident(
            session=session,
            playbook=playbook,
            reference=given.reference,
            title=given.title,
            severity=given.severity,
            status=given.status,
            aware_at=given.aware_at,
            started_at=given.started_at,
            commander=declaration.commander,
            jurisdictions=declaration.jurisdictions,
            declared_facts=given.model_dump(mode="json", exclude_none=True),
        )
        session.commit()
    watching = watch_clocks(incident.reference, return_state=True)
    if watching.is_failed():  # the first update must not wait for the watcher; say so loudly instead
        get_run_logger().error(
            "%s: the regulatory clocks started but are not watched (%s): run `clarion deadline-watch %s`",
            incident.reference,
            watching.message,
            incident.reference,
        )
    clock = IncidentClock(incident.declared_at, settings.time_scale)
    facts = declaration.facts.complete(reference=incident.reference, as_of=clock.now())
    _rename(f"{incident.reference} · update 1")
    number = draft(incident.reference, facts, UpdateKind.INITIAL)
    return publish_update(incident.reference, number)


def _next(ctx: IncidentContext, request: UpdateRequest, *, status: IncidentStatus | None) -> Facts:
    """The previous update's facts with the request's changes; before any update was published (the
    first one failed or was rejected), the declaration's facts: this is then the first update."""
    with ctx.session() as session:
        previous = latest_published(session=session, incident_id=ctx.incident.id or 0)
    base = facts_of(previous) if previous is not None else first_facts(ctx.incident, as_of=ctx.clock.now())
    return next_facts(
        base,
        ctx.playbook,
        as_of=ctx.clock.now(),
        status=status or request.status,
        severity=request.severity,
        story=request.story,
        changes=request.changes,
        source=f"{ctx.reference} update",
    )


def _post(request: UpdateRequest, kind: UpdateKind, status: IncidentStatus | None) -> dict[str, Any]:
    ctx = open_context(request.reference)
    facts = _next(ctx, request, status=status)
    with ctx.session() as session:
        if latest_published(session=session, incident_id=ctx.incident.id or 0) is None:
            kind = UpdateKind.INITIAL if kind is UpdateKind.UPDATE else kind
        last = latest_update(session=session, incident_id=ctx.incident.id or 0)
    _rename(f"{ctx.reference} · update {(last.number if last else 0) + 1}")
    number = draft(ctx.reference, facts, kind)
    return publish_update(ctx.reference, number)


@flow(name="post-update", flow_run_name="{request.reference} · update", log_prints=True)
def post_update(request: UpdateRequest, kind: UpdateKindChoice = UpdateKindChoice.UPDATE) -> dict[str, Any]:
    """Publish the next update of an incident: what changed since the last one."""
    return _post(request, UpdateKind(kind.value), None)


@flow(name="resolve-incident", flow_run_name="{request.reference} · resolve", log_prints=True)
def resolve_incident(request: UpdateRequest) -> dict[str, Any]:
    """Publish the resolution: status resolved, banner cleared, cadence stepped down."""
    return _post(request, UpdateKind.RESOLUTION, IncidentStatus.RESOLVED)
