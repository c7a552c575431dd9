"""``clarion outbox``: stage an update into the outbox, run a delivery worker, show the ledger.

Heavy modules (sqlalchemy, httpx, the adapters) are imported inside the commands.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

outbox_app = typer.Typer(
    help="The delivery outbox: stage updates, run workers, read the ledger.", no_args_is_help=True
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


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
) -> None:
    """Check every recipient, render every rendition, and write one outbox row per message."""
    from clarion.errors import ClarionError, InputError
    from clarion.facts import load_facts
    from clarion.playbook import load_playbook, resolve_playbook
    from clarion.publish import Source, playbook_sources, stage_update
    from clarion.settings import get_settings
    from clarion.store import get_engine, migrate

    settings = get_settings()
    try:
        path = resolve_playbook(playbook, settings.playbooks_dir)
        book = load_playbook(path)
        sources = playbook_sources(book, path, settings)
        for item in recipients or []:
            name, _, file = item.partition("=")
            if not file:
                raise _fail(f"--recipients {item!r}: expected AUDIENCE=FILE.csv", 2)
            sources[name] = Source(csv=Path(file))
        migrate()
        staged = stage_update(
            engine=get_engine(),
            playbook=book,
            facts=load_facts(facts, book),
            settings=settings,
            sources=sources,
        )
    except InputError as exc:
        raise _fail(str(exc), 2) from None
    except ClarionError as exc:
        raise _fail(f"error: {exc}", 2) from None
    out.print(
        f"update {staged.update_id}: {staged.renditions} renditions, {staged.planned} messages in the outbox"
    )
    for name, count in staged.audiences.items():
        channels = ", ".join(f"{c.value} {n}" for c, n in sorted(count.per_channel.items()))
        out.print(
            f"  {name}: {count.recipients} recipients → {channels}; suppressed {count.suppressed}, "
            f"no address {count.without_address}"
        )


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
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
) -> None:
    """Send what is due: claim batches, send through the providers (or the sandbox), record outcomes."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from channels.delivery import run_worker
    from channels.registry import SENT_CHANNELS
    from clarion.models import utcnow
    from clarion.outbox.ledger import backlog
    from clarion.outbox.worker import WorkerStats
    from clarion.settings import get_settings
    from clarion.store import get_engine, migrate

    settings = get_settings()
    migrate()
    engine = get_engine()
    worker_name = name or f"{socket.gethostname()}-{os.getpid()}"
    left = backlog(engine, now=utcnow(), channels=list(SENT_CHANNELS))
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

    with bar:
        stats = run_worker(
            settings, engine, name=worker_name, threads=threads, until_idle=not forever, progress=advance
        )
    out.print(
        f"{worker_name}: accepted {stats.accepted}, failed {stats.failed}, retries {stats.retried}, "
        f"found already sent {stats.reconciled_present}, resent without knowing {stats.uncertain_sends}"
    )


@outbox_app.command("status")
def status() -> None:
    """Deliveries per channel and state."""
    from rich.table import Table

    from clarion.kinds import DeliveryState
    from clarion.outbox.ledger import state_counts
    from clarion.store import get_engine, migrate

    migrate()
    counts = state_counts(get_engine())
    table = Table("channel", *(s.value for s in DeliveryState))
    for channel in sorted({c for c, _ in counts}):
        table.add_row(channel.value, *(str(counts.get((channel, s), 0)) for s in DeliveryState))
    out.print(table)
