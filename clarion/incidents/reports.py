"""What the flows show people: the approval preview, the delivery table, the incident timeline and
the countdown of its regulatory deadlines.

Pure text from store rows; the flows publish them as Prefect artifacts. Message texts go inside
fenced code blocks (with a fence longer than any backtick run in them), so nothing a message
contains is interpreted as Markdown or HTML by whatever displays the artifact.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from clarion.compliance.deadlines import Clockface, waiting_for
from clarion.incidents.approvals import ASSERTED, Window
from clarion.kinds import Channel, DeadlineState, DeliveryState
from clarion.models import Approval, AuditEvent, Incident, Rendition, Update

ACCEPTED = (DeliveryState.ACCEPTED, DeliveryState.DELIVERED)
FAILED = (DeliveryState.FAILED, DeliveryState.BOUNCED)
PENDING = (DeliveryState.PENDING, DeliveryState.CLAIMED)


def fenced(text: str) -> str:
    """``text`` as a fenced code block that nothing inside it can close."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


_MARKDOWN = re.compile(r"([\\`*_\[\]<>#|!~])")
_BLOCK_START = re.compile(r"^(\s*\d*)([-+=.)])(?=\s|$|[-=])")


def inert(text: object) -> str:
    """Free text (titles, names, reasons) made inert in Markdown: HTML escaped, syntax backslashed, on
    one line, and a leading list or rule marker (``-``, ``+``, ``1.``) escaped so no block starts."""
    line = _MARKDOWN.sub(r"\\\1", html.escape(str(text), quote=False)).replace("\n", " ")
    if _BLOCK_START.match(line) and not re.match(r"^\s*\d+[-+=]", line):  # "2026-…" starts no block
        return _BLOCK_START.sub(r"\1\\\2", line)
    return line


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "-"


def preview_markdown(
    *,
    incident: Incident,
    update: Update,
    renditions: Sequence[Rendition],
    pending: Sequence[str],
    windows: Mapping[str, Window],
) -> str:
    """Every rendition of a draft, with its measured length, for the approvers."""
    lines = [
        f"# {incident.reference} · update {update.number} ({update.kind.value}): approval needed",
        "",
        f"**{inert(incident.title)}**: status {update.status.value}, next update promised by "
        f"{_when(update.next_update_by)}.",
        "",
        f"Every one of the {len(renditions)} renditions passed the preflight: each fits its channel's "
        "limits and carries the same reference, status, next-update time and link.",
        "",
        "| role | answer by | escalates to the backup at |",
        "|---|---|---|",
        *(
            f"| {role} | {_when(windows[role].expires_at)} | {_when(windows[role].escalate_at)} |"
            for role in pending
            if role in windows
        ),
        "",
        "| channel | locale | time zone | length | limit | measure |",
        "|---|---|---|---|---|---|",
    ]
    for r in renditions:
        segments = f" ({r.sms_segments} segments, {r.sms_encoding})" if r.sms_segments else ""
        lines.append(
            f"| {r.channel.value} | {r.locale} | {r.time_zone} | {r.length}{segments} | {r.limit or '-'} "
            f"| {r.measure} |"
        )
    for r in renditions:
        lines += ["", f"## {r.channel.value} · {r.locale} · {r.time_zone}"]
        text = f"Subject: {r.subject}\n\n{r.body}" if r.subject else r.body
        lines += ["", fenced(text)]
    return "\n".join(lines)


def delivery_rows(counts: Mapping[tuple[Channel, DeliveryState], int]) -> list[dict[str, object]]:
    """One row per channel: accepted (or delivered), failed (or bounced), pending, suppressed."""
    rows: list[dict[str, object]] = []
    for channel in Channel:
        of = {state: n for (c, state), n in counts.items() if c is channel}
        if not of:
            continue
        rows.append(
            {
                "channel": channel.value,
                "accepted": sum(of.get(s, 0) for s in ACCEPTED),
                "failed": sum(of.get(s, 0) for s in FAILED),
                "pending": sum(of.get(s, 0) for s in PENDING),
                "suppressed": of.get(DeliveryState.SUPPRESSED, 0),
            }
        )
    return rows


def delivery_totals(rows: Iterable[Mapping[str, object]]) -> tuple[int, int]:
    """(finished, all) messages over the delivery rows, for a progress figure."""
    finished = total = 0
    for row in rows:
        done = int(str(row["accepted"])) + int(str(row["failed"])) + int(str(row["suppressed"]))
        finished += done
        total += done + int(str(row["pending"]))
    return finished, total


