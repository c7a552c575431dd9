"""The steps of a scheduled maintenance, as scheduled runs: reminder, started, verifying, completed.

When an update of a maintenance is published, :func:`flows.timers.schedule_maintenance` creates one
future run of ``maintenance-step`` per step still ahead (:func:`clarion.incidents.maintenance.plan`). Each
run asks the store first: a maintenance already completed, or whose window a correction moved, is
left alone (the moved window's own runs were scheduled by the correction). Otherwise it drafts the
step's update (the step's wording as the apology, the next step as the promise) and publishes it
through the same subflow as every other update.
"""

from __future__ import annotations

from datetime import datetime

from prefect import flow, get_run_logger

from clarion.errors import ClarionError
from clarion.incidents.lifecycle import facts_of, latest_published
from clarion.incidents.maintenance import Step, kind_of, plan, step_facts, still_due
from clarion.kinds import UpdateState
from clarion.models import Incident
from clarion.updates.publish import draft_update
from clarion.updates.render import Renderer
from flows.context import open_context
from flows.publish import publish_update


@flow(name="maintenance-step", flow_run_name="{reference} · maintenance {step}", log_prints=True)
def maintenance_step(reference: str, step: Step, window: str, key: str) -> str:
    """Publish the maintenance's ``step`` (planned as ``key`` for ``window``) unless it is moot."""
    logger = get_run_logger()
    ctx = open_context(reference)
    policy = ctx.playbook.maintenance_policy
    with ctx.session() as session:
        incident = session.get(Incident, ctx.incident.id)
        assert incident is not None and incident.id is not None
        latest = latest_published(session=session, incident_id=incident.id)
    if policy is None or latest is None:
        logger.warning("%s is not a published maintenance; nothing to do", reference)
        return "skipped"
    previous = facts_of(latest)
    resolved = incident.resolved_at is not None or latest.status.value == "resolved"
    if not still_due(previous, resolved=resolved, key=window):
        logger.info("%s: the maintenance is over or its window moved; %s is moot", reference, key)
        return "skipped"
    assert previous.maintenance is not None
    planned = next((p for p in plan(policy, previous.maintenance) if p.key == key), None)
    if planned is None:
        logger.info("%s: the playbook no longer plans %s; nothing to do", reference, key)
        return "skipped"
    if previous.as_of > planned.at:  # a later step (or a correction) went out first: never go back
        logger.info("%s: an update after %s was published already; %s is moot", reference, planned.at, key)
        return "skipped"
    renderer = Renderer(
        ctx.playbook, ctx.settings.templates_dir, sms_max_segments=ctx.settings.sms_max_segments
    )
    zone = ctx.playbook.public_time_zone or ctx.settings.public_time_zone

    def when(moment: datetime, locale: str) -> str:
        return renderer.locale_text(locale).when(moment, zone, locale)

    phrases = {
        locale: renderer.locale_text(locale).maintenance.get(step.value, {})
        for locale in ctx.playbook.locales
    }
    try:
        facts = step_facts(
            previous,
            policy=policy,
            planned=planned,
            phrases={k: v for k, v in phrases.items() if v},
            when=when,
        )
        number = draft_update(
            engine=ctx.engine,
            playbook=ctx.playbook,
            facts=facts,
            settings=ctx.settings,
            sources=ctx.sources,
            kind=kind_of(planned.step),
            state=UpdateState.DRAFT,
            renderer=renderer,
        ).number
    except ClarionError as exc:
        logger.error("%s: the maintenance %s update could not be drafted: %s", reference, key, exc)
        raise
    publish_update(reference, number)
    return f"published update {number}"
