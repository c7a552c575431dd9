"""Sending an update's outbox rows: one task per channel, and runs that finish what a publish could not.

:func:`deliver_update` runs one ``deliver`` task per channel with messages left, updates a progress
artifact while they work, and reports what is left. When a channel's task failed (a bug, a store that
went away) or messages still wait for a provider (an outage longer than the worker waits), the
update is *incomplete*: that is written to the audit log, emitted as
``clarion.update.delivery-incomplete``, logged as an error naming the channels and counts, and a
``retry-delivery`` run is scheduled (:data:`clarion.incidents.lifecycle.DELIVERY_RETRIES`), which sends what
is left and schedules the next one while something is still left. Nothing of this waits for the
others: the cadence timers of a published update are set whether or not every message went out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, cast
from uuid import UUID

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_progress_artifact, create_table_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from channels.delivery import run_worker
from clarion import audit
from clarion.errors import ClarionError
from clarion.incidents import reports
from clarion.incidents.lifecycle import delivery_retry_delay
from clarion.kinds import Channel
from clarion.models import utcnow
from clarion.outbox import fallback
from clarion.outbox.counts import state_counts
from flows import timers
from flows.context import IncidentContext, open_context
from flows.deployments import RETRY_DELIVERY
from flows.recovery import readopt_approvals


class DeliveryIncomplete(ClarionError):
    """A channel's delivery task failed: the run fails after everything else was done, so it shows."""


@dataclass
class Delivered:
    """What an update's delivery came to: rows per channel, and the channels whose task failed."""

    rows: list[dict[str, object]]
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def pending(self) -> dict[str, int]:
        return {str(r["channel"]): int(str(r["pending"])) for r in self.rows if int(str(r["pending"]))}

    @property
    def complete(self) -> bool:
        return not self.failures and not self.pending


def artifact_key(reference: str, *parts: object) -> str:
    """Artifact keys allow lowercase letters, digits and dashes only."""
    return "-".join([reference.lower(), *(str(p) for p in parts)])


@task(name="deliver", task_run_name="deliver {channel}", cache_policy=NO_CACHE)
def deliver(reference: str, channel: Channel, worker: str) -> dict[str, int]:
    """Send every due message of one channel (one provider request per batch)."""
    ctx = open_context(reference)
    stats = run_worker(ctx.settings, ctx.engine, name=worker, channels=[channel], threads=2)
    return {"accepted": stats.accepted, "failed": stats.failed, "retried": stats.retried}


def deliver_update(ctx: IncidentContext, update_id: int, number: int) -> Delivered:
    """One ``deliver`` task per channel with messages left; a progress artifact while they work."""
    counts = state_counts(ctx.engine, update_id=update_id)
    channels = sorted({c for (c, s) in counts if s in reports.PENDING}, key=list(Channel).index)
    run_id = flow_run.id or "local"
    progress = cast(
        UUID,
        create_progress_artifact(
            progress=0.0,
            key=artifact_key(ctx.reference, "update", number, "progress"),
            description=f"{ctx.reference} update {number}: messages sent",
        ),
    )

    def show() -> list[dict[str, object]]:
        rows = reports.delivery_rows(state_counts(ctx.engine, update_id=update_id))
        done, total = reports.delivery_totals(rows)
        update_progress_artifact(
            progress, 100.0 * done / total if total else 100.0, f"{done} of {total} sent"
        )
        return rows

    futures = {
        channel: deliver.submit(ctx.reference, channel, f"flow-{run_id}-{channel.value}")
        for channel in channels
    }
    while not all(f.state.is_final() for f in futures.values()):
        show()
        time.sleep(0.5)
    failures = {
        channel.value: future.state.message or future.state.name or "failed"
        for channel, future in futures.items()
        if not future.state.is_completed()
    }
    return Delivered(show(), failures)


