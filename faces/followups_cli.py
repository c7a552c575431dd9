"""``clarion followups``: the people who asked for a person after a survey, and closing their requests.

``clarion followups [--open] [--incident INC-0042]`` lists the requests oldest first, with how long
each has waited, why it was opened (the box, or the words of the answer that asked), how the person
prefers to be contacted and at which address, and their two scores.
``clarion followups done ID --note "Called back, refund agreed"`` closes one, with what was done
(:func:`clarion.surveys.followups.close_followup`; the note is kept until the answer's retention ends).
Heavy modules are imported inside the commands.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from faces.console import errors_to_exit, out
from faces.survey_cli import By, _login

if TYPE_CHECKING:
    from clarion.surveys.followups import FollowupRow

followups_app = typer.Typer(
    help="Survey answers that asked for a person: list them, close one when it is done.",
    invoke_without_command=True,
)


def age(since: datetime, now: datetime) -> str:
    """How long ago, in the unit a person reads at a glance: ``12 min``, ``3 h``, ``2 d``."""
    waited = max(now - since, timedelta(0))
    if waited < timedelta(hours=1):
        return f"{waited // timedelta(minutes=1)} min"
    if waited < timedelta(hours=48):
        return f"{waited // timedelta(hours=1)} h"
    return f"{waited.days} d"


@followups_app.callback()
def followups(
    context: typer.Context,
    only_open: Annotated[bool, typer.Option("--open", help="Only those not done yet.")] = False,
    incident: Annotated[
        str | None, typer.Option("--incident", help='Only this incident\'s, e.g. "INC-0042".')
    ] = None,
) -> None:
    """Survey answers that asked for a person, oldest first (a table); `done ID` closes one."""
    if context.invoked_subcommand is not None:
        return
    with errors_to_exit():
        from sqlmodel import Session

        from clarion.models import utcnow
        from clarion.store import get_engine, reading, require_current
        from clarion.surveys.followups import followups as listed
        from faces.incident_checks import checked_reference

        if incident is not None:
            checked_reference(incident)
        with reading(require_current(get_engine())) as connection, Session(bind=connection) as session:
            rows = listed(session=session, only_open=only_open, reference=incident)
        _print(rows, utcnow(), only_open=only_open)


def _print(rows: list[FollowupRow], now: datetime, *, only_open: bool) -> None:
    from rich.table import Column, Table

    if not rows:
        out.print("no open follow-ups" if only_open else "no follow-ups yet", markup=False)
        return
    table = Table(
        Column("id", no_wrap=True, justify="right"),
        Column("incident", no_wrap=True),
        Column("age", no_wrap=True),
        Column("reason", overflow="fold"),
        Column("channel", no_wrap=True),
        Column("address", overflow="fold"),
        Column("scores", no_wrap=True),
        *([] if only_open else [Column("state", no_wrap=True)]),
    )
    for row in rows:
        cells = [
            str(row.id),
            row.reference,
            age(row.opened_at, now),
            row.reason,
            row.channel or "-",
            row.address or "-",
            f"informed {row.informed}/5, trust {row.trust}/5",
        ]
        if not only_open:
            cells.append("open" if row.closed_at is None else f"done {row.closed_at:%Y-%m-%d}")
        table.add_row(*cells)
    out.print(table)
    waiting = sum(1 for r in rows if r.closed_at is None)
    out.print(
        f"{waiting} open of {len(rows)}; close one with `clarion followups done ID --note …`", markup=False
    )


@followups_app.command("done")
def done(
    followup_id: Annotated[int, typer.Argument(metavar="ID", help="The follow-up's number (the list's id).")],
    note: Annotated[str, typer.Option("--note", help="What was done (kept with the follow-up).")],
    by: By = None,
) -> None:
    """Close a follow-up with what was done."""
    with errors_to_exit():
        from clarion.models import utcnow
        from clarion.store import get_engine, require_current, session_scope
        from clarion.surveys.followups import close_followup

        with session_scope(require_current(get_engine())) as session:
            closed = close_followup(
                session=session, followup_id=followup_id, note=note, by=by or _login(), now=utcnow()
            )
        out.print(f"follow-up {closed.id} closed by {closed.closed_by}", markup=False)
