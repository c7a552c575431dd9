"""The post-incident report as Markdown: the CLI's default, and the artifact published at resolution.

Free text (the title, roles, regimes, channel names a package added) goes through
:func:`clarion.incidents.reports.inert`, so nothing stored can turn into Markdown or HTML wherever
the artifact is displayed.
"""

from __future__ import annotations

from clarion.incidents.reports import inert
from clarion.review.figures import Review
from clarion.review.headline import duration, headline, mean, percent, when


def _table(columns: list[str], rows: list[list[str]], *, numeric_from: int = 1) -> list[str]:
    align = ["---" if i < numeric_from else "--:" for i in range(len(columns))]
    return [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join(align) + "|",
        *("| " + " | ".join(cell if cell == "-" else inert(cell) for cell in row) + " |" for row in rows),
    ]


def review_markdown(r: Review) -> str:
    """Every figure of the report; the headline first."""
    lines = [
        f"# {r.reference} post-incident report: {inert(r.title)}",
        "",
        f"Playbook {inert(r.playbook)}, severity {inert(r.severity)}, status {r.status}. "
        f"Aware {when(r.aware_at)}, declared {when(r.declared_at)}, resolved {when(r.resolved_at)}; "
        f"{r.updates} updates published. Figures as of {when(r.as_of)}, from the store.",
        "",
        *(f"- **{label}**: {inert(text)}" for label, text in headline(r)),
        "",
        "## Time to first word, per channel",
        "",
    ]
    if r.first_word.channels:
        rows = [
            [c.channel, when(c.at), duration(c.after), "shown from the first update" if c.served else "sent"]
            for c in r.first_word.channels
        ]
        lines += _table(["channel", "first at", "after awareness", "how"], rows, numeric_from=2)
    else:
        lines.append("Nothing was published yet.")
    lines += ["", "## Promises", ""]
    if r.promises.promises:
        rows = [
            [
                str(p.update),
                when(p.due_at),
                when(p.next_at),
                "kept" if p.kept else f"late by {duration(p.late_by)}",
            ]
            for p in r.promises.promises
        ]
        lines += _table(["update", "next update promised by", "next update came", "kept"], rows)
    else:
        lines.append("No promise is due yet.")
    lines += ["", "## Reach, per channel", ""]
    rows = [
        [
            c.channel,
            str(c.audience),
            f"{c.reached} ({percent(c.reached / c.audience if c.audience else None)})",
            str(c.counted),
            *(str(n) for n in (c.accepted, c.delivered, c.bounced, c.failed, c.suppressed, c.pending)),
        ]
        for c in r.reach.channels
    ]
    columns = ["channel", "addressed", "reached", "counted once", "accepted", "delivered", "bounced"]
    lines += _table([*columns, "failed", "suppressed", "pending"], rows) if rows else ["No message was sent."]
    if r.reach.by_fallback:
        lines += ["", f"{r.reach.by_fallback} of the people reached were reached by a fallback message."]
    lines += ["", "## Approvals: time to decide, from the draft", ""]
    rows = [[a.role, str(a.count), duration(a.median), duration(a.longest)] for a in r.approvals]
    lines += _table(["role", "decisions", "median", "longest"], rows) if rows else ["No approval asked."]
    lines += ["", "## Regulatory stages", ""]
    rows = [
        [s.regime, s.stage, when(s.due_at), when(s.met_at), s.outcome, duration(s.margin)] for s in r.stages
    ]
    columns = ["regime", "stage", "due", "met", "outcome", "margin"]
    lines += _table(columns, rows, numeric_from=5) if rows else ["No regulatory clock ran."]
    if r.survey is not None:
        s = r.survey
        lines += [
            "",
            "## Survey",
            "",
            f"{s.answered} of {s.invited} answered. Kept informed: mean {mean(s.informed_mean)} of 5. "
            f"Trust: mean {mean(s.trust_mean)} of 5. {s.positive} positive, {s.negative} negative "
            "(`clarion survey report` has the rest).",
        ]
    c = r.commitments
    lines += [
        "",
        "## Commitments",
        "",
        *_table(
            ["total", "shipped on time", "shipped late", "dropped", "open", "overdue"],
            [[str(n) for n in (c.total, c.shipped_on_time, c.shipped_late, c.dropped, c.open, c.overdue)]],
            numeric_from=0,
        ),
    ]
    return "\n".join(lines) + "\n"
