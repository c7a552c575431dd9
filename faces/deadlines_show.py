"""What the deadline commands show: the countdown table and the regulator notice draft."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.table import Column, Table
from rich.text import Text
from sqlmodel import Session

from clarion.compliance.deadlines import CLOSED, Clockface, clockfaces, running, stage_of
from clarion.compliance.regulator_notice import Notice, draft_notice, render_markdown
from clarion.errors import InputError, Problem
from clarion.incidents.lifecycle import facts_of, latest_update
from clarion.incidents.reports import countdown_rows
from clarion.models import Incident
from faces.console import out

STYLES = {"missed": "bold red", "at risk": "yellow", "met": "green", "waived": "dim", "pending": "dim"}


def print_countdown(incident: Incident, faces: Sequence[Clockface], *, now: datetime) -> None:
    out.print(
        f"{incident.reference} · aware {incident.aware_at:%Y-%m-%d %H:%M} UTC"
        f" · as of {now:%Y-%m-%d %H:%M} UTC",
        markup=False,
    )
    if not faces:
        out.print("no regulatory regime runs for this incident", markup=False)
        return
    # the ids are what the next command needs typed: never cut them; long prose folds instead
    table = Table(
        Column("regime", no_wrap=True),
        Column("stage", no_wrap=True),
        Column("recipient", overflow="fold"),
        Column("clock", overflow="fold"),
        Column("due (UTC)", no_wrap=True),
        Column("due (local)", no_wrap=True),
        Column("left", no_wrap=True),
        Column("state", no_wrap=True),
        Column("note", overflow="fold", min_width=40),
    )
    for row in countdown_rows(faces):
        table.add_row(
            *(
                Text(row[c])
                for c in ("regime", "stage", "recipient", "clock", "due (UTC)", "due (local)", "left")
            ),
            Text(row["state"], style=STYLES.get(row["state"], "")),
            Text(row["note"]),
        )
    out.print(table)


def draft_for(
    session: Session, incident: Incident, regime_id: str, stage_id: str | None, *, now: datetime
) -> tuple[Notice, str]:
    """The notice of ``regime_id`` (``stage_id``, or its first stage still to submit) from the facts
    of the incident's latest update, and its Markdown."""
    regime = running(incident, regime_id)
    faces = [f for f in clockfaces(session=session, incident=incident, now=now) if f.regime.id == regime_id]
    if stage_id is None:
        todo = [f for f in faces if f.stage.content and (f.row is None or f.row.state not in CLOSED)]
        face = (todo or faces)[0]
    else:
        stage = stage_of(regime, stage_id)
        face = next(f for f in faces if f.stage.id == stage.id)
    assert incident.id is not None
    update = latest_update(session=session, incident_id=incident.id)
    if update is None:
        raise InputError(
            [
                Problem(
                    "command line", None, "reference", f"{incident.reference} has no update, so no facts yet"
                )
            ]
        )
    notice = draft_notice(regime=regime, stage=face.stage, facts=facts_of(update), row=face.row, now=now)
    return notice, render_markdown(notice, now=now, zone=regime.zone)