def report_incomplete(ctx: IncidentContext, number: int, delivered: Delivered, *, attempt: int) -> None:
    """Say that update ``number`` is not fully sent (audit, event, error log) and schedule the next
    ``retry-delivery`` run, or say loudly that the retries are over."""
    logger = get_run_logger()
    delay = delivery_retry_delay(attempt)
    details: dict[str, Any] = {
        "pending": delivered.pending,
        "failed_tasks": delivered.failures,
        "attempt": attempt,
        "next_retry_in_seconds": delay.total_seconds() if delay is not None else None,
    }
    with ctx.session() as session:
        audit.append(
            session=session,
            actor="clarion",
            action="update.delivery-incomplete",
            subject=f"{ctx.reference}/update-{number}",
            details=details,
        )
        session.commit()
    timers.emit(ctx, "clarion.update.delivery-incomplete", update=number, **details)
    left = ", ".join(f"{channel} {n}" for channel, n in delivered.pending.items()) or "none"
    broken = "; ".join(f"{channel}: {why}" for channel, why in delivered.failures.items())
    what = f"{ctx.reference} update {number} is not fully sent (left: {left}" + (
        f"; failed tasks: {broken})" if broken else ")"
    )
    if delay is None:
        logger.error("%s; retries are over: run `clarion outbox work` once the cause is fixed", what)
        return
    at = ctx.clock.now() + delay * ctx.clock.scale  # the delay is wall-clock time
    timers.schedule(
        ctx,
        RETRY_DELIVERY,
        {"reference": ctx.reference, "update_number": number, "attempt": attempt + 1},
        at=at,
        key=f"u{number}:retry-delivery:{attempt + 1}",
        name=f"update {number} · retry delivery {attempt + 1}",
    )
    logger.error("%s; a retry runs in %s (or `clarion outbox work` now)", what, delay)


def table(ctx: IncidentContext, number: int, delivered: Delivered) -> None:
    create_table_artifact(
        key=artifact_key(ctx.reference, "update", number, "deliveries"),
        table=delivered.rows,
        description=f"{ctx.reference} update {number}: deliveries per channel",
    )


@flow(
    name="retry-delivery",
    flow_run_name="{reference} · update {update_number} · retry delivery {attempt}",
    log_prints=True,
)
def retry_delivery(reference: str, update_number: int, attempt: int = 2) -> dict[str, Any]:
    """Send what a publish left in the outbox; schedule the next try while something is left."""
    ctx = open_context(reference)
    update = ctx.update(update_number)
    assert update.id is not None
    delivered = deliver_update(ctx, update.id, update_number)
    table(ctx, update_number, delivered)
    if not delivered.complete:
        report_incomplete(ctx, update_number, delivered, attempt=attempt)
        if delivered.failures:
            raise DeliveryIncomplete(f"{reference} update {update_number}: {delivered.failures}")
    else:
        get_run_logger().info("%s update %s: every message sent", reference, update_number)
    return {"reference": reference, "update": update_number, "deliveries": delivered.rows}


@task(name="pending approvals", cache_policy=NO_CACHE)
def readopt() -> list[str]:
    """Give every pending approval whose run was stopped a new run (see :mod:`flows.recovery`)."""
    from clarion.store import get_engine

    return readopt_approvals(get_engine())


@flow(name="outbox-sweep", flow_run_name="outbox sweep", log_prints=True)
def outbox_sweep() -> dict[str, int]:
    """Send what is due on every channel and stop: notices (a subscriber's confirmation link or code
    waits for this run, at most a minute) and messages whose retry came due outside a publish.

    Scheduled every minute by its deployment, the way Prefect runs anything periodic; a run that
    finds nothing due ends at once. Several sweeps and publishes may overlap: workers claim rows,
    so no message is sent twice.

    Before sending it applies provider events that came before their message's id was recorded and
    stages the fallbacks of must-reach messages that failed or are still undelivered too long
    (:func:`clarion.outbox.fallback.sweep_all`), so those go out in the same run."""
    from clarion.settings import get_settings
    from clarion.store import get_engine, require_current

    settings = get_settings()
    engine = require_current(get_engine())
    readopting = readopt(return_state=True)
    if readopting.is_failed():  # never a reason not to send what is due
        get_run_logger().error("outbox sweep: pending approvals not checked: %s", readopting.message)
    name = f"sweep-{flow_run.get_id() or 'local'}"
    early, fallbacks = fallback.sweep_all(engine=engine, now=utcnow())
    stats = run_worker(settings, engine, name=name, threads=2, max_wait=0)
    if stats.accepted or stats.failed or early.applied or fallbacks.staged:
        get_run_logger().info(
            "outbox sweep: %s accepted, %s failed; %s early events applied, %s fallbacks staged",
            stats.accepted,
            stats.failed,
            early.applied,
            fallbacks.staged,
        )
    return {
        "accepted": stats.accepted,
        "failed": stats.failed,
        "retried": stats.retried,
        "early_events": early.applied,
        "fallbacks": fallbacks.staged,
    }
