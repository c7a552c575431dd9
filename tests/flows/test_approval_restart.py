"""A pending approval survives a stop of the runner (issue 17, item 6).

The declare run is a real process, as under ``clarion serve``: it pauses for approval, the legal
approver answers, then the process is killed and its runs are cancelled, as the runner does when it
shuts down ("Runner is shutting down"). The next outbox sweep starts one run of ``internal: publish an
update`` for the update (a second sweep starts none); that run, executed as the runner executes a
run (``python -m prefect.engine``), asks only the DPO, sends nobody a second request, keeps the first
request's time, and publishes once the DPO answers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
from prefect.client.schemas.objects import FlowRun
from prefect.flow_runs import resume_flow_run
from prefect.settings import PREFECT_API_URL
from prefect.states import Cancelled
from sqlmodel import Session, col, select

from channels.sandbox.runner import SandboxHandle
from clarion import store
from clarion.kinds import UpdateState
from clarion.models import Approval, AuditEvent, Update
from flows.delivery import outbox_sweep
from tests.flows.conftest import facts_file, paused_runs
from tests.helpers import ROOT, customers

LEGAL = "legal-on-call@example.com"
DPO = "dpo@example.com"
NAME = "INC-0001 · update 1 · publish"
DECLARE = """
import sys, yaml
from flows.incident import declare_incident
from flows.models import Declaration
data = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
for key in ("as_of", "aware_at", "reference", "started_at", "next_update_by"):
    data.pop(key, None)
declare_incident(Declaration(playbook="data-breach", facts=data, commander="ic@example.com"))
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "PYTHONPATH": str(ROOT)}


def _wait_paused(pending_key: str | None = None, timeout: float = 120) -> FlowRun:
    """The publish run once it is paused under another key than ``pending_key``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in paused_runs():
            if run.name == NAME and run.state.state_details.pause_key != pending_key:
                return run
        time.sleep(0.3)
    raise AssertionError(f"{NAME} did not pause")


def _runs(name: str) -> list[FlowRun]:
    with get_client(sync_client=True) as client:
        return list(client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name]))))


def _audit(action: str) -> list[AuditEvent]:
    with Session(store.get_engine()) as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)))


def _asked(sandbox: SandboxHandle) -> list[str]:
    return sorted(r.address for r in sandbox.inbox("email") if "Approval needed" in (r.subject or ""))


def test_an_approval_pending_when_the_runner_stops_is_answered_after_the_restart(
    sandbox: SandboxHandle,
) -> None:
    declaring = subprocess.Popen(
        [sys.executable, "-c", DECLARE, str(facts_file("data-breach"))], env=_env(), cwd=ROOT
    )
    try:
        first = _wait_paused()
        resume_flow_run(first.id, run_input={"role": "legal", "approver": LEGAL, "approved": True})
        _wait_paused(pending_key=first.state.state_details.pause_key)  # now waiting for the DPO
    finally:
        declaring.kill()
        declaring.wait()
    with get_client(sync_client=True) as client:  # what the runner does to its runs when it stops
        for run in _runs(NAME) + _runs("INC-0001 · update 1"):
            client.set_flow_run_state(run.id, Cancelled(message="Runner is shutting down."), force=True)
    requested = _audit("approval.requested")
    assert len(requested) == 1
    assert _asked(sandbox) == [DPO, LEGAL]
    assert customers(sandbox.inbox()) == []

    outbox_sweep()
    outbox_sweep()  # the first sweep's run is scheduled, so live: no second one
    [readopted] = [r for r in _runs(NAME) if r.state_type.value == "SCHEDULED"]
    assert len(_audit("approval.readopted")) == 1
    assert readopted.parameters == {"reference": "INC-0001", "update_number": 1}

    running = subprocess.Popen(
        [sys.executable, "-m", "prefect.engine"],
        env={**_env(), "PREFECT__FLOW_RUN_ID": str(readopted.id)},
        cwd=ROOT,
    )
    try:
        third = _wait_paused(pending_key=None)
        assert third.id == readopted.id
        form: dict[str, Any] = {"role": "dpo", "approver": DPO, "approved": True}
        resume_flow_run(third.id, run_input=form)
        assert running.wait(timeout=180) == 0
    finally:
        running.kill()
    assert len(_audit("approval.requested")) == 1  # the same request: its windows were kept
    assert _asked(sandbox) == [DPO, LEGAL]  # nobody asked twice
    with Session(store.get_engine()) as session:
        [update] = session.exec(select(Update))
        decisions = [(a.role, a.approver) for a in session.exec(select(Approval).order_by(col(Approval.id)))]
    assert update.state is UpdateState.PUBLISHED
    assert decisions == [("legal", LEGAL), ("dpo", DPO)]
    assert {c: len(customers(sandbox.inbox(c))) for c in ("email", "sms")} == {"email": 5, "sms": 5}
