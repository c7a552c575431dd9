"""``clarion deadlines | deadline-event | deadline-override | deadline-waive | notify-regulator``.

The regulatory clocks of an incident, read from and written to the clarion store. Whatever starts or
moves a clock (an event such as a materiality determination, a submission, an override) is then
handed to the server's ``watch-deadlines`` flow, so the new times are watched; when the server is not
running the change is kept and the command says the clocks wait for ``clarion serve``.

Times are given as ISO 8601 with an offset (``2026-11-23T14:05:00+01:00``, or ``Z``), or ``now``
(the incident's clock: sped up in demos). A time without an offset is refused: whose 14:05?

This module imports only typer, so ``clarion --help`` stays fast; the rest is imported on use.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from faces.console import errors_to_exit
from faces.incident_cli import Reference

if TYPE_CHECKING:
    from sqlmodel import Session

    from clarion.incidents.clock import IncidentClock
    from clarion.models import Incident

By = Annotated[
    str, typer.Option("--by", envvar="CLARION_ACTOR", help="Who you are (goes into the audit log).")
]
Reason = Annotated[str, typer.Option("--reason", help="Why: kept with the clock and in the audit log.")]
StagePath = Annotated[
    str, typer.Argument(help="REGIME/STAGE, e.g. gdpr-art33/initial (see `clarion deadlines`).")
]


def deadlines(reference: Reference) -> None:
    """An incident's regulatory clocks: due time (UTC and the regime's local time), time left, state."""
    with errors_to_exit(), _incident(reference, write=False) as (session, incident, clock):
        from clarion.compliance import deadlines as clocks
        from faces.deadlines_show import print_countdown

        now = clock.now()
        print_countdown(incident, clocks.clockfaces(session=session, incident=incident, now=now), now=now)


def deadline_event(
    reference: Reference,
    event: Annotated[
        str, typer.Argument(help="What happened: materiality-determined, classified-major, determination, …")
    ],
    by: By,
    at: Annotated[str, typer.Option(help="When it happened (ISO 8601 with offset, or now).")] = "now",
) -> None:
    """Record an event that starts clocks (the SEC's materiality determination, DORA's classification)."""
    with errors_to_exit():
        from clarion.regimes import Event

        try:
            kind = Event(event)
        except ValueError:
            _refuse("event", f"{event!r} is not one of {', '.join(e.value for e in Event)}")
        with _incident(reference, write=True) as (session, incident, clock):
            from clarion.compliance import deadlines as clocks

            started = clocks.record_event(
                session=session,
                incident=incident,
                event=kind,
                at=parse_time(at, clock, "at"),
                actor=by,
                now=clock.now(),
            )
        _said(f"recorded {kind.value} for {reference}", [f"{r.regime}/{r.stage}" for r in started])
        _watch(reference)


def deadline_override(
    reference: Reference,
    stage: StagePath,
    due: Annotated[str, typer.Option(help="The new due time.")],
    reason: Reason,
    by: By,
) -> None:
    """Set a clock's due time by hand (an extension granted, a closure the calendars miss)."""
    with errors_to_exit():
        regime_id, stage_id = split_stage(stage)
        with _incident(reference, write=True) as (session, incident, clock):
            from clarion.compliance import deadlines as clocks

            row = clocks.override(
                session=session,
                incident=incident,
                regime_id=regime_id,
                stage_id=stage_id,
                due_at=parse_time(due, clock, "due"),
                reason=reason,
                actor=by,
            )
        _said(
            f"{reference} {stage} now due {_utc(row.due_at)} (computed {_utc(row.computed_due_at)})",
            [],
        )
        _watch(reference)


def deadline_waive(reference: Reference, stage: StagePath, reason: Reason, by: By) -> None:
    """Stop a clock that does not apply (the incident is below its threshold), with the reason."""
    with errors_to_exit():
        regime_id, stage_id = split_stage(stage)
        with _incident(reference, write=True) as (session, incident, _clock):
            from clarion.compliance import deadlines as clocks

            clocks.waive(
                session=session,
                incident=incident,
                regime_id=regime_id,
                stage_id=stage_id,
                reason=reason,
                actor=by,
            )
        _said(f"{reference} {stage} waived: {reason}", [])


