"""``clarion demo``: a whole data-breach incident, end to end, on this machine, in a few minutes.

It starts what ``clarion serve`` starts (a Prefect server, the flow runner, the web app and the
provider sandbox) in a home of its own (``.clarion/demo``, made afresh each time so no timer of an
earlier demo acts on this one), with the incident's clock running :data:`TIME_SCALE` times faster
than the wall clock. Then it plays the commander and the approvers through the same REST calls the
CLI makes:

declare (the example facts) → approvals by legal and the DPO, answered by the demo and shown as such
→ publish to email, SMS, Mastodon, Bluesky and the banner → a second update → a promise left to
lapse, so the cadence timer publishes a holding statement → resolve.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from faces.console import console
from faces.demo_commitments import promised, ship_and_tell
from faces.demo_facts import COMMANDER, FIX_DE, FIX_EN, PREVENTION_DE, PREVENTION_EN, declaration
from faces.demo_inside import listed, wait_received
from faces.demo_summary import print_summary

TIME_SCALE = 120.0
"""An hour of incident time in 30 s: a promised hourly update lapses (with its grace) in 35 s, after
the demo has posted its own second update, so the holding statement comes where the story wants it."""
STEP_TIMEOUT = 180.0
DPO = "dpo@example.com"
LEGAL = "legal-on-call@example.com"
COMMANDER_SLACK = "C0INCIDENT1"  # the commander's Slack channel in playbooks/people/responders.yaml
"""The data-breach playbook's DPO, who files the GDPR notice in the demo."""

