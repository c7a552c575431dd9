"""``clarion declare | update | resolve | approve | status``: run incidents on the Prefect server.

These commands talk to a running server (``clarion serve``) over its REST API
(:mod:`faces.prefect_api`) and never import Prefect, which alone takes seconds. Everything that can
be checked here is checked before the server is asked (:mod:`faces.incident_checks`): facts files
name file, line and field; an approver must be listed for the role in the incident's playbook.
``status`` reads the clarion store and asks the server only for the scheduled cadence checks.

This module imports only typer, so ``clarion --help`` stays fast; the rest is imported on use.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from faces.console import errors_to_exit

Wait = Annotated[
    bool,
    typer.Option("--wait/--no-wait", help="Follow the run until it waits for approval, completes or fails."),
]
Timeout = Annotated[float, typer.Option(min=1, help="Stop following after this many seconds.")]
Reference = Annotated[str, typer.Argument(help='The incident, e.g. "INC-0042".')]
UpdateFacts = Annotated[
    Path | None,
    typer.Option(
        "--facts",
        "-f",
        help="What changed (YAML): status, severity, story; any other key replaces that fact.",
    ),
]


def declare(
    playbook: Annotated[str, typer.Argument(help="Playbook name (in the playbooks folder).")],
    facts: Annotated[Path, typer.Option("--facts", "-f", help="Facts file (YAML) of the first update.")],
    commander: Annotated[
        str | None, typer.Option(help="Who leads the incident (gets the cadence reminders).")
    ] = None,
    jurisdiction: Annotated[
        list[str] | None,
        typer.Option(
            "--jurisdiction",
            "-j",
            help="Start this jurisdiction's regulatory clocks too (EU, GB, US, US-CA, BR, SG…); repeatable.",
        ),
    ] = None,
    wait: Wait = True,
    timeout: Timeout = 300,
) -> None:
    """Declare an incident: check the facts here, then start the declare-incident flow on the server."""
    with errors_to_exit():
        from clarion.errors import ClarionError
        from faces.acknowledge import acknowledge_first
        from faces.console import err
        from faces.incident_checks import declaration
        from faces.prefect_api import connect
        from flows.deployments import DECLARE

        checked = declaration(playbook, facts, commander, jurisdiction or [])
        with connect() as api:  # the server and the flow are there before a word goes out
            api.deployment_id(DECLARE.full_name)
        acknowledged = acknowledge_first(checked)
        parameters = {"declaration": acknowledged.model_dump(mode="json", exclude_none=True)}
        try:
            _start(
                DECLARE.full_name,
                parameters,
                name=f"declare · {checked.playbook}",
                wait=wait,
                timeout=timeout,
            )
        except ClarionError:
            if acknowledged is not checked:  # the first word is out: say how to go on from it
                reference = acknowledged.facts.reference
                err.print(
                    f"{reference} is acknowledged, but its declaration did not start: "
                    f"`clarion update {reference}` drafts its first update from the declared facts",
                    markup=False,
                )
            raise


def update(
    reference: Reference,
    facts: UpdateFacts = None,
    status: Annotated[
        str | None, typer.Option(help="The new status: investigating, identified, monitoring or resolved.")
    ] = None,
    correction: Annotated[
        bool, typer.Option("--correction", help="Correct the last update instead of adding news.")
    ] = False,
    wait: Wait = True,
    timeout: Timeout = 300,
) -> None:
    """Publish the incident's next update (or a correction): what changed since the last one."""
    with errors_to_exit():
        from faces.console import CommandRefused
        from faces.incident_checks import update_request
        from flows.deployments import POST_UPDATE

        if facts is None and status is None:
            raise CommandRefused("nothing to publish: give --facts FILE with what changed, or --status")
        request = update_request(reference, facts, status=status, resolving=False)
        kind = "correction" if correction else "update"
        parameters = {"request": request.model_dump(mode="json", exclude_none=True), "kind": kind}
        _start(
            POST_UPDATE.full_name,
            parameters,
            name=f"{reference} · {kind}",
            tags=(reference,),
            wait=wait,
            timeout=timeout,
        )


def resolve(
    reference: Reference,
    facts: UpdateFacts = None,
    wait: Wait = True,
    timeout: Timeout = 300,
) -> None:
    """Publish the resolution: the last update, the banner cleared, the cadence stopped."""
    with errors_to_exit():
        from faces.incident_checks import update_request
        from flows.deployments import RESOLVE

        request = update_request(reference, facts, status=None, resolving=True)
        _start(
            RESOLVE.full_name,
            {"request": request.model_dump(mode="json", exclude_none=True)},
            name=f"{reference} · resolve",
            tags=(reference,),
            wait=wait,
            timeout=timeout,
        )


