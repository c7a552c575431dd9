"""The production path end to end, as the README's production notes set it up (issue 12, item 7).

A Prefect server on PostgreSQL; the clarion store and the audience table on another PostgreSQL
database, migrated once by ``clarion db upgrade``; ``prefect.yaml`` deployed with ``prefect deploy
--all`` to a process work pool; two ``prefect worker start --pool clarion``. The example data breach
is declared and approved with the command line, and a flow run a worker started must publish it on
every channel: no traceback or ``KeyError`` (Alembic run from concurrent tasks) in a worker's log,
nothing left in the outbox, the cadence timers scheduled. Every process and database the test made
is gone at its end, even when it fails (:mod:`tests.flows.production`).

About 70 s on a 2-core machine; ``pytest -s`` prints the time of each phase.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC
from pathlib import Path

import httpx
import pytest
import yaml
from sqlmodel import Session, col, select

from clarion.audiences.audience import copy_csv_to_table
from clarion.channel_table import internal_channels
from clarion.kinds import UpdateState
from clarion.models import Approval, AuditEvent, Banner, Delivery, Incident, Update
from faces.supervisor import Service
from flows.deployments import CADENCE_CHECK, RETRY_DELIVERY, SPECS
from tests.faces.processes import eventually, group_members
from tests.flows.production import (
    CLARION,
    PREFECT,
    Phases,
    Production,
    databases_left,
    production,
    rich_rows,
    runs,
    url_text,
    workers_online,
)
from tests.helpers import ROOT, customers

pytestmark = pytest.mark.postgres

POOL = "clarion"
WORKERS = ("w1", "w2")
FACTS = ROOT / "examples" / "facts" / "data-breach.yaml"
AUDIENCE_CSV = ROOT / "examples" / "audiences" / "affected-customers.csv"
APPROVERS = (("legal", "legal-on-call@example.com"), ("dpo", "dpo@example.com"))
SERVER_TIMEOUT = 300.0  # a first start runs Prefect's migrations: generous for a busy CI machine
WORKER_TIMEOUT = 120.0
SENT = {"email": 5, "sms": 5, "mastodon": 2, "bluesky": 2}
"""Deliveries per channel (one per person or per locale)."""
POSTED = {**SENT, "bluesky": 2 * 4}
"""What the sandbox takes per channel: each Bluesky delivery is a thread of four posts."""
BANNERS = 4  # two audiences × two locales
ENDED_BADLY = {"FAILED", "CRASHED", "CANCELLED"}
NEVER_IN_A_WORKER_LOG = ("Traceback", "KeyError", "Finished in state Failed", "Crashed")


# ── the steps, as the README says them ────────────────────────────────────────────────────────────


def start_server(p: Production) -> None:
    database = url_text(p.databases["prefect"], driver="postgresql+asyncpg")
    p.supervisor.start(
        Service(
            "prefect-server",
            "the Prefect server",
            [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(p.port)],
            p.env | {"PREFECT_SERVER_DATABASE_CONNECTION_URL": database, "PREFECT_UI_API_URL": p.api_url},
            lambda: httpx.get(f"{p.api_url}/health", timeout=5).json() is True,
            SERVER_TIMEOUT,
        )
    )


def deploy(p: Production) -> None:
    p.run(PREFECT, "work-pool", "create", POOL, "--type", "process")
    p.run(PREFECT, "--no-prompt", "deploy", "--all", cwd=ROOT)
    for spec in SPECS:
        found = httpx.get(f"{p.api_url}/deployments/name/{spec.full_name}", timeout=10)
        assert found.status_code == 200, f"{spec.full_name} was not deployed"
        deployment = found.json()
        assert (deployment["work_pool_name"], deployment["entrypoint"]) == (POOL, spec.entrypoint)
        assert deployment["pull_steps"] == [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}
        ]


def start_workers(p: Production) -> None:
    """Both workers, started together; ready once both have said they are online."""
    for name in WORKERS:
        ready = workers_online(p.api_url, POOL, WORKERS) if name == WORKERS[-1] else lambda: True
        argv = [PREFECT, "worker", "start", "--pool", POOL, "--name", name]
        p.supervisor.start(Service(f"worker-{name}", f"worker {name}", argv, p.env, ready, WORKER_TIMEOUT))


def declare(p: Production, reference: str) -> str:
    """``clarion declare … --no-wait``; the declare run's id, once the store says approval is pending."""
    said = p.run(CLARION, "declare", "data-breach", "--facts", str(FACTS), "--no-wait")
    found = re.search(r"\(([0-9a-f-]{36})\)", said)
    assert found, said

    def pending() -> bool:
        with Session(p.engine) as session:
            update = session.exec(
                select(Update).join(Incident).where(Incident.reference == reference, Update.number == 1)
            ).first()
        return update is not None and update.state is UpdateState.PENDING_APPROVAL

    p.wait(pending, f"{reference} update 1 waiting for approval")
    return found.group(1)


def approve(p: Production, reference: str) -> None:
    """``clarion approve`` for each role, waiting until the store has recorded one before the next."""
    for role, approver in APPROVERS:
        said = p.run(CLARION, "approve", reference, "--as", role, "--by", approver)
        assert f"approved {reference} as {role} ({approver})" in said
        p.wait(_recorded(p, role), f"the {role} approval recorded")


def _recorded(p: Production, role: str) -> Callable[[], bool]:
    def recorded() -> bool:
        with Session(p.engine) as session:
            return session.exec(select(Approval).where(Approval.role == role)).first() is not None

    return recorded