def notify_regulator(
    reference: Reference,
    regime: Annotated[str, typer.Option("--regime", help="The regime, e.g. gdpr-art33.")],
    stage: Annotated[
        str | None, typer.Option("--stage", help="The stage; the first one still open when left out.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the draft to this file too.")] = None,
    submitted: Annotated[
        bool, typer.Option("--submitted", help="Record that the notice was submitted (needs --by).")
    ] = False,
    by: Annotated[str | None, typer.Option("--by", envvar="CLARION_ACTOR", help="Who submitted it.")] = None,
    at: Annotated[str, typer.Option(help="When it was submitted (ISO 8601 with offset, or now).")] = "now",
    submission_reference: Annotated[
        str | None, typer.Option("--reference", help="The regulator's case or receipt number.")
    ] = None,
    delay_reason: Annotated[
        str | None, typer.Option("--delay-reason", help="Why a late notice is late (the law asks).")
    ] = None,
) -> None:
    """Draft the notice to a regulator from the incident's facts, flagging what is missing; with
    --submitted, record its submission: the clock is met and the stages after it start."""
    with errors_to_exit():
        from faces.console import err
        from faces.console import out as stdout

        with _incident(reference, write=submitted) as (session, incident, clock):
            from faces.deadlines_show import draft_for

            now = clock.now()
            notice, markdown = draft_for(session, incident, regime, stage, now=now)
            if out is not None:
                _write(out, markdown + "\n")
                err.print(f"draft written to {out}", markup=False)
            if not submitted:
                stdout.print(markdown, markup=False)
                if notice.missing:
                    keys = ", ".join(
                        f"{f.key} ({', '.join(f.facts) or 'not a fact: fill it in'})" for f in notice.missing
                    )
                    err.print(
                        f"{len(notice.missing)} required field(s) missing from the facts: {keys}",
                        markup=False,
                    )
                if notice.needs_delay_reason:
                    err.print(
                        "the notice is late: give the reasons for the delay (--delay-reason)", markup=False
                    )
                return
            from clarion.compliance import deadlines as clocks

            if not by:
                _refuse("by", "--submitted needs --by: who submitted the notice")
            assert by is not None
            rows = clocks.record_submission(
                session=session,
                incident=incident,
                regime_id=regime,
                stage_id=notice.stage.id,
                at=parse_time(at, clock, "at"),
                by=by,
                reference=submission_reference,
                delay_reason=delay_reason,
            )
        met, started = rows[0], rows[1:]
        late = " (late)" if met.delay_reason else ""
        _said(
            f"recorded {regime}/{met.stage} of {reference} as submitted{late} by {by}",
            [f"{r.regime}/{r.stage}" for r in started],
        )
        if notice.missing:
            err.print(f"note: submitted without {', '.join(f.key for f in notice.missing)}", markup=False)
        _watch(reference)


# ── helpers ──────────────────────────────────────────────────────────────────────────────────────


def split_stage(text: str) -> tuple[str, str]:
    regime, sep, stage = text.partition("/")
    if not (sep and regime and stage):
        _refuse("stage", f"{text!r}: write REGIME/STAGE, e.g. gdpr-art33/initial")
    return regime, stage


def parse_time(text: str, clock: IncidentClock, field: str) -> datetime:
    """``now`` on the incident's clock, or an ISO 8601 time with an offset."""
    if text.strip().lower() == "now":
        return clock.now()
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        _refuse(field, f"{text!r} is not an ISO 8601 time (2026-11-23T14:05:00+01:00) or now")
    if moment.tzinfo is None or moment.utcoffset() is None:
        _refuse(field, f"{text!r} has no offset: add one (+01:00, Z) so the time is unambiguous")
    from clarion.facts import EARLIEST, LATEST

    if not EARLIEST <= moment < LATEST:
        bounds = f"{EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC)"
        _refuse(field, f"{text!r} is not between {bounds}: check the year")
    return moment


def _refuse(field: str, message: str) -> NoReturn:
    from clarion.errors import InputError, Problem

    raise InputError([Problem("command line", None, field, message)])


def _write(path: Path, text: str) -> None:
    """Write ``text`` to ``path``; a path that cannot take it is the person's input, named."""
    from clarion.errors import InputError, Problem, display_path

    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputError(
            [Problem(display_path(path), None, "--out", f"cannot write the draft: {reason}")]
        ) from None


def _utc(moment: datetime | None) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if moment is not None else "-"


@contextmanager
def _incident(reference: str, *, write: bool) -> Iterator[tuple[Session, Incident, IncidentClock]]:
    """The incident in a session (committed on success when ``write``), and its clock."""
    from sqlmodel import Session

    from clarion.incidents.clock import IncidentClock
    from clarion.settings import get_settings
    from clarion.store import get_engine, get_incident, require_current
    from faces.incident_checks import checked_reference

    checked_reference(reference)
    require_current()
    with Session(get_engine(), expire_on_commit=False) as session:
        incident = get_incident(session=session, reference=reference)
        yield session, incident, IncidentClock(incident.declared_at, get_settings().time_scale)
        if write:
            session.commit()


def _said(message: str, started: list[str]) -> None:
    from faces.console import out

    out.print(message, markup=False)
    if started:
        out.print(f"  clocks started or moved: {', '.join(started)}", markup=False)


def _watch(reference: str) -> None:
    """Hand the changed clocks to the server's watcher; say so when it cannot be reached."""
    from faces.console import err
    from faces.prefect_api import PrefectApiError, connect
    from flows.deployments import WATCH_DEADLINES

    try:
        with connect(quick=True) as api:
            run = api.create_run(
                WATCH_DEADLINES.full_name, {"reference": reference}, name=f"{reference} · deadlines"
            )
    except PrefectApiError as exc:
        err.print(
            f"saved, but not yet watched ({exc}); "
            f"once `clarion serve` runs: `clarion deadline-watch {reference}`",
            markup=False,
        )
        return
    err.print(f"watching: run {run.name}", markup=False)


def deadline_watch(reference: Reference) -> None:
    """Ask the server to check the incident's clocks now and schedule their thresholds."""
    with errors_to_exit():
        from faces.console import out
        from faces.incident_checks import checked_reference, incident_and_playbook
        from faces.prefect_api import connect
        from flows.deployments import WATCH_DEADLINES

        incident_and_playbook(checked_reference(reference))
        with connect() as api:
            run = api.create_run(
                WATCH_DEADLINES.full_name, {"reference": reference}, name=f"{reference} · deadlines"
            )
        out.print(f"started {WATCH_DEADLINES.full_name}: run {run.name} ({run.id})", markup=False)
