"""What the demo prints at the end: the timeline, the clocks, the deliveries, the post-incident
report's headline and PDF, and where to look.

Each figure is read back from where a person would see it: the store's timeline and ledger, the
provider sandbox's inbox and counts, the status page.
"""

from __future__ import annotations

import re
from typing import Any

from rich.table import Table

from faces.console import console
from faces.demo_report import print_evidence, print_report

out = console()
_REPLY = re.compile(r"\((\d+)/(\d+)\) ")


def print_summary(engine: Any, stack: Any, reference: str, *, first_accepted: float | None) -> None:
    """The end of the demo's story, as the commander and the public would see it."""
    import httpx
    from sqlmodel import Session, select

    from clarion.compliance.deadlines import clockfaces
    from clarion.incidents.clock import IncidentClock
    from clarion.incidents.reports import delivery_rows, timeline_markdown
    from clarion.models import Incident
    from clarion.outbox.counts import state_counts
    from clarion.settings import get_settings
    from clarion.store import describe
    from faces.deadlines_show import print_countdown

    with Session(engine) as session:
        incident = session.exec(select(Incident).where(Incident.reference == reference)).one()
        timeline = timeline_markdown(session=session, incident=incident)
        now = IncidentClock(incident.declared_at, get_settings().time_scale).now()
        faces = clockfaces(session=session, incident=incident, now=now)
    out.print("")
    out.print(timeline, markup=False)
    out.print("")
    print_countdown(incident, faces, now=now)
    table = Table("channel", "accepted", "failed", "pending", "suppressed", title="deliveries, all updates")
    for row in delivery_rows(state_counts(engine)):
        table.add_row(*(str(row[k]) for k in ("channel", "accepted", "failed", "pending", "suppressed")))
    out.print(table)
    stats = httpx.get(f"{stack.sandbox}/_sandbox/stats", timeout=2).json()
    out.print(f"the provider sandbox accepted: {stats.get('accepted')}", markup=False)
    if first_accepted is not None:
        out.print(
            f"from declaring to the first message accepted by a provider: {first_accepted:.1f} s "
            "(two approvals included)",
            markup=False,
        )
    if (thread := thread_line(stack.sandbox)) is not None:
        out.print(thread, markup=False)
    print_report(engine, reference)
    print_evidence(engine, reference)
    out.print("")
    page = httpx.get(f"{stack.web}/incidents/{reference}", timeout=10)
    told = "shows it resolved" if page.status_code == 200 and "resolved" in page.text.lower() else "FAILED"
    out.print(
        f"status page       {stack.web}/  ({reference} {told}: /incidents/{reference})",
        markup=False,
    )
    out.print(f"Prefect UI        {stack.prefect_ui}/runs", markup=False)
    out.print(f"banner feed       {stack.web}/banner.json?audience=all-customers", markup=False)
    out.print(f"sandbox inbox     {stack.sandbox}/_sandbox/inbox", markup=False)

    out.print(f"store             {describe(engine.url)}", markup=False)


def thread_line(sandbox: str) -> str | None:
    """How the Bluesky posts came out, read back from the sandbox: the stories that did not fit one
    post went out as threads, a reply per part the first post points to."""
    import httpx

    records = httpx.get(f"{sandbox}/_sandbox/inbox", params={"limit": 10_000}, timeout=10).json()["records"]
    posts = [str(r.get("text") or "") for r in records if r.get("channel") == "bluesky"]
    replies = [p for p in posts if _REPLY.match(p)]
    if not replies:
        return None
    return (
        f"Bluesky: {len(posts)} posts, {len(replies)} of them replies in threads telling the parts the "
        "first post of an update points to (read back from the sandbox inbox)"
    )