def timeline_markdown(*, session: Session, incident: Incident) -> str:
    """The incident's story so far: updates, approvals, reminders and escalations, oldest first."""
    assert incident.id is not None
    events: list[tuple[datetime, str]] = [(incident.declared_at, "declared")]
    updates = session.exec(select(Update).where(Update.incident_id == incident.id)).all()
    numbers = {u.id: u.number for u in updates}
    for u in updates:
        if u.published_at is not None:
            events.append((u.published_at, f"update {u.number} published ({u.kind.value}, {u.status.value})"))
        else:
            events.append((u.created_at, f"update {u.number} drafted ({u.kind.value}): {u.state.value}"))
    if numbers:
        statement = select(Approval).where(col(Approval.update_id).in_(list(numbers)))
        for a in session.exec(statement):
            reason = f": {a.reason}" if a.reason else ""  # escaped with the whole line below
            who = f"{a.approver} ({ASSERTED}) as {a.role}"  # said so; nothing proves it (see approvals)
            events.append(
                (a.decided_at, f"update {numbers[a.update_id]} {a.decision.value} by {who}{reason}")
            )
    statement_audit = (
        select(AuditEvent)
        .where(col(AuditEvent.subject).startswith(incident.reference + "/"))
        .where(
            col(AuditEvent.action).startswith("cadence.")
            | col(AuditEvent.action).startswith("deadline.")
            | col(AuditEvent.action).startswith("timer.")
            | col(AuditEvent.action).in_(["approval.escalated", "approval.expired"])
        )
    )
    for entry in session.exec(statement_audit):
        events.append((entry.at, f"{entry.action} ({entry.subject.removeprefix(incident.reference + '/')})"))
    lines = [
        f"# {incident.reference}: {inert(incident.title)}",
        "",
        f"Playbook {incident.playbook}, severity {incident.severity}, status {incident.status.value}.",
        "",
        "| when | what |",
        "|---|---|",
    ]
    lines += [f"| {_when(at)} | {inert(what)} |" for at, what in sorted(events, key=lambda e: e[0])]
    return "\n".join(lines)


def time_left(span: timedelta | None) -> str:
    """``2d 4h``, ``3h 05m``, ``-1h 10m`` (past the deadline), ``-`` when there is none."""
    if span is None:
        return "-"
    sign, seconds = ("-" if span < timedelta(0) else ""), abs(int(span.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    return f"{sign}{days}d {hours}h" if days else f"{sign}{hours}h {rest // 60:02d}m"


def countdown_rows(faces: Iterable[Clockface], *, zone: ZoneInfo | None = None) -> list[dict[str, str]]:
    """One row per stage: the due time in UTC and in the regime's zone (or ``zone``), time left, state."""
    rows = []
    for face in faces:
        row = face.row
        local = zone or face.regime.zone
        if row is None:
            due_utc, due_local, note = "-", "-", waiting_for(face.stage)
            if face.due_by_cap is not None:
                note += f"; if it starts by then, due by {face.due_by_cap:%Y-%m-%d %H:%M} UTC"
        else:
            due_utc = f"{row.due_at:%Y-%m-%d %H:%M} UTC"
            due_local = f"{row.due_at.astimezone(local):%Y-%m-%d %H:%M %Z}"
            note = _note(face)
        rows.append(
            {
                "regime": face.regime.id,
                "stage": face.stage.id,
                "recipient": face.stage.recipient,
                "clock": face.stage.clock.describe(),
                "due (UTC)": due_utc,
                "due (local)": due_local,
                "left": time_left(face.left),
                "state": face.state.replace("_", " "),
                "note": note,
            }
        )
    return rows


def _note(face: Clockface) -> str:
    row = face.row
    assert row is not None
    parts = []
    if row.met_at is not None:
        parts.append(f"submitted {row.met_at:%Y-%m-%d %H:%M} UTC by {row.submitted_by}")
        if face.late_by is not None:
            parts.append(f"late by {time_left(face.late_by)}")
    if len(row.submissions) > 1:
        parts.append(f"{len(row.submissions)} submissions")
    if row.override_reason and row.state is not DeadlineState.WAIVED:
        parts.append(f"overridden: {row.override_reason}")
    if row.state is DeadlineState.WAIVED:
        parts.append(f"waived: {row.override_reason}")
    if face.stage.condition and row.state not in (DeadlineState.MET, DeadlineState.WAIVED):
        parts.append(f"only if: {face.stage.condition}")
    return "; ".join(parts)


def _cell(text: str) -> str:
    return text if text == "-" else inert(text)  # a lone dash in a cell is a placeholder, not a list


def countdown_markdown(incident: Incident, faces: Iterable[Clockface], *, now: datetime) -> str:
    """The incident's regulatory clocks as a Markdown table (the countdown artifact)."""
    rows = countdown_rows(faces)
    lines = [
        f"# {incident.reference}: regulatory deadlines",
        "",
        f"As of {now:%Y-%m-%d %H:%M} UTC; awareness {incident.aware_at:%Y-%m-%d %H:%M} UTC.",
        "",
    ]
    if not rows:
        return "\n".join([*lines, "No regulatory regime runs for this incident."])
    columns = ["regime", "stage", "due (UTC)", "due (local)", "left", "state", "note"]
    lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)
