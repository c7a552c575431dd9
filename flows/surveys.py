"""The survey after resolution, as scheduled runs: send, remind, close; and the retention purge.

A published resolution schedules ``send-survey`` at the playbook's delay (:func:`flows.timers.
schedule_survey`); an update that reopens the incident cancels it. The run asks the store first
(:func:`clarion.surveys.plan.moot`), stages one invitation per person (:func:`clarion.surveys.invites.
open_survey`: crash-safe, and a second run invites nobody twice), sends them, and schedules the
reminder (when the playbook asks for one) and the close at the links' expiry as ``survey-step`` runs.
Closing writes the report as a Prefect artifact. ``survey-purge`` runs daily on its own schedule and
removes free text older than each playbook's retention.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from channels.delivery import run_worker
from clarion.audiences.unsubscribe import secret_key
from clarion.incidents.lifecycle import latest_published
from clarion.models import utcnow
from clarion.surveys import invites
from clarion.surveys.notices import renderer
from clarion.surveys.plan import moot
from flows import timers
from flows.context import IncidentContext, open_context
from flows.delivery import artifact_key
from flows.deployments import SURVEY_STEP


class SurveyStep(StrEnum):
    REMIND = "remind"
    CLOSE = "close"


def _why_not(ctx: IncidentContext) -> str | None:
    with ctx.session() as session:
        latest = latest_published(session=session, incident_id=ctx.incident.id or 0)
        survey = invites.survey_of(session, ctx.incident.id or 0)
    return moot(ctx.playbook, latest.status if latest else None, survey, utcnow())


def _send(ctx: IncidentContext, name: str) -> int:
    """Send the survey's notices now (the outbox sweep would within a minute anyway)."""
    stats = run_worker(
        ctx.settings, ctx.engine, name=name, channels=ctx.playbook.survey.channels, threads=2, max_wait=0
    )
    return stats.accepted


@flow(name="send-survey", flow_run_name="{reference} · survey", log_prints=True)
def send_survey(reference: str, resolution: int) -> dict[str, Any]:
    """Invite everyone the incident's messages reached to say how it went; schedule reminder and close."""
    logger = get_run_logger()
    ctx = open_context(reference)
    if (why := _why_not(ctx)) is not None:
        logger.info("%s: no survey now: %s", reference, why)
        return {"reference": reference, "skipped": why}
    key = secret_key(ctx.settings)
    survey = invites.open_survey(
        engine=ctx.engine,
        incident=ctx.incident,
        playbook=ctx.playbook,
        resolution=resolution,
        key=key,
        check=renderer(ctx.settings, key),
        now=utcnow(),
        stretch=ctx.clock.wall_duration,
    )
    accepted = _send(ctx, f"survey-{reference}")
    policy = ctx.playbook.survey
    opened = ctx.clock.now()
    if policy.reminder_after is not None:
        _step(ctx, SurveyStep.REMIND, at=opened + policy.reminder_after)
    anchor = ctx.clock.anchor  # the links expire on the wall clock; the timer is set on the incident's
    _step(ctx, SurveyStep.CLOSE, at=anchor + (survey.closes_at - anchor) * ctx.clock.scale)
    create_markdown_artifact(
        key=artifact_key(reference, "survey"),
        markdown=f"# {reference}: survey sent\n\n{survey.invited} invited, {accepted} accepted by the "
        f"providers so far; it closes {survey.closes_at:%Y-%m-%d %H:%M} UTC.",
        description=f"{reference}: survey",
    )
    timers.emit(ctx, "clarion.survey.sent", invited=survey.invited)
    logger.info("%s: survey sent to %s people", reference, survey.invited)
    return {"reference": reference, "invited": survey.invited, "accepted": accepted}


def _step(ctx: IncidentContext, step: SurveyStep, *, at: Any) -> None:
    timers.schedule(
        ctx,
        SURVEY_STEP,
        {"reference": ctx.reference, "step": step.value},
        at=at,
        key=f"survey:{step.value}",
        name=f"survey {step.value}",
    )


@flow(name="survey-step", flow_run_name="{reference} · survey {step}", log_prints=True)
def survey_step(reference: str, step: SurveyStep) -> dict[str, Any]:
    """Remind those who did not answer (once), or close the survey and write its report."""
    from clarion.surveys.report import report_markdown, survey_report

    logger = get_run_logger()
    ctx = open_context(reference)
    if step is SurveyStep.REMIND:
        if (why := _why_not(ctx)) is not None:
            logger.info("%s: no reminder: %s", reference, why)
            return {"reference": reference, "skipped": why}
        key = secret_key(ctx.settings)
        sent = invites.remind(
            engine=ctx.engine, incident=ctx.incident, check=renderer(ctx.settings, key), now=utcnow()
        )
        accepted = _send(ctx, f"survey-reminder-{reference}")
        logger.info("%s: %s reminders staged, %s accepted", reference, sent, accepted)
        return {"reference": reference, "reminded": sent}
    with ctx.session() as session:
        closed = invites.close_survey(session=session, incident_id=ctx.incident.id or 0, now=utcnow())
        report = survey_report(session=session, incident=ctx.incident)
        session.commit()
    create_markdown_artifact(
        key=artifact_key(reference, "survey-report"),
        markdown=report_markdown(report),
        description=f"{reference}: what the survey's answers came to",
    )
    timers.emit(ctx, "clarion.survey.closed", invited=report.invited, answered=report.answered)
    return {"reference": reference, "closed": closed, "answered": report.answered}


@flow(name="survey-purge", flow_run_name="survey purge", log_prints=True)
def survey_purge() -> dict[str, int]:
    """Remove survey free text older than its playbook's retention (scores and signals stay)."""
    from sqlmodel import Session

    from clarion.settings import get_settings
    from clarion.store import get_engine, require_current
    from clarion.surveys.policies import policies
    from clarion.surveys.privacy import purge_expired

    settings = get_settings()
    engine = require_current(get_engine())
    with Session(engine) as session:
        purged = purge_expired(
            session=session, now=utcnow(), retention_for=lambda name: policies(settings)(name).retention
        )
        session.commit()
    if purged:
        get_run_logger().info("survey purge: free text of %s answers removed", purged)
    return {"purged": purged}
