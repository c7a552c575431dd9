"""``clarion commitments``: the prevention commitments of the incidents, and recording what became of them.

::

    clarion commitments [--overdue] [INC-0042]             # a table, by due day
    clarion commitments start INC-0042 C1                  # planned → in progress
    clarion commitments ship INC-0042 C1 --note "…" [--asked] [--no-tell]
    clarion commitments drop INC-0042 C2 --reason "…"

Shipping records the change (audit log) and then starts the ``commitment-shipped`` run, which tells
the incident's audience ("you asked, we built it") through the outbox and the status page; the
record stands even when Prefect cannot be reached, and shipping again starts the run that is still
owed. Notes and reasons are public. Heavy modules are imported inside the command.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from faces.console import EXIT_INPUT, errors_to_exit, fail, out
from faces.survey_cli import By, _login

if TYPE_CHECKING:
    from clarion.commitments.tracking import Listed

ACTIONS = ("start", "ship", "drop")


def commitments(
    words: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[INC] | start INC C | ship INC C | drop INC C",
            help="An incident to list (all when left out), or what to record for one commitment.",
            show_default=False,
        ),
    ] = None,
    overdue: Annotated[
        bool, typer.Option("--overdue", help="Only those past their day and still open.")
    ] = False,
    note: Annotated[str | None, typer.Option("--note", help="ship: what we built (public).")] = None,
    reason: Annotated[
        str | None, typer.Option("--reason", help="drop: why we do not do it (public).")
    ] = None,
    asked: Annotated[
        bool, typer.Option("--asked", help="ship: survey answers asked for it (the follow-up says so).")
    ] = False,
    tell: Annotated[
        bool, typer.Option("--tell/--no-tell", help="ship: start the follow-up to the audience now.")
    ] = True,
    by: By = None,
) -> None:
    """Prevention commitments: list them (by due day), or start, ship or drop one."""
    words = words or []
    with errors_to_exit():
        from faces.incident_checks import checked_reference

        if words and words[0] in ACTIONS:
            if len(words) != 3:
                raise fail(f"usage: clarion commitments {words[0]} INC-0042 C1", EXIT_INPUT)
            action, reference, key = words
            checked_reference(reference)
            _record(
                action, reference, key, note=note, reason=reason, asked=asked, tell=tell, by=by or _login()
            )
            return
        if len(words) > 1:
            raise fail("give one incident to list, or start|ship|drop INC C", EXIT_INPUT)
        only = words[0] if words else None
        if only is not None:
            checked_reference(only)
        _list(only, overdue=overdue)


def _list(reference: str | None, *, overdue: bool) -> None:
    from sqlmodel import Session

    from clarion.commitments.tracking import listed
    from clarion.models import utcnow
    from clarion.store import get_engine, reading, require_current

    with reading(require_current(get_engine())) as connection, Session(bind=connection) as session:
        if reference is not None:
            from clarion.store import get_incident

            get_incident(session=session, reference=reference)  # NotFound names it
        rows = listed(session, now=utcnow(), reference=reference, overdue_only=overdue)
    _print(rows, overdue=overdue)


def _state(row: Listed) -> str:
    if row.overdue:
        return f"OVERDUE {-row.days_left} d" if row.days_left < 0 else "OVERDUE"
    if row.state.value in ("planned", "in_progress"):
        return f"{row.state.value.replace('_', ' ')}, {row.days_left} d left"
    return row.state.value


def _print(rows: list[Listed], *, overdue: bool) -> None:
    from rich.table import Column, Table

    if not rows:
        out.print("no overdue commitments" if overdue else "no commitments", markup=False)
        return
    table = Table(
        Column("incident", no_wrap=True),
        Column("id", no_wrap=True),
        Column("due", no_wrap=True),
        Column("state", no_wrap=True),
        Column("owner", overflow="fold"),
        Column("promise", overflow="fold"),
        Column("note", overflow="fold"),
    )
    for row in rows:
        table.add_row(
            row.reference, row.key, str(row.due_on), _state(row), row.owner, row.text, row.note or "-"
        )
    out.print(table)
    late = sum(1 for r in rows if r.overdue)
    out.print(f"{len(rows)} commitments, {late} overdue", markup=False)


def _record(
    action: str,
    reference: str,
    key: str,
    *,
    note: str | None,
    reason: str | None,
    asked: bool,
    tell: bool,
    by: str,
) -> None:
    from clarion.commitments import changes
    from clarion.models import utcnow
    from clarion.store import get_engine, require_current, session_scope

    now: datetime = utcnow()
    with session_scope(require_current(get_engine())) as session:
        if action == "start":
            changed = changes.start(session=session, reference=reference, key=key, actor=by, now=now)
        elif action == "ship":
            changed = changes.ship(
                session=session, reference=reference, key=key, note=note or "", asked=asked, actor=by, now=now
            )
        else:
            changed = changes.drop(
                session=session, reference=reference, key=key, reason=reason or "", actor=by, now=now
            )
    out.print(f"{reference} {key}: {changed.state.value.replace('_', ' ')}", markup=False)
    if changed.followup_due and tell:
        _tell(reference, key)


def _tell(reference: str, key: str) -> None:
    from faces.prefect_api import connect, run_url
    from flows.deployments import COMMITMENT_SHIPPED

    with connect() as api:
        run = api.create_run(
            COMMITMENT_SHIPPED.full_name,
            {"reference": reference, "key": key},
            name=f"{reference} · commitment {key} shipped",
            tags=(reference,),
        )
        out.print(f"the follow-up to the audience: run {run.name} ({run.id})", markup=False)
        out.print(f"  {run_url(api.ui, run.id)}", markup=False)
