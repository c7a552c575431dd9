"""``clarion outbox``: stage an update into the outbox, run a delivery worker, show the ledger.

Heavy modules (sqlalchemy, httpx, the adapters) are imported inside the commands.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from faces.console import console

if TYPE_CHECKING:
    from clarion.outbox.counts import Waiting

outbox_app = typer.Typer(
    help="The delivery outbox: stage updates, run workers, read the ledger.", no_args_is_help=True
)
out = console()
err = console(stderr=True)


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(message, markup=False)
    return typer.Exit(code)


@outbox_app.command("stage")
def stage(
    playbook: Annotated[str, typer.Argument(help="Playbook name or path to its YAML file.")],
    facts: Annotated[Path, typer.Option("--facts", "-f", help="Facts file (YAML) of this update.")],
    recipients: Annotated[
        list[str] | None,
        typer.Option("--recipients", "-r", help="AUDIENCE=FILE.csv; overrides the playbook's source."),
    ] = None,
    new_update: Annotated[
        bool,
        typer.Option(
            "--new-update",
            help="These facts are a new update of an incident that has one already (without it, facts "
            "that differ from the incident's update are refused).",
        ),
    ] = False,
) -> None:
    """Check every recipient, render every rendition, and write one outbox row per message.

    The same facts staged again are the same update: only messages that are missing are added.
    """
    from channels.delivery import request_preparation
    from clarion.audiences.sources import Source, playbook_sources
    from clarion.errors import InputError, display_path
    from clarion.facts import load_facts
    from clarion.playbook import load_playbook, resolve_playbook
    from clarion.settings import get_settings
    from clarion.store import get_engine, migrate
    from clarion.updates.publish import stage_update

    settings = get_settings()
    try:
        path = resolve_playbook(playbook, settings.playbooks_dir)
        book = load_playbook(path)
        sources = playbook_sources(book, path, settings)
        given: set[str] = set()
        for item in recipients or []:
            name, _, file = item.partition("=")
            if not file:
                raise _fail(f"--recipients {item!r}: expected AUDIENCE=FILE.csv", 2)
            if name in given:
                raise _fail(f"--recipients: {name} is given twice; give each audience one file", 2)
            given.add(name)
            sources[name] = Source(csv=Path(file))
        checked = load_facts(facts, book)
        engine = get_engine()
        migrate(engine)
        staged = stage_update(
            engine=engine,
            playbook=book,
            facts=checked,
            settings=settings,
            sources=sources,
            new_update=new_update,
            source=display_path(facts),
            preparation=request_preparation(settings),  # each email request's body built once, now
        )
    except InputError as exc:
        raise _fail(str(exc), 2) from None
    again = " (staged before with these facts: only what was missing is added)" if staged.existing else ""
    out.print(
        f"{checked.reference} update {staged.number}{again}: {staged.renditions} renditions, "
        f"{staged.planned} messages in the outbox"
    )
    for name, count in staged.audiences.items():
        channels = ", ".join(f"{c.value} {n}" for c, n in sorted(count.per_channel.items()))
        already = f", already staged {count.already_staged}" if count.already_staged else ""
        newer = f"; {count.superseded} held messages of earlier updates replaced" if count.superseded else ""
        out.print(
            f"  {name}: {count.recipients} recipients → {channels}; suppressed {count.suppressed}, "
            f"no address {count.without_address}, merged {count.merged} (same address){already}{newer}"
        )


EXIT_LEFT_WAITING = 3


@outbox_app.command("work")
def work(
    name: Annotated[
        str | None,
        typer.Option(help="Worker name; a restarted worker with the same name resumes its claims."),
    ] = None,
    threads: Annotated[int, typer.Option(min=1, max=64, help="Concurrent batches.")] = 4,
    forever: Annotated[
        bool, typer.Option("--forever", help="Keep polling when the outbox is empty.")
    ] = False,
    max_wait: Annotated[
        float | None,
        typer.Option(
            min=0,
            max=86_400,
            help="Stop when nothing is due within this many seconds (default CLARION_OUTBOX_MAX_WAIT, 60); "
            "messages waiting for a retry stay in the outbox for the next run.",
        ),
    ] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
) -> None:
    """Send what is due: claim batches, send through the providers (or the sandbox), record outcomes.

    While messages wait for a retry it says which (channel, how many, next try, attempts, last
    error). Exit 0 when nothing is left to send, 3 when messages are left waiting for a retry.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from channels.delivery import run_worker
    from clarion.channel_table import sent_channels
    from clarion.models import utcnow
    from clarion.outbox.counts import Backlog, backlog
    from clarion.outbox.worker import WorkerStats
    from clarion.settings import get_settings
    from clarion.store import get_engine, migrate
    from clarion.store_outage import patiently

    settings = get_settings()
    engine = get_engine()

    def store_lost(exc: BaseException, seconds: float) -> None:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        err.print(
            f"the store is unreachable ({reason[0] if reason else type(exc).__name__}); "
            f"trying again in {seconds:g} s",
            markup=False,
        )

    def ready() -> Backlog:
        migrate(engine)  # a worker's start is one of the places that bring the store up to date
        return backlog(engine, now=utcnow(), channels=list(sent_channels()))

    # a worker (re)started while PostgreSQL restarts waits for it, as a running one does
    left = patiently(engine, ready, patience=settings.outbox_store_patience, on_wait=store_lost)
    worker_name = name or f"{socket.gethostname()}-{os.getpid()}"
    total = sum(left.due.values()) + left.waiting + left.claimed
    bar = Progress(
        TextColumn("sending"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=not progress,
    )
    task = bar.add_task("sending", total=total or None)

    def advance(stats: WorkerStats) -> None:
        bar.update(task, completed=stats.accepted + stats.failed)

    def waiting(rows: list[Waiting]) -> None:
        for line in waiting_lines(rows):
            err.print(line)

    with bar:
        stats = run_worker(
            settings,
            engine,
            name=worker_name,
            threads=threads,
            until_idle=not forever,
            max_wait=max_wait,
            progress=advance,
            on_wait=waiting,
            on_store_lost=store_lost,
        )
    out.print(
        f"{worker_name}: accepted {stats.accepted}, failed {stats.failed}, retries {stats.retried}, "
        f"found already sent {stats.reconciled_present}, resent without knowing {stats.uncertain_sends}"
    )
    left = patiently(
        engine,
        lambda: backlog(engine, now=utcnow(), channels=list(sent_channels())),
        patience=settings.outbox_store_patience,
        on_wait=store_lost,
    )
    remaining = sum(left.due.values()) + left.waiting + left.claimed
    if remaining:
        out.print(f"{remaining} messages left in the outbox for the next `clarion outbox work`")
        raise typer.Exit(EXIT_LEFT_WAITING)


def waiting_lines(rows: list[Waiting]) -> list[str]:
    """ "waiting: sms 37 messages, next try in 12 s (attempt 4 so far; last: sms (HTTP 503): …)"."""
    from clarion.models import utcnow

    lines = []
    for row in rows:
        seconds = max(0, round((row.next_at - utcnow()).total_seconds()))
        last = f"; last: {row.last_error}" if row.last_error else ""
        lines.append(
            f"waiting: {row.channel.value} {row.count} messages, next try in {seconds} s "
            f"({row.most_attempts} attempts so far{last})"
        )
    return lines


@outbox_app.command("status")
def status() -> None:
    """Deliveries per channel and state, and the email copies a crash or timeout may have doubled."""
    from rich.table import Table

    from clarion.kinds import DeliveryState
    from clarion.models import utcnow
    from clarion.outbox.counts import email_copies, held, state_counts
    from clarion.store import get_engine, require_current

    engine = require_current(get_engine())
    counts = state_counts(engine)
    table = Table("channel", *(s.value for s in DeliveryState))
    for channel in sorted({c for c, _ in counts}):
        table.add_row(channel.value, *(str(counts.get((channel, s), 0)) for s in DeliveryState))
    out.print(table)
    quiet, first = held(engine, now=utcnow())
    if quiet and first is not None:
        out.print(
            f"held for their recipients' quiet hours: {quiet} pending, the first due "
            f"{first:%Y-%m-%d %H:%M} UTC"
        )
    copies = email_copies(engine)
    if copies.blind_resends or copies.confirmed:
        out.print(
            f"email resent without knowing whether the first copy arrived: {copies.blind_resends}; "
            f"second copies confirmed by SendGrid's events: {copies.confirmed}, and at most "
            f"{copies.at_most} more it has not reported"
        )
