"""The ``clarion`` command line.

Exit codes: 0 all good; 2 the input is wrong or would not be sent (invalid playbook or facts, a
rendition over its limit, renditions that disagree); 1 anything else clarion refuses to do.
Heavy modules are imported inside the commands so ``clarion --help`` answers at once.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from faces.commitments_cli import commitments
from faces.console import EXIT_INPUT, err, fail, out
from faces.deadlines_cli import (
    deadline_event,
    deadline_override,
    deadline_waive,
    deadline_watch,
    deadlines,
    notify_regulator,
)
from faces.demo import demo
from faces.evidence_cli import evidence_app
from faces.followups_cli import followups_app
from faces.incident_cli import approve, declare, resolve, status, update
from faces.outbox_cli import outbox_app
from faces.report_cli import report
from faces.sandbox_cli import sandbox_app
from faces.serve_cli import serve, web
from faces.statuspage_cli import statuspage_app
from faces.survey_cli import survey_app

app = typer.Typer(
    name="clarion",
    help="Incident and crisis communication: one honest story, every channel, on cadence, on deadline.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
playbooks_app = typer.Typer(help="Validate playbooks.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
db_app = typer.Typer(help="The clarion store.", no_args_is_help=True)
app.add_typer(playbooks_app, name="playbooks")
app.add_typer(audit_app, name="audit")
app.add_typer(db_app, name="db")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(outbox_app, name="outbox")
app.add_typer(statuspage_app, name="statuspage")
app.add_typer(survey_app, name="survey")
app.add_typer(followups_app, name="followups")
app.add_typer(evidence_app, name="evidence")
for command in (declare, update, resolve, approve, status):
    app.command()(command)
for clock_command in (
    deadlines,
    notify_regulator,
    deadline_event,
    deadline_override,
    deadline_waive,
    deadline_watch,
):
    app.command()(clock_command)
app.command()(serve)
app.command()(web)
app.command()(demo)
app.command()(commitments)
app.command()(report)


@app.command()
def preview(
    playbook: Annotated[
        str, typer.Argument(help="Playbook name (in the playbooks folder) or path to a YAML file.")
    ],
    facts: Annotated[Path, typer.Option("--facts", "-f", help="Facts file (YAML) for this update.")],
    locale: Annotated[str | None, typer.Option("--locale", "-l", help="Only this locale.")] = None,
    since: Annotated[
        Path | None, typer.Option("--since", help="Facts of the previous update: show what changed.")
    ] = None,
    html: Annotated[bool, typer.Option("--html/--no-html", help="Print HTML renditions in full.")] = False,
) -> None:
    """Render every channel of an update, check limits and consistency, and print the texts."""
    from clarion.errors import ClarionError, InputError
    from faces.preview import run_preview

    try:
        ok = run_preview(playbook, facts, locale=locale, since=since, show_html=html, console=out)
    except InputError as exc:
        raise fail(str(exc), EXIT_INPUT) from exc
    except ClarionError as exc:
        raise fail(f"error: {exc}") from exc
    raise typer.Exit(0 if ok else EXIT_INPUT)


def _people_problem(path: Path) -> Exception | None:
    """What is wrong with the people file a valid playbook names (None when nothing is)."""
    from clarion.errors import PlaybookError
    from clarion.playbook import load_playbook
    from clarion.responders.people import people_of

    try:
        people_of(load_playbook(path), path)
    except PlaybookError as exc:
        return exc
    return None


@playbooks_app.command("lint")
def playbooks_lint(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Playbook files or folders (default: all).")
    ] = None,
) -> None:
    """Validate playbooks; every problem is printed as file:line: field: message."""
    from clarion.playbook import lint
    from clarion.settings import get_settings

    results: list[tuple[Path, Exception | None]] = [
        (path, problem if problem is not None else _people_problem(path))
        for path, problem in lint(paths or [get_settings().playbooks_dir])
    ]
    if not results:
        raise fail("no playbook files found", EXIT_INPUT)
    components = get_settings().components_path
    if not paths and components.exists():  # the status page's components, checked the same way
        from clarion.statuspage.components import ComponentsError, load_catalogue

        try:
            load_catalogue(components)
            results.append((components, None))
        except ComponentsError as exc:
            results.append((components, exc))
    bad = 0
    for path, problem in results:
        if problem is None:
            out.print(f"ok      {path}", markup=False)
        else:
            bad += 1
            err.print(str(problem), markup=False)
    out.print(f"{len(results) - bad} valid, {bad} invalid", markup=False)
    raise typer.Exit(EXIT_INPUT if bad else 0)


@audit_app.command("verify")
def audit_verify(
    anchor: Annotated[
        str | None,
        typer.Option(help="A head hash recorded earlier: proves no newer entries were cut off."),
    ] = None,
) -> None:
    """Recompute the audit log's hash chain; exit 2 naming the first entry that does not verify."""
    from sqlmodel import Session

    from clarion import audit
    from clarion.errors import AuditChainBroken, ClarionError
    from clarion.store import get_engine, reading, require_current

    if anchor is not None and not re.fullmatch(r"[0-9a-f]{64}", anchor):
        raise fail("--anchor: a head hash is 64 hex digits, as `clarion audit verify` prints it", EXIT_INPUT)
    try:
        engine = require_current(get_engine())
        with reading(engine) as connection, Session(bind=connection) as session:
            report = audit.verify(session=session, anchor=anchor)
    except AuditChainBroken as exc:
        raise fail(f"audit log TAMPERED: {exc}", EXIT_INPUT) from exc
    except ClarionError as exc:
        raise fail(f"error: {exc}") from exc
    out.print(f"audit log intact: {report.entries} entries, head {report.head_hash}", markup=False)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the store's schema to the newest migration."""
    from clarion.store import current_revision, describe, get_engine, migrate

    engine = get_engine()
    migrate(engine)
    out.print(f"store at {current_revision(engine)}: {describe(engine.url)}")


