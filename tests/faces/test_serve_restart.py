"""A cadence timer survives ``clarion serve`` being stopped: the reminder comes late, not never.

The whole one-machine stack runs for real (Prefect server, flow runner, web app, sandbox) with the
incident's clock 24 times faster than the wall clock, so the reminder of an hourly promise falls
due 112 s after the incident is declared (time enough for two approvals and a publish on a busy CI
machine). The stack is stopped before that moment and started
again after it, from the same home: the scheduled run is a row in the Prefect server's database,
so the restarted runner finds it late and the reminder reaches the audit log.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa
import yaml

from clarion.audiences.audience import copy_csv_to_table
from clarion.store import make_engine, migrate
from tests.faces.processes import free_port
from tests.helpers import ROOT

CLARION = str(Path(sys.executable).with_name("clarion"))
SCALE = 24.0
STARTUP = 300.0


@contextlib.contextmanager
def serving(
    home: Path, env: dict[str, str], ports: dict[str, int], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    argv = [CLARION, "serve", "--port", str(ports["web"]), "--prefect-port", str(ports["prefect"])]
    argv += ["--sandbox-port", str(ports["sandbox"])]
    with log.open("ab") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    groups: list[int] = []
    try:
        deadline = time.monotonic() + STARTUP
        while log.read_text().count("clarion is running") < 1 + log.read_text().count("clarion stopped"):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        groups += [int(path.read_text()) for path in (home / "run").iterdir()]
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for group in groups:  # never leave a Prefect server behind
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)


def clarion(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLARION, *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def wait_for(engine: sa.Engine, query: str, timeout: float) -> sa.Row[tuple[object, ...]]:
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as connection:
            row = connection.execute(sa.text(query)).first()
        if row is not None:
            return row
        assert time.monotonic() < deadline, f"nothing for: {query}"
        time.sleep(0.5)


def scheduled_run(api: str, name: str, timeout: float) -> dict[str, object]:
    """The flow run called ``name`` once it is scheduled (the publish flow sets its timers last)."""
    deadline = time.monotonic() + timeout
    body = {"flow_runs": {"name": {"any_": [name]}, "state": {"type": {"any_": ["SCHEDULED"]}}}}
    while True:
        runs = httpx.post(f"{api}/flow_runs/filter", json=body, timeout=10).json()
        if runs:
            run: dict[str, object] = runs[0]
            return run
        assert time.monotonic() < deadline, f"no scheduled run {name!r}"
        time.sleep(0.5)


def test_a_reminder_due_while_serve_is_down_comes_late_after_a_restart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ports = {"web": free_port(), "prefect": free_port(), "sandbox": free_port()}
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")} | {
        "CLARION_HOME": str(home),
        "CLARION_PREFECT_API_URL": f"http://127.0.0.1:{ports['prefect']}/api",
        "CLARION_TIME_SCALE": str(SCALE),
    }
    engine = make_engine(f"sqlite:///{home / 'clarion.db'}")
    migrate(engine)
    copy_csv_to_table(
        engine, ROOT / "examples" / "audiences" / "affected-customers.csv", "affected_customers"
    )
    facts = yaml.safe_load((ROOT / "examples" / "facts" / "data-breach.yaml").read_text(encoding="utf-8"))
    for key in ("reference", "as_of", "aware_at", "started_at"):
        facts.pop(key)
    facts_file = tmp_path / "breach.yaml"
    facts_file.write_text(yaml.safe_dump(facts, allow_unicode=True), encoding="utf-8")
    log = tmp_path / "serve.log"

    with serving(home, env, ports, log):
        declared = clarion(env, "declare", "data-breach", "--facts", str(facts_file), "--no-wait")
        assert declared.returncode == 0, declared.stderr
        for role, who in (("legal", "legal-on-call@example.com"), ("dpo", "dpo@example.com")):
            wait_for(engine, "select id from incident_update where state = 'pending_approval'", 120)
            answered = clarion(env, "approve", "INC-0001", "--as", role, "--by", who)
            assert answered.returncode == 0, answered.stderr
        published = wait_for(
            engine, "select published_at, next_update_by from incident_update where state = 'published'", 120
        )
        reminder_run = scheduled_run(env["CLARION_PREFECT_API_URL"], "INC-0001 · update 1 · reminder", 120)
    # serve is stopped: the reminder (15 min of incident time before the promise) falls due meanwhile
    stopped_at = datetime.now(UTC)
    declared_at = wait_for(engine, "select declared_at from incident", 1)[0]
    anchor = datetime.fromisoformat(str(declared_at)).replace(tzinfo=UTC)
    promise = datetime.fromisoformat(str(published[1])).replace(tzinfo=UTC)
    reminder_due = anchor + (promise - timedelta(minutes=15) - anchor) / SCALE
    assert stopped_at < reminder_due, "the first update took too long: the reminder was due before the stop"
    expected = datetime.fromisoformat(str(reminder_run["expected_start_time"]))
    assert abs((expected - reminder_due).total_seconds()) < 1
    with engine.connect() as connection:
        assert (
            connection.execute(
                sa.text("select count(*) from audit_event where action = 'cadence.reminder'")
            ).scalar()
            == 0
        )
    time.sleep(max(0.0, (reminder_due - datetime.now(UTC)).total_seconds()) + 2)

    with serving(home, env, ports, log):
        at = wait_for(engine, "select at from audit_event where action = 'cadence.reminder'", 180)[0]
    reminded = datetime.fromisoformat(str(at)).replace(tzinfo=UTC)
    assert reminded > reminder_due  # late, but it came
    assert log.read_text().count("clarion is running") == 2
