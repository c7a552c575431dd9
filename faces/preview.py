"""``clarion preview``: the table of renditions, the diff since the previous update, the texts."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from clarion.errors import FactsError, Problem
from clarion.facts import Facts, load_facts
from clarion.outbox.notices import NoticeRenderer
from clarion.playbook import Part, Playbook, load_playbook, resolve_playbook
from clarion.responders.checks import approval_problems
from clarion.responders.notices import notice_contexts
from clarion.responders.people import people_of
from clarion.settings import get_settings
from clarion.updates.compose import compose
from clarion.updates.consistency import consistent, findings, label
from clarion.updates.diff import diff_facts
from clarion.updates.limits import describe
from clarion.updates.rendition import Rendition


def run_preview(
    playbook_name: str,
    facts_path: Path,
    *,
    locale: str | None,
    since: Path | None,
    show_html: bool,
    console: Console,
) -> bool:
    """Print the preview; True when every rendition fits, all of them agree, and every approver's
    request to approve them would reach its channels."""
    settings = get_settings()
    path = resolve_playbook(playbook_name, settings.playbooks_dir)
    playbook = load_playbook(path)
    facts = load_facts(facts_path, playbook)
    if locale is not None and locale not in playbook.locales:
        raise FactsError(
            [Problem("--locale", None, "", f"{locale!r} is not one of {', '.join(playbook.locales)}")]
        )
    renditions = compose(playbook, facts, settings, locales=[locale] if locale else None)
    problems = findings(renditions)
    requests, inside = _inside(playbook, path, facts, renditions)

    if since is not None:
        _print_diff(console, since, playbook, facts)
    for rendition in renditions:
        _print_texts(console, rendition, show_html)
    console.print(_table(renditions, problems))
    for rendition in renditions:
        if rendition.pointed:
            console.print(Text(f"{label(rendition)}: {_pointed(rendition)}", style="dim"))
    for problem in problems:
        console.print(Text(f"inconsistent: {problem}", style="red"))
    over = [r for r in renditions if not r.fits]
    for rendition in over:
        for m in rendition.measurements:
            if not m.fits:
                console.print(Text(f"over limit: {label(rendition)} {m.field}: {describe(m)}", style="red"))
    for problem in inside:
        console.print(Text(f"approval request: {problem}", style="red"))
    if requests and not inside:
        console.print(
            Text(f"{requests} approval requests (approvers × channels) would reach them", style="dim")
        )
    ok = not over and not problems and not inside
    verdict = "ready to send" if ok else "NOT ready: fix the problems above; nothing would be sent"
    console.print(Text(f"{len(renditions)} renditions, {verdict}", style="bold green" if ok else "bold red"))
    return ok


def _inside(
    playbook: Playbook, path: Path, facts: Facts, renditions: list[Rendition]
) -> tuple[int, list[str]]:
    """(requests checked, what would stop this draft's approval requests reaching the approvers);
    nothing without a people file."""
    people = people_of(playbook, path)
    if people is None:
        return 0, []
    settings = get_settings()
    render = NoticeRenderer(
        settings.templates_dir, notice_contexts(), sms_max_segments=settings.sms_max_segments
    )
    return approval_problems(
        playbook=playbook,
        people=people,
        reference=facts.reference,
        title=facts.title,
        renditions=renditions,
        render=render,
    )


def _table(renditions: list[Rendition], problems: list[str]) -> Table:
    table = Table(title="Renditions", title_justify="left")
    for column in (
        "channel",
        "locale",
        "time zone",
        "measured",
        "length",
        "limit",
        "SMS",
        "fits",
        "consistent",
    ):
        table.add_column(column, justify="right" if column in {"length", "limit"} else "left", no_wrap=True)
    for r in renditions:
        m = r.binding
        sms = ""
        if m is not None and m.sms is not None:
            units = "septets" if m.sms.encoding == "GSM-7" else "UTF-16 units"
            sms = f"{m.sms.segments} × {m.sms.encoding} ({m.sms.units} {units})"
        table.add_row(
            r.channel.value,
            r.locale,
            r.time_zone,
            (m.measure if m.field == "body" else f"{m.field} {m.measure}") if m else "",
            str(m.length) if m else "",
            str(m.limit) if m and m.limit is not None else "–",
            sms,
            Text("yes", style="green") if r.fits else Text("NO", style="bold red"),
            Text("yes", style="green") if consistent(r, problems) else Text("NO", style="bold red"),
        )
    return table


def _print_texts(console: Console, rendition: Rendition, show_html: bool) -> None:
    console.rule(Text(f"{label(rendition)} · {rendition.time_zone}"))
    for name, text in rendition.fields.items():
        console.print(Text(f"{name}:", style="bold"))
        if name == "html" and not show_html:
            console.print(Text(f"({len(text)} characters of HTML; --html prints it)", style="dim"))
        else:
            console.print(Text(text))
    for number, reply in enumerate(rendition.thread, 2):
        console.print(Text(f"reply {number}:", style="bold"))
        console.print(Text(reply))
    if rendition.pointed:
        console.print(Text(f"({_pointed(rendition)})", style="dim"))


def _pointed(rendition: Rendition) -> str:
    """``the story did not fit: cause, prevention left to the pointer``, and the thread if any."""
    parts = ", ".join(p.value for p in Part if p in rendition.pointed)
    told = f"{parts} left to the pointer to {rendition.carried.link}"
    if rendition.thread:
        told += f", and told in a thread of {len(rendition.thread) + 1} posts"
    return f"the whole story did not fit: {told}"


def _print_diff(console: Console, since: Path, playbook: Playbook, facts: Facts) -> None:
    previous = load_facts(since, playbook)
    changes = diff_facts(previous, facts)
    console.rule(Text(f"changes since {since}"))
    if not changes:
        console.print(Text("no changes in the facts"))
    for change in changes:
        console.print(Text(f"{change.kind:8} {change.path}: {change.before!r} → {change.after!r}"))
        for line in change.text_diff():
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
            console.print(Text(f"           {line}", style=style))