def completed(p: Production, run_id: str) -> None:
    def done() -> bool:
        run = p.prefect.read_run(run_id)
        assert run.state_type not in ENDED_BADLY, (
            f"run {run.name} ended {run.state_name}: {run.state_message}"
        )
        return run.state_type == "COMPLETED"

    p.wait(done, "the declare run completed")


# ── what must be true afterwards ──────────────────────────────────────────────────────────────────


def check_sent(p: Production, reference: str, run_id: str) -> None:
    """Every channel received what it should, the store agrees, and nothing is left to retry."""
    subflows = runs(p.api_url, {"flow_runs": {"parent_flow_run_id": {"any_": [run_id]}}})
    assert [(r["name"], r["state_type"]) for r in subflows] == [
        (f"{reference} · update 1 · publish", "COMPLETED")
    ]
    assert {channel: len(customers(p.sandbox.inbox(channel))) for channel in POSTED} == POSTED
    with Session(p.engine) as session:
        banners = len(session.exec(select(Banner)).all())
        of_updates = select(Delivery).where(col(Delivery.update_id).is_not(None))  # notices inside aside
        deliveries = Counter((d.channel.value, d.state.value) for d in session.exec(of_updates))
        actions = session.exec(select(AuditEvent.action).where(col(AuditEvent.subject).startswith(reference)))
        audited = set(actions.all())
    assert banners == BANNERS
    assert deliveries == Counter(
        {**{(c, "accepted"): n for c, n in SENT.items()}, ("banner", "accepted"): BANNERS}
    )
    assert "update.published" in audited
    assert "update.delivery-incomplete" not in audited
    assert runs(p.api_url, {"flows": {"name": {"any_": [RETRY_DELIVERY.flow_name]}}}) == []


def check_commands(p: Production, reference: str) -> None:
    """``clarion outbox status`` has nothing pending, claimed or failed; ``clarion status`` shows the
    update published and the reminder and lapse timers, which are runs the work pool will start."""
    outbox = rich_rows(p.run(CLARION, "outbox", "status"))
    header, rows = outbox[0], outbox[1:]
    inside = {c.value for c in internal_channels()}  # the notices to the people inside, sent too
    assert sorted(row[0] for row in rows if row[0] not in inside) == sorted([*SENT, "banner"])
    for row in rows:
        cells = dict(zip(header, row, strict=True))
        assert (cells["pending"], cells["claimed"], cells["failed"]) == ("0", "0", "0"), row

    status = p.run(CLARION, "status", reference)
    assert [row[1:3] for row in rich_rows(status) if row[0] == "1"] == [["initial", "published"]], status
    timers = p.prefect.scheduled_runs(CADENCE_CHECK.flow_name, reference)
    assert sorted(t.name for t in timers) == [
        f"{reference} · update 1 · lapse",
        f"{reference} · update 1 · reminder",
    ]
    for timer in timers:
        assert timer.expected_start_time is not None
        assert f"cadence check {timer.expected_start_time.astimezone(UTC):%Y-%m-%d %H:%M} UTC" in status
        assert timer.name in status
    scheduled = runs(p.api_url, {"flow_runs": {"id": {"any_": [t.id for t in timers]}}})
    cadence = p.prefect.deployment_id(CADENCE_CHECK.full_name)
    assert {(r["deployment_id"], r["work_pool_name"], r["state_type"]) for r in scheduled} == {
        (cadence, POOL, "SCHEDULED")
    }


def check_worker_logs(p: Production) -> None:
    for name in WORKERS:
        log = (p.logs / f"worker-{name}.log").read_text(encoding="utf-8")
        for bad in NEVER_IN_A_WORKER_LOG:
            assert bad not in log, f"worker {name}'s log holds {bad!r}:\n{log}"
    p.supervisor.check()  # the server and both workers still run


# ── the test ──────────────────────────────────────────────────────────────────────────────────────


def test_production_path_publishes_on_every_channel_with_a_work_pool_two_workers_and_postgresql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in [k for k in os.environ if k.startswith("PREFECT_")]:
        monkeypatch.delenv(key)  # the processes inherit the test's environment: no stray profile
    reference = yaml.safe_load(FACTS.read_text(encoding="utf-8"))["reference"]
    phases = Phases()
    groups: list[int] = []
    databases: list[str] = []
    try:
        with ExitStack() as made:
            with phases("create two databases; start the sandbox"):
                p = made.enter_context(production(tmp_path))
            databases = [str(url.database) for url in p.databases.values()]
            with phases("start the Prefect server on PostgreSQL"):
                start_server(p)
            with phases("clarion db upgrade; seed affected_customers"):
                p.run(CLARION, "db", "upgrade")
                assert copy_csv_to_table(p.engine, AUDIENCE_CSV, "affected_customers") == 6
            with phases("prefect work-pool create; prefect deploy --all"):
                deploy(p)
            with phases("start two workers"):
                start_workers(p)
                groups = list(p.supervisor.pids.values())
            with phases("clarion declare; the run waits for approval"):
                run_id = declare(p, reference)
            with phases("clarion approve as legal, then as dpo"):
                approve(p, reference)
            with phases("publish: the declare run completes"):
                completed(p, run_id)
            with phases("check sandbox, store, outbox, status, timers, logs"):
                check_sent(p, reference, run_id)
                check_commands(p, reference)
                check_worker_logs(p)
    finally:
        print(phases.report())

    assert eventually(lambda: group_members(groups) == [], timeout=10), "a process was left running"
    assert databases and databases_left(databases) == []
