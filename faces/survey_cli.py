"""``clarion survey``: what an incident's survey found, and a person's requests about their answers.

``clarion survey report INC-0042 [--json]`` prints the survey's figures (:mod:`clarion.surveys.report`):
response rates per channel, the score distributions, NPS, the trust signals, the positive-to-negative
ratio and the quotes their writers allowed. ``clarion survey export-recipient ID [--out FILE]``
answers an access request with everything surveys hold about one recipient (JSON; a file is written
readable by its owner only), and ``clarion survey forget-recipient ID --yes`` an erasure request
(:mod:`clarion.surveys.privacy`). ``clarion survey tag`` runs the trust-signal tagger on a text or
a labelled set. Heavy modules are imported inside the commands.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from faces.console import errors_to_exit, out
from faces.incident_cli import Reference
from faces.survey_tag_cli import tag

survey_app = typer.Typer(
    help="Follow-up surveys: the report of an incident's survey, access and erasure requests.",
    no_args_is_help=True,
)

RecipientId = Annotated[str, typer.Argument(help="The recipient's id in the source system (external id).")]
By = Annotated[
    str | None,
    typer.Option("--by", envvar="CLARION_ACTOR", help="Who you are (goes into the audit log)."),
]


@survey_app.command("report")
def report(
    reference: Reference,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """The survey of an incident: rates, scores, NPS, trust signals, the ratio and quotes."""
    with errors_to_exit():
        from sqlmodel import Session

        from clarion.store import get_engine, get_incident, reading, require_current
        from clarion.surveys.report import report_json, report_markdown, survey_report
        from faces.incident_checks import checked_reference

        checked_reference(reference)
        with reading(require_current(get_engine())) as connection, Session(bind=connection) as session:
            found = survey_report(
                session=session, incident=get_incident(session=session, reference=reference)
            )
        if as_json:
            out.print(json.dumps(report_json(found), indent=2), markup=False)
        else:
            out.print(report_markdown(found), markup=False, end="")


@survey_app.command("export-recipient")
def export_recipient(
    external_id: RecipientId,
    to: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the JSON to this file (mode 0600), not stdout.")
    ] = None,
) -> None:
    """Everything surveys hold about one recipient, as JSON (an access request)."""
    with errors_to_exit():
        from sqlmodel import Session

        from clarion.store import get_engine, reading, require_current
        from clarion.surveys import privacy
        from faces.console import err

        with reading(require_current(get_engine())) as connection, Session(bind=connection) as session:
            data = privacy.export_recipient(session=session, external_id=external_id)
        if to is None:  # ASCII: what people wrote reaches the terminal escaped, never as it is
            out.print(json.dumps(data, indent=2), markup=False)
            return
        _write_private(to, json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        err.print(f"{_summary(data)} of {external_id!r} written to {to}", markup=False)


@survey_app.command("forget-recipient")
def forget_recipient(
    external_id: RecipientId,
    yes: Annotated[bool, typer.Option("--yes", help="Yes, erase it: this cannot be undone.")] = False,
    by: By = None,
) -> None:
    """Erase what surveys hold about one recipient (an erasure request); needs --yes."""
    with errors_to_exit():
        from clarion.errors import InputError, Problem
        from clarion.models import utcnow
        from clarion.store import get_engine, require_current, session_scope
        from clarion.surveys import privacy
        from clarion.surveys.report import counted

        if not yes:
            raise InputError(
                [
                    Problem(
                        "--yes",
                        None,
                        "",
                        f"this deletes every survey invitation, answer and follow-up of {external_id!r} "
                        "and cannot be undone: add --yes (`clarion survey export-recipient` first, "
                        "to keep a copy for them)",
                    )
                ]
            )
        with session_scope(require_current(get_engine())) as session:
            counts = privacy.forget_recipient(
                session=session, external_id=external_id, now=utcnow(), by=by or _login()
            )
        out.print(
            f"erased the survey data of {external_id!r}: {counted(counts['invitations'], 'invitation')}, "
            f"{counted(counts['answers'], 'answer')}, {counted(counts['followups'], 'follow-up')} deleted; "
            f"{counted(counts['notices'], 'notice')} kept without address or content"
            + (f", {counts['suppressed']} of them no longer to be sent" if counts["suppressed"] else ""),
            markup=False,
        )


def _summary(data: dict[str, Any]) -> str:
    from clarion.surveys.report import counted

    nouns = {"invitations": "invitation", "answers": "answer", "followups": "follow-up", "notices": "notice"}
    return ", ".join(counted(len(data[key]), noun) for key, noun in nouns.items())


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` readable and writable by its owner only (personal data), whatever was there."""
    from clarion.errors import InputError, Problem, display_path

    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            os.fchmod(file.fileno(), 0o600)  # a file that existed keeps its mode otherwise
            file.write(text)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputError([Problem(display_path(path), None, "--out", f"cannot write: {reason}")]) from None


def _login() -> str:
    """Who ran the command, when neither --by nor CLARION_ACTOR says."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


survey_app.command("tag")(tag)
