"""Commitments in Prefect: the owners' reminders and escalations, and "you asked, we built it".

* ``commitment-check`` is scheduled by every publish, twice per open commitment: ``remind`` before the
  end of its due day (the playbook's ``commitments.remind_before``) and ``escalate`` at that moment.
  When it runs it asks the store (:func:`clarion.commitments.tracking.telling_due`): a commitment
  shipped, dropped or moved since says nothing. The owner is told on their channels of the people file
  (or by email when the file does not list them); an overdue one also reaches the playbook's
  ``commitments.escalate_to`` (the commander by default). Each is staged once (UNIQUE notice keys).
* ``commitment-shipped`` is run by ``clarion commitments ship``: it drafts the follow-up update
  (:mod:`clarion.commitments.followup`) and hands it to the publish subflow, which asks the approvers
  the playbook names for its kind, sends it through the outbox and shows it on the status page.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow, get_run_logger
from sqlmodel import select

from clarion.commitments.changes import find
from clarion.commitments.followup import built_facts
from clarion.commitments.owners import escalation, with_owner
from clarion.commitments.record import stored
from clarion.commitments.tracking import Phase, telling_due
from clarion.incidents.lifecycle import facts_of, latest_published
from clarion.kinds import CommitmentState, UpdateKind
from clarion.models import Commitment
from clarion.responders.notices import COMMITMENT_OVERDUE, COMMITMENT_REMINDER
from clarion.updates.render import Renderer
from flows.context import open_context
from flows.incident import draft
from flows.inside import tell
from flows.publish import publish_update


@flow(name="commitment-check", flow_run_name="{reference} · commitment {key} · {phase}", log_prints=True)
def commitment_check(reference: str, key: str, phase: str, due: date) -> dict[str, Any]:
    """Remind a commitment's owner before its day, or escalate it when the day passed and it is open."""
    ctx = open_context(reference)
    which = Phase(phase)
    now = ctx.clock.now()
    with ctx.session() as session:
        _, row = find(session, reference, key)
        if not telling_due(row, which, due_on=due, now=now):
            get_run_logger().info(
                "%s %s: nothing to say (%s, due %s)", reference, key, row.state.value, row.due_on
            )
            return {"reference": reference, "key": key, "told": 0}
    locale = ctx.playbook.locales[0]
    people = with_owner(ctx.people, row.owner, locale=locale)
    to = [row.owner]
    if which is Phase.ESCALATE:
        to += escalation(ctx.playbook.commitments.escalate_to, ctx.incident.commander)
    params = {
        "title": ctx.incident.title,
        "key": key,
        "text": row.texts.get(locale) or next(iter(row.texts.values())),
        "owner": row.owner,
        "due": row.due_on.isoformat(),
        "state": row.state.value.replace("_", " "),
        "command": f'clarion commitments ship {reference} {key} --note "…"',
    }
    kind = COMMITMENT_REMINDER if which is Phase.REMIND else COMMITMENT_OVERDUE
    told = tell(
        ctx,
        kind,
        f"commitment-{key}-{row.due_on}",
        to,
        urgent=which is Phase.ESCALATE,
        people=people,
        **params,
    )
    with ctx.session() as session:
        fresh = session.exec(select(Commitment).where(Commitment.id == row.id)).one()
        if which is Phase.REMIND:
            fresh.reminded_at = now
        else:
            fresh.escalated_at = now
        session.add(fresh)
        session.commit()
    return {"reference": reference, "key": key, "told": told.staged, "unreachable": told.unreachable}


@flow(name="commitment-shipped", flow_run_name="{reference} · commitment {key} shipped", log_prints=True)
def commitment_shipped(reference: str, key: str) -> dict[str, Any]:
    """Tell the incident's audience that a commitment shipped: a follow-up update, approved as the
    playbook asks, on every channel and the status page."""
    logger = get_run_logger()
    ctx = open_context(reference)
    with ctx.session() as session:
        _, row = find(session, reference, key)
        others = list(stored(session, ctx.incident.id or 0).values())
        previous = latest_published(session=session, incident_id=ctx.incident.id or 0)
    if row.state is not CommitmentState.SHIPPED:
        raise ValueError(f"{reference} {key} is {row.state.value}, not shipped: nothing to tell")
    if not ctx.playbook.commitments.follow_up:
        logger.info(
            "%s %s shipped; playbook %s tells nobody (follow_up: false)", reference, key, ctx.playbook.name
        )
        return {"reference": reference, "key": key, "state": "not told"}
    if previous is None:
        raise ValueError(f"{reference} has no published update to follow up")
    if row.followup_update is None:
        renderer = Renderer(
            ctx.playbook, ctx.settings.templates_dir, sms_max_segments=ctx.settings.sms_max_segments
        )
        wording = {locale: renderer.locale_text(locale).built for locale in ctx.playbook.locales}
        facts = built_facts(
            facts_of(previous), row, wording=wording, declared=ctx.incident.declared_at, others=others
        )
        number = draft(reference, facts, UpdateKind.BUILT)
        with ctx.session() as session:
            fresh = session.exec(select(Commitment).where(Commitment.id == row.id)).one()
            fresh.followup_update = number
            session.add(fresh)
            session.commit()
    else:
        number = row.followup_update
    return publish_update(reference, number)
