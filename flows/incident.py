"""The incident commander's flows: declare, post an update, resolve.

Each drafts one update (every audience row checked, every rendition rendered and preflighted,
nothing sent) in a task, renames its run after the incident (``INC-0042 · update 3``), and hands
the update to the :func:`~flows.publish.publish_update` subflow.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.runtime import flow_run
from sqlmodel import Session

from clarion import audit
from clarion.audiences.sources import playbook_sources
from clarion.commitments import record as commitments
from clarion.errors import InputError, Problem
from clarion.facts import Facts
from clarion.incidents import acknowledgement
from clarion.incidents.clock import IncidentClock
from clarion.incidents.lifecycle import (
    acknowledged_only,
    check_fit,
    facts_of,
    first_facts,
    latest_told,
    latest_update,
    next_facts,
    open_declared,
    open_incident,
)
from clarion.kinds import IncidentStatus, UpdateKind, UpdateState
from clarion.models import utcnow
from clarion.updates.publish import check_draft, draft_update
from flows.context import IncidentContext, load_playbook_named, open_context, store
from flows.deadlines import watch
from flows.models import Declaration, ShortDeclaration, UpdateKindChoice, UpdateRequest
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


def acknowledge(reference: str) -> dict[str, Any]:
    """Publish the acknowledgement: no approval (its words are the playbook's), its channels only."""
    _rename(f"{reference} · acknowledgement")
    ctx = open_context(reference)
    facts = acknowledgement.of_incident(ctx.incident, ctx.playbook, ctx.settings, as_of=ctx.clock.now())
    return publish_update(reference, draft(reference, facts, UpdateKind.ACKNOWLEDGEMENT))


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
    if playbook.acknowledgement is not None:
        acknowledgement.check(provisional, playbook, settings)
    with Session(engine, expire_on_commit=False) as session:
        acknowledged = given.reference and acknowledged_only(
            session=session, reference=given.reference, playbook=playbook
        )
        incident = acknowledged or open_declared(
            session=session,
            playbook=playbook,
            facts=given,
            commander=declaration.commander,
            jurisdictions=declaration.jurisdictions,
        )
        session.commit()
    if not acknowledged and playbook.acknowledgement is not None:
        acknowledge(incident.reference)
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
    with Session(engine) as session:
        last = latest_update(session=session, incident_id=incident.id or 0)
    _rename(f"{incident.reference} · update {(last.number if last else 0) + 1}")
    number = draft(incident.reference, facts, UpdateKind.INITIAL)
    return publish_update(incident.reference, number)


@flow(
    name="declare-incident-short", flow_run_name="declare · {declaration.playbook} · short", log_prints=True
)
def declare_incident_short(declaration: ShortDeclaration) -> dict[str, Any]:
    """Declare with five fields: open the incident and publish the playbook's acknowledgement; the first
    full update follows with `post an update` (the facts file's story, breach facts, commitments)."""
    settings, engine = store()
    playbook, _ = load_playbook_named(declaration.playbook, settings)
    words = acknowledgement.wording(playbook, settings)

    def facts_for(reference: str, as_of: datetime) -> Facts:
        return acknowledgement.short_form_facts(
            playbook,
            words,
            reference=reference,
            title=declaration.title,
            severity=declaration.severity,
            components=declaration.components,
            as_of=as_of,
            status_page_url=f"{str(settings.public_url).rstrip('/')}/incidents/{reference}",
        )

    if declaration.severity not in playbook.severities:
        known = ", ".join(playbook.severities)
        message = f"{declaration.severity!r} is not one of {known} (playbook {playbook.name})"
        raise InputError([Problem("short form", None, "severity", message)])
    provisional = facts_for("INC-0000", utcnow())  # no acknowledgement or short form: named here
    check_draft(playbook=playbook.acknowledging(), facts=provisional, settings=settings, sources={})
    with Session(engine, expire_on_commit=False) as session:
        incident = open_incident(
            session=session,
            playbook=playbook,
            reference=None,
            title=declaration.title,
            severity=declaration.severity,
            status=IncidentStatus.INVESTIGATING,
            aware_at=None,
            started_at=None,
            commander=declaration.commander,
        )
        declared = facts_for(
            incident.reference, IncidentClock(incident.declared_at, settings.time_scale).now()
        )
        incident.declared_facts = declared.model_dump(
            mode="json", exclude_none=True, exclude={"next_update_by"}
        )
        session.add(incident)
        audit.append(
            session=session,
            actor=declaration.commander or "clarion",
            action="incident.short-form",
            subject=incident.reference,
            details={"what_happened": declaration.what_happened},
        )
        session.commit()
    published = acknowledge(incident.reference)
    watch_clocks(incident.reference)
    get_run_logger().info(
        "%s acknowledged; post its first update with the story: `clarion update %s --facts …`",
        incident.reference,
        incident.reference,
    )
    return published


def _next(ctx: IncidentContext, request: UpdateRequest, *, status: IncidentStatus | None) -> Facts:
    """The previous update's facts with the request's changes; before any update told the story (the
    first one failed or was rejected, or only the acknowledgement went out), the declaration's facts:
    this is then the first update."""
    with ctx.session() as session:
        previous = latest_told(session=session, incident_id=ctx.incident.id or 0)
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
        if latest_told(session=session, incident_id=ctx.incident.id or 0) is None:
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
