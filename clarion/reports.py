"""What the flows show people: the approval preview, the delivery table and the incident timeline.

Pure text from store rows; the flows publish them as Prefect artifacts. Message texts go inside
fenced code blocks (with a fence longer than any backtick run in them), so nothing a message
contains is interpreted as Markdown or HTML by whatever displays the artifact.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from clarion.approvals import Window
from clarion.kinds import Channel, DeliveryState
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


def _cell(text: object) -> str:
    """Free text (titles, names, reasons) made inert in Markdown: HTML escaped, syntax backslashed."""
    return _MARKDOWN.sub(r"\\\1", html.escape(str(text), quote=False)).replace("\n", " ")


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
        f"**{_cell(incident.title)}**: status {update.status.value}, next update promised by "
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
            events.append(
                (
                    a.decided_at,
                    f"update {numbers[a.update_id]} {a.decision.value} by {a.approver} ({a.role}){reason}",
                )
            )
    statement_audit = (
        select(AuditEvent)
        .where(col(AuditEvent.subject).startswith(incident.reference + "/"))
        .where(
            col(AuditEvent.action).startswith("cadence.")
            | col(AuditEvent.action).in_(["approval.escalated", "approval.expired"])
        )
    )
    for entry in session.exec(statement_audit):
        events.append((entry.at, f"{entry.action} ({entry.subject.removeprefix(incident.reference + '/')})"))
    lines = [
        f"# {incident.reference}: {_cell(incident.title)}",
        "",
        f"Playbook {incident.playbook}, severity {incident.severity}, status {incident.status.value}.",
        "",
        "| when | what |",
        "|---|---|",
    ]
    lines += [f"| {_when(at)} | {_cell(what)} |" for at, what in sorted(events, key=lambda e: e[0])]
    return "\n".join(lines)
