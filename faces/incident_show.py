"""What the incident commands show: a run followed to its pause or end, and ``clarion status``.

Progress goes to stderr (a spinner on a terminal, and a line whenever the run's name or state
changes), results to stdout. Imported by the commands when they run; what only following a run
needs (httpx, the checks and with them every playbook) is imported there, so the list of incidents
stays quick.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from rich.table import Table

from faces.console import err, out

if TYPE_CHECKING:
    from clarion.incidents.incident_status import IncidentReport, IncidentSummary
    from faces.prefect_api import PrefectApi, RunInfo

POLL_SECONDS = 0.5
PAUSE_GRACE = 10.0
"""``clarion approve`` waits this long for a run to pause when the store says an approval is pending."""
FAILED_STATES = frozenset({"FAILED", "CRASHED", "CANCELLED"})
SETTLED_STATES = FAILED_STATES | {"PAUSED", "COMPLETED"}

# ── following a run ───────────────────────────────────────────────────────────────────────────────


def follow(api: PrefectApi, run: RunInfo, timeout: float) -> None:
    """Show the run's name and state as they change until it waits for approval, completes or fails.

    Approval pauses the run's publish subflow, not the run itself: a running run's paused subflows
    are looked for on every poll. A failed run is :class:`CommandRefused` with exit code 1.
    """
    from faces.console import CommandRefused
    from faces.prefect_api import run_url

    url = run_url(api.ui, run.id)
    deadline = time.monotonic() + timeout
    shown = [_state_line(run)]

    def show(now: RunInfo) -> None:
        if _state_line(now) != shown[-1]:
            shown.append(_state_line(now))
            err.print(f"  {shown[-1]}", markup=False, highlight=False)
            spinner.update(shown[-1])

    try:
        with err.status(shown[-1]) as spinner:
            while run.state_type not in SETTLED_STATES:
                if time.monotonic() >= deadline:
                    raise CommandRefused(
                        f"still {run.state_name} after {timeout:g} s; the run goes on: {url}", code=1
                    )
                time.sleep(POLL_SECONDS)
                run = api.read_run(run.id)
                show(run)
                if run.state_type == "RUNNING" and (paused := api.paused_subflows(run.id)):
                    run = paused[0]
                    show(run)
    except KeyboardInterrupt:
        raise CommandRefused(f"stopped following; the run goes on: {url}", code=130) from None
    _outcome(run)


def paused_run(api: PrefectApi, reference: str) -> RunInfo:
    """The incident's run that waits for approval.

    The store already says an approval is pending; between two answers the run takes a moment to
    pause again, so it is looked for during :data:`PAUSE_GRACE` seconds.
    """
    from faces.console import CommandRefused

    deadline = time.monotonic() + PAUSE_GRACE
    with err.status(f"looking for the run of {reference} that waits for approval"):
        while not (paused := api.paused_runs(reference)):
            if time.monotonic() >= deadline:
                raise CommandRefused(f"no approval is waiting for {reference}", code=1)
            time.sleep(POLL_SECONDS)
    return paused[0]


def _state_line(run: RunInfo) -> str:
    late = " (is `clarion serve` running?)" if run.state_name == "Late" else ""
    return f"{run.name}: {run.state_name or 'unknown'}{late}"


def _outcome(run: RunInfo) -> None:
    from faces.console import CommandRefused
    from faces.incident_checks import reference_in, waiting_for

    reference = reference_in(run.name)
    if run.state_type in FAILED_STATES:
        state = (run.state_name or "").lower()
        raise CommandRefused(f"run {run.name} {state}: {run.state_message or 'no message'}", code=1)
    if run.state_type == "COMPLETED":
        out.print(f"{run.name}: completed; see `clarion status {reference or ''}`".rstrip(), markup=False)
        return
    who = waiting_for(reference) if reference else ""
    out.print(
        f"{run.name}: waiting for approval{f' by: {who}' if who else ''} — answer with "
        f"`clarion approve {reference or 'INC-…'} --as ROLE --by EMAIL`",
        markup=False,
    )


# ── clarion status ────────────────────────────────────────────────────────────────────────────────


def print_incidents(incidents: list[IncidentSummary]) -> None:
    if not incidents:
        out.print("no incidents yet: declare one with `clarion declare PLAYBOOK --facts FILE`", markup=False)
        return
    table = Table(
        "reference",
        "playbook",
        "severity",
        "status",
        "updates",
        "last published",
        "next update due",
        "pending approvals",
    )
    for i in incidents:
        table.add_row(
            i.reference,
            i.playbook,
            i.severity,
            i.status.value,
            str(i.updates),
            _when(i.last_published_at),
            _due(i.next_update_by, i.due_in),
            _roles(i.pending_approvals),
        )
    out.print(table)


def print_report(report: IncidentReport) -> None:
    s = report.summary
    out.print(f"{s.reference} · {s.playbook} · {s.severity} · {s.status.value} — {s.title}", markup=False)
    out.print(
        f"declared {_when(report.declared_at)}"
        + (f", commander {report.commander}" if report.commander else "")
        + (f", resolved {_when(report.resolved_at)}" if report.resolved_at else "")
        + (f"; next update due {_due(s.next_update_by, s.due_in)}" if s.next_update_by else ""),
        markup=False,
    )
    updates = Table("update", "kind", "state", "status", "published", "next update by", title="updates")
    for u in report.updates:
        updates.add_row(
            str(u.number),
            u.kind.value,
            u.state.value,
            u.status.value,
            _when(u.published_at),
            _when(u.next_update_by),
        )
    out.print(updates)
    if report.published_update is None:
        out.print("nothing published yet", markup=False)
    elif not report.deliveries:
        out.print(f"update {report.published_update}: no deliveries in the outbox", markup=False)
    else:
        deliveries = Table(
            "channel",
            "accepted",
            "failed",
            "pending",
            "suppressed",
            title=f"deliveries of update {report.published_update}",
        )
        for channel, n in report.deliveries.items():
            deliveries.add_row(
                channel.value, str(n.accepted), str(n.failed), str(n.pending), str(n.suppressed)
            )
        out.print(deliveries)
    out.print(f"pending approvals: {_roles(s.pending_approvals)}", markup=False)
    _print_scheduled(s.reference)


def _print_scheduled(reference: str) -> None:
    """The incident's next cadence checks, when the Prefect server answers quickly."""
    from faces.prefect_api import PrefectApiError, connect
    from flows.deployments import CADENCE_CHECK

    try:
        with connect(quick=True) as api:
            runs = api.scheduled_runs(CADENCE_CHECK.flow_name, reference)
    except PrefectApiError as exc:
        out.print(f"scheduled cadence checks not shown: {exc}", style="dim", markup=False)
        return
    if not runs:
        out.print("no cadence check scheduled", markup=False)
    now = datetime.now(UTC)
    for run in runs:
        start = run.expected_start_time
        out.print(f"cadence check {_due(start, start - now if start else None)}: {run.name}", markup=False)


def _when(moment: datetime | None) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if moment else "—"


def _due(moment: datetime | None, left: timedelta | None) -> str:
    """``moment`` and how long until it (``left``, negative once it passed)."""
    if moment is None or left is None:
        return _when(moment)
    relative = f"in {_span(left)}" if left >= timedelta(0) else f"overdue by {_span(-left)}"
    return f"{_when(moment)} ({relative})"


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def _roles(roles: tuple[str, ...] | None) -> str:
    if roles is None:
        return "? (playbook unreadable)"
    return ", ".join(roles) if roles else "—"