def main() -> None:
    """The ``clarion`` command: every failure clarion can name is one line and an exit code.

    Arguments are refused before any command runs when they carry a control character or a
    bidirectional override (a reason, a name or a path typed with one would be stored, printed or
    sent). Commands handle what they expect; what escapes them is mapped here, once: a person's bad
    input exits 2 (a model refusing a value included), an unusable setting (CLARION_SECRET_KEY…) or
    store 1, Ctrl-C 130. Anything else is a bug and keeps its traceback.
    """
    import sys

    from clarion.errors import ClarionError, InputError

    if (refused := _unsafe_argument(sys.argv[1:])) is not None:
        err.print(refused)
        raise SystemExit(EXIT_INPUT)
    try:
        app()
    except InputError as exc:
        err.print(str(exc))
        raise SystemExit(EXIT_INPUT) from None
    except ClarionError as exc:
        err.print(f"error: {exc}")
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise SystemExit(130) from None
    except Exception as exc:
        raise SystemExit(_mapped(exc)) from None


def _unsafe_argument(arguments: list[str]) -> str | None:
    """Why an argument may not be taken ("argument 4 (--reason): control character U+001B…")."""
    from clarion.files.text import first_unsafe, quoted

    for index, argument in enumerate(arguments):
        if (problem := first_unsafe(argument)) is not None:
            option = arguments[index - 1] if index and arguments[index - 1].startswith("-") else None
            named = f" ({option})" if option and "=" not in argument else ""
            return f"argument {index + 1}{named} {quoted(argument, limit=60)}: {problem}: type it without"
    return None


def _mapped(exc: Exception) -> int:
    """The exit code of an error a library raised that clarion can name; re-raises anything else.

    Only a loaded library can have raised its errors, so neither is imported here for the check.
    """
    import sys

    validation = sys.modules.get("pydantic")
    if validation is not None and isinstance(exc, validation.ValidationError):
        for error in exc.errors(include_url=False, include_input=False):
            where = ".".join(str(part) for part in error["loc"]) or exc.title
            err.print(f"{exc.title}: {where}: {error['msg']}")
        return EXIT_INPUT
    database = sys.modules.get("sqlalchemy.exc")
    if database is not None and isinstance(exc, database.SQLAlchemyError):
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        err.print(f"error: the store failed: {reason[0] if reason else type(exc).__name__}")
        return 1
    raise exc