def approve(
    reference: Reference,
    role: Annotated[str, typer.Option("--as", help="The approval role you answer for (e.g. legal).")],
    by: Annotated[
        str,
        typer.Option(
            "--by",
            envvar="CLARION_APPROVER",
            help="Your address, as the playbook lists it (recorded as asserted: nothing verifies it).",
        ),
    ],
    reject: Annotated[bool, typer.Option("--reject", help="Reject the drafts (needs --reason).")] = False,
    reason: Annotated[str | None, typer.Option(help="Why you reject, or what you changed.")] = None,
) -> None:
    """Answer the approval an incident's update waits for (who you are is asserted, not verified)."""
    import json

    with errors_to_exit():
        from clarion.incidents import approvals
        from faces.console import CommandRefused, out
        from faces.incident_checks import (
            incident_and_playbook,
            listed_approver,
            pending_roles,
        )
        from faces.incident_show import paused_run
        from faces.prefect_api import connect
        from flows.models import ApprovalAnswer

        if reject and not (reason and reason.strip()):
            raise CommandRefused(f"--reject needs --reason ({approvals.REASON_NEEDED})")
        _, book = incident_and_playbook(reference)
        approver = listed_approver(book, reference, role, by)
        pending = pending_roles(reference)
        if not pending:
            raise CommandRefused(f"no approval is waiting for {reference}", code=1)
        if role not in pending:
            still = ", ".join(pending)
            raise CommandRefused(
                f"{role} has already approved the draft of {reference}; waiting for: {still}"
            )
        answer = ApprovalAnswer(role=role, approver=approver, approved=not reject, reason=reason or "")
        run_input = answer.model_dump(mode="json", exclude={"story"})
        with connect() as api:
            run = paused_run(api, reference)
            api.resume(run.id, run_input)
        verdict = "rejected" if reject else "approved"
        out.print(f"{verdict} {reference} as {role} ({approver}): resumed run {run.name}", markup=False)
        out.print(
            f"  identity asserted, not verified: recorded as {verdict} by {approver} (asserted); "
            "clarion does not check who typed --by",
            markup=False,
        )
        out.print(f"  sent {json.dumps(run_input, ensure_ascii=False)}", markup=False)


def status(
    reference: Annotated[
        str | None, typer.Argument(help="One incident in full; all incidents when left out.")
    ] = None,
) -> None:
    """Where incidents stand: updates, promises, deliveries, approvals (read from the store)."""
    with errors_to_exit():
        from clarion.errors import NotFound
        from clarion.incidents.incident_status import incident_report, list_incidents
        from clarion.settings import get_settings
        from clarion.store import describe, exists, get_engine, require_current
        from faces.console import out
        from faces.incident_checks import checked_reference
        from faces.incident_show import print_incidents, print_report

        settings = get_settings()
        folder, scale = settings.playbooks_dir, settings.time_scale
        engine = get_engine()
        if not exists(engine):  # a command that reads never creates the store it reads
            if reference is not None:
                raise NotFound("incident", checked_reference(reference))
            where = describe(engine.url)
            out.print(
                f"no incidents yet: no store at {where} (`clarion serve` or `clarion db upgrade` makes it)"
            )
            return
        require_current(engine)
        if reference is None:
            print_incidents(list_incidents(get_engine(), playbooks_dir=folder, time_scale=scale))
        else:
            checked = checked_reference(reference)
            print_report(
                incident_report(get_engine(), reference=checked, playbooks_dir=folder, time_scale=scale)
            )


def _start(
    deployment: str,
    parameters: Mapping[str, Any],
    *,
    name: str,
    tags: tuple[str, ...] = (),
    wait: bool,
    timeout: float,
) -> None:
    """Create the run, say where to see it, and follow it when asked to."""
    from faces.console import out
    from faces.incident_show import follow
    from faces.prefect_api import connect, run_url

    with connect() as api:
        run = api.create_run(deployment, parameters, name=name, tags=tags)
        out.print(f"started {deployment}: run {run.name} ({run.id})", markup=False)
        out.print(f"  {run_url(api.ui, run.id)}", markup=False)
        if wait:
            follow(api, run, timeout)