out = console()
err = console(stderr=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def demo(
    keep: Annotated[
        bool,
        typer.Option("--keep", help="Keep everything running afterwards, so the links work (Ctrl-C stops)."),
    ] = False,
    time_scale: Annotated[
        float, typer.Option(min=1.0, max=3600.0, help="How much faster the incident's clock runs.")
    ] = TIME_SCALE,
) -> None:
    """Run a whole data-breach incident end to end against the provider sandbox (no accounts needed)."""
    from clarion.errors import ClarionError
    from clarion.settings import get_settings
    from faces.supervisor import StackError

    home = (Path.cwd() / ".clarion" / "demo").resolve()
    shutil.rmtree(home, ignore_errors=True)
    prefect_port, web_port, sandbox_port = _free_port(), _free_port(), _free_port()
    for key in [k for k in os.environ if k.startswith(("CLARION_", "PREFECT_API"))]:
        del os.environ[key]  # the demo uses none of the caller's providers, stores or servers
    os.environ.update(
        {
            "CLARION_HOME": str(home),
            "CLARION_TIME_SCALE": str(time_scale),
            "CLARION_PREFECT_API_URL": f"http://127.0.0.1:{prefect_port}/api",
            "CLARION_SANDBOX_URL": f"http://127.0.0.1:{sandbox_port}",
            "CLARION_PUBLIC_URL": f"http://127.0.0.1:{web_port}",
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
    )
    get_settings.cache_clear()
    started = time.monotonic()
    try:
        _run(home, keep=keep, time_scale=time_scale)
    except StackError as exc:
        err.print(f"demo: {exc}", markup=False)
        for line in exc.details():
            err.print(line, markup=False)
        raise typer.Exit(1) from None
    except (ClarionError, TimeoutError) as exc:
        err.print(f"demo failed: {exc}", markup=False)
        err.print(f"logs: {home / 'logs'}", markup=False)
        raise typer.Exit(1) from None
    out.print(f"\ndemo finished in {time.monotonic() - started:.0f} s", markup=False)


def _run(home: Path, *, keep: bool, time_scale: float) -> None:
    from clarion.audiences.audience import copy_csv_to_table
    from clarion.settings import PROJECT_ROOT, get_settings
    from clarion.store import get_engine, migrate
    from faces.prefect_api import PrefectApi
    from faces.stack import Stack

    settings = get_settings()
    engine = get_engine()
    migrate(engine)
    seeded = copy_csv_to_table(
        engine, PROJECT_ROOT / "examples" / "audiences" / "affected-customers.csv", "affected_customers"
    )
    _say(f"store {settings.effective_database_url}: {seeded} affected customers in table affected_customers")
    _say(
        f"the incident's clock runs {time_scale:g}x faster than the wall clock "
        f"(an hour in {3600 / time_scale:.0f} s)"
    )
    with Stack(settings, console=err) as stack, PrefectApi(stack.prefect_api) as api:
        _say(f"running: Prefect UI {stack.prefect_ui}, web app {stack.web}, provider sandbox {stack.sandbox}")
        story = Story(api, stack, engine)
        story.play()
        story.summary()
        if keep:
            out.print("\neverything keeps running; Ctrl-C stops it", markup=False)
            stack.wait()


def _say(text: str) -> None:
    out.print(f"· {text}", markup=False)


class Story:
    """The demo's incident, step by step, driven through the Prefect REST API like the CLI."""

    def __init__(self, api: Any, stack: Any, engine: Any) -> None:
        self.api, self.stack, self.engine = api, stack, engine
        self.reference = ""
        self.first_accepted: float | None = None
        self.accepted_before = 0
        """Messages the sandbox had accepted before this story began (its first is the next one)."""

    # ── the steps ────────────────────────────────────────────────────────────────────────────────

    def play(self) -> None:
        from flows.deployments import DECLARE, POST_UPDATE, RESOLVE

        declared = time.monotonic()
        run = self.api.create_run(DECLARE.full_name, {"declaration": declaration()})
        _say(f"declared a data breach: run {run.id} ({self.api.ui}/runs/flow-run/{run.id})")
        asked = wait_received(
            self.stack.sandbox,
            "Approval needed",
            lambda found: {LEGAL, DPO} <= found.get("email", set()),
            "the approval requests",
            self.stack.check,
        )
        _say(f"the approvers were asked, with the draft and the command that answers: {listed(asked)}")
        self._approve_and_finish(run.id, declared=declared)

        run = self.api.create_run(
            POST_UPDATE.full_name,
            {
                "request": {
                    "reference": self.reference,
                    "story": {
                        "en": {"fix": {"text": FIX_EN, "short": "Access closed."}},
                        "de": {"fix": {"text": FIX_DE, "short": "Zugang gesperrt."}},
                    },
                }
            },
        )
        _say(f"posted update 2 (what we did since): run {run.id}")
        self._approve_and_finish(run.id)

        _say("now nobody posts the promised next update: waiting for the cadence timers…")
        self._wait_for(lambda: self._audited("cadence.reminder"), "the reminder to the commander")
        reminded = wait_received(
            self.stack.sandbox,
            "The next update is promised",
            lambda found: (
                COMMANDER in found.get("email", set()) and COMMANDER_SLACK in found.get("slack", set())
            ),
            "the commander's reminder on Slack and by email",
            self.stack.check,
        )
        _say(f"the reminder reached the commander: {listed(reminded)} (read back from the sandbox inbox)")
        after = self._latest_number()
        self._wait_for(lambda: self._published_kind("holding", after=after), "the holding statement")
        _say(
            "the promise lapsed: the cadence timer published a holding statement on every channel, "
            "no approval needed"
        )
        lapsed = wait_received(
            self.stack.sandbox,
            "The promised update is late",
            lambda found: {COMMANDER, LEGAL, DPO} <= found.get("email", set()),
            "the escalated lapse",
            self.stack.check,
        )
        _say(f"and the lapse was escalated to the commander, approvers and backups: {listed(lapsed)}")

        self._notify_regulator()

        run = self.api.create_run(
            RESOLVE.full_name,
            {
                "request": {
                    "reference": self.reference,
                    "story": {
                        "en": {
                            "prevention": {
                                "text": PREVENTION_EN,
                                "short": "Second reviews.",
                            }
                        },
                        "de": {
                            "prevention": {
                                "text": PREVENTION_DE,
                                "short": "Zweite Prüfung.",
                            }
                        },
                    },
                    "changes": {"commitments": promised(self.engine, self.reference)},
                }
            },
        )
        _say(f"resolved the incident, promising two changes as commitments: run {run.id}")
        self._approve_and_finish(run.id)

        from faces.demo_survey import play_survey

        play_survey(self.api, self.stack, self.engine, self.reference)
        ship_and_tell(self.api, self.stack, self.engine, self.reference)

    def _notify_regulator(self) -> None:
        """The DPO drafts the GDPR Art. 33 notice from the facts and records its submission, as
        `clarion notify-regulator` does; the watcher is told, as the CLI tells it."""
        from sqlmodel import Session, select

        from clarion.compliance import deadlines
        from clarion.incidents.clock import IncidentClock
        from clarion.incidents.reports import time_left
        from clarion.models import Incident
        from clarion.settings import get_settings
        from faces.deadlines_show import draft_for
        from flows.deployments import WATCH_DEADLINES

        with Session(self.engine, expire_on_commit=False) as session:
            incident = session.exec(select(Incident).where(Incident.reference == self.reference)).one()
            now = IncidentClock(incident.declared_at, get_settings().time_scale).now()
            notice, _ = draft_for(session, incident, "gdpr-art33", "initial", now=now)
            filled = len(notice.lines) - len(notice.missing)
            _say(
                f"the DPO drafted the GDPR Art. 33 notice from the incident's facts, {filled} of "
                f"{len(notice.lines)} fields filled (`clarion notify-regulator {self.reference} "
                "--regime gdpr-art33`)"
            )
            met, *started = deadlines.record_submission(
                session=session,
                incident=incident,
                regime_id="gdpr-art33",
                stage_id="initial",
                at=now,
                by=DPO,
                reference="SA-DEMO-0001",
            )
            session.commit()
        early = time_left(met.due_at - now)
        _say(
            f"and recorded it as submitted, {early} before the 72-hour deadline "
            f"(`… --submitted --by {DPO} --reference SA-DEMO-0001`); started: "
            + (", ".join(f"{r.regime}/{r.stage}" for r in started) or "nothing")
        )
        self.api.create_run(
            WATCH_DEADLINES.full_name, {"reference": self.reference}, name=f"{self.reference} · deadlines"
        )

    def _approve_and_finish(self, run_id: str, *, declared: float | None = None) -> None:
        """Answer every approval the run asks for (as the playbook's approvers), then wait for it."""
        from clarion.errors import ClarionError

        deadline = time.monotonic() + STEP_TIMEOUT
        answered: set[tuple[str, str]] = set()
        while time.monotonic() < deadline:
            self.stack.check()
            run = self.api.read_run(run_id)
            if run.name.startswith("INC-") and not self.reference:
                self.reference = run.name.split(" ", 1)[0]
            if (
                declared is not None
                and self.first_accepted is None
                and self._accepted() > self.accepted_before
            ):
                self.first_accepted = time.monotonic() - declared
            if run.state_type == "COMPLETED":
                return
            if run.state_type in ("FAILED", "CRASHED", "CANCELLED"):
                raise ClarionError(f"run {run.name} ended {run.state_name}: {run.state_message}")
            for paused in self.api.paused_subflows(run_id):
                key = (paused.id, str(paused.state_details.get("pause_key")))
                if key in answered:
                    continue
                role, approver = self._next_approver(paused.name)
                self.api.resume(
                    paused.id, {"role": role, "approver": approver, "approved": True, "reason": ""}
                )
                answered.add(key)
                _say(
                    f"{paused.name}: approved as {role} by {approver} (answered by the demo; "
                    f"in real life: clarion approve {self.reference} --as {role} --by {approver})"
                )
            time.sleep(0.3)
        raise TimeoutError(f"run {run_id} did not finish within {STEP_TIMEOUT:.0f} s")

    # ── what the store says ──────────────────────────────────────────────────────────────────────

    def _next_approver(self, run_name: str) -> tuple[str, str]:
        """The first role still to answer for the update a paused run (``INC-… · update N · …``) holds."""
        from sqlmodel import Session, select

        from clarion.incidents.approvals import pending_roles
        from clarion.models import Incident, Update
        from clarion.playbook import load_playbook, resolve_playbook
        from clarion.settings import get_settings

        with Session(self.engine) as session:
            incident = session.exec(select(Incident).where(Incident.reference == self.reference)).one()
            number = int(run_name.split("· update ", 1)[1].split(" ", 1)[0])
            update = session.exec(
                select(Update).where(Update.incident_id == incident.id, Update.number == number)
            ).first()
            playbook = load_playbook(resolve_playbook(incident.playbook, get_settings().playbooks_dir))
            assert update is not None
            role = pending_roles(session=session, update=update, playbook=playbook)[0]
        step = next(s for s in playbook.approvals if s.role == role)
        return role, step.approvers[0]

    def _accepted(self) -> int:
        """Messages of updates (to customers and the public) a provider accepted; notices to the
        people inside are not counted."""
        from sqlmodel import Session, col, func, select

        from clarion.kinds import DeliveryState
        from clarion.models import Delivery

        done = (DeliveryState.ACCEPTED, DeliveryState.DELIVERED)
        with Session(self.engine) as session:
            statement = select(func.count()).where(
                col(Delivery.update_id).is_not(None), col(Delivery.state).in_(done)
            )
            return int(session.exec(statement).one())

    def _audited(self, action: str) -> bool:
        from sqlmodel import Session, col, select

        from clarion.models import AuditEvent

        with Session(self.engine) as session:
            statement = select(AuditEvent.id).where(
                AuditEvent.action == action, col(AuditEvent.subject).startswith(self.reference)
            )
            return session.exec(statement).first() is not None

    def _latest_number(self) -> int:
        from sqlmodel import Session, func, select

        from clarion.models import Update

        with Session(self.engine) as session:
            return int(session.exec(select(func.max(Update.number))).one() or 0)

    def _published_kind(self, kind: str, *, after: int) -> bool:
        from sqlmodel import Session, col, select

        from clarion.kinds import UpdateKind, UpdateState
        from clarion.models import Update

        with Session(self.engine) as session:
            statement = select(Update.id).where(
                Update.kind == UpdateKind(kind),
                Update.state == UpdateState.PUBLISHED,
                col(Update.number) > after,
            )
            return session.exec(statement).first() is not None

    def _wait_for(self, done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + STEP_TIMEOUT
        while not done():
            self.stack.check()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} did not come within {STEP_TIMEOUT:.0f} s")
            time.sleep(0.5)

    def summary(self) -> None:
        print_summary(self.engine, self.stack, self.reference, first_accepted=self.first_accepted)
