"""Benchmark: the commander's first word, and how fast the CLI answers.

    .venv/bin/python bench/declare.py [--runs 10] [--help-runs 5]

1. ``clarion --help`` against ``python -c "import prefect"`` (what a CLI that imported Prefect would
   pay before doing anything), medians of --help-runs runs, side by side.
2. With the whole ``clarion serve`` stack running (Prefect server, flow runner, web app, sandbox;
   its own home in a temporary folder, and a copy of the playbooks whose data breach names an
   acknowledgement), --runs times: ``clarion declare data-breach --facts … --no-wait`` as a
   subprocess; the two approvals answered through the REST API the moment the publish run pauses
   for each (as two quick humans with ``clarion approve``). Times come from the store, on the wall
   clock: the acknowledgement's publication, the first approval request a provider accepted, the
   first message of the approved update a provider accepted. Prints each run's phases and their
   medians side by side: the CLI, declare → acknowledgement published, declare → approval request,
   declare → paused for approval, the approvals, last approval → first acceptance.
Prints figures, asserts nothing; the machine is noisy, so read the medians.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CLARION = str(Path(sys.executable).with_name("clarion"))


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, capture_output=True, timeout=120)  # noqa: S603 — our own CLI
    return time.perf_counter() - started


def cli_figures(runs: int) -> None:
    help_times = [timed([CLARION, "--help"]) for _ in range(runs)]
    prefect_times = [timed([sys.executable, "-c", "import prefect"]) for _ in range(runs)]
    h, p = statistics.median(help_times), statistics.median(prefect_times)
    for label, median, times in (
        ("clarion --help", h, help_times),
        ("python -c 'import prefect'", p, prefect_times),
    ):
        print(f"{label:26} median {median:6.2f} s  (runs: {', '.join(f'{t:.2f}' for t in times)})")
    print(f"ratio                     clarion --help takes {h / p:.2f}x the time of importing prefect alone")


ACKNOWLEDGEMENT = """
acknowledgement:                 # added by bench/declare.py: the first word, before any approval
  channels: [statuspage, banner]
  next_update_in: 30m
"""
PHASES = (
    ("clarion declare (the CLI)", "cli"),
    ("declare → acknowledgement published", "ack"),
    ("declare → approval request accepted", "asked"),
    ("declare → paused for approval", "paused"),
    ("first → last approval answered", "approvals"),
    ("last approval → first acceptance", "first"),
    ("declare → first acceptance", "total"),
)


def declare_figures(runs: int) -> None:
    from clarion.audiences.audience import copy_csv_to_table
    from clarion.settings import get_settings
    from clarion.store import get_engine, migrate
    from faces.demo import _free_port
    from faces.prefect_api import PrefectApi
    from faces.stack import Stack

    home = Path(tempfile.mkdtemp(prefix="clarion-bench-"))
    playbooks = home / "playbooks"
    shutil.copytree(ROOT / "playbooks", playbooks)
    breach = playbooks / "data-breach.yaml"
    breach.write_text(breach.read_text(encoding="utf-8") + ACKNOWLEDGEMENT, encoding="utf-8")
    prefect_port, web_port, sandbox_port = _free_port(), _free_port(), _free_port()
    os.environ.update(
        {
            "CLARION_HOME": str(home),
            "CLARION_PLAYBOOKS_DIR": str(playbooks),
            "CLARION_PREFECT_API_URL": f"http://127.0.0.1:{prefect_port}/api",
            "CLARION_SANDBOX_URL": f"http://127.0.0.1:{sandbox_port}",
            "CLARION_PUBLIC_URL": f"http://127.0.0.1:{web_port}",
            "DO_NOT_TRACK": "1",
        }
    )
    os.environ.pop("PREFECT_API_URL", None)
    get_settings.cache_clear()
    engine = get_engine()
    migrate(engine)
    copy_csv_to_table(
        engine, ROOT / "examples" / "audiences" / "affected-customers.csv", "affected_customers"
    )
    facts = yaml.safe_load((ROOT / "examples" / "facts" / "data-breach.yaml").read_text(encoding="utf-8"))
    for key in ("reference", "as_of", "aware_at", "started_at"):
        facts.pop(key)
    facts_file = home / "breach.yaml"
    facts_file.write_text(yaml.safe_dump(facts, allow_unicode=True), encoding="utf-8")
    started = time.perf_counter()
    with Stack(get_settings()) as stack, PrefectApi(stack.prefect_api) as api:
        print(f"stack up in {time.perf_counter() - started:.1f} s (first start of a Prefect server)")
        rows: list[dict[str, float]] = []
        for n in range(1, runs + 1):
            rows.append(_one(api, stack, engine, facts_file, f"INC-{n:04d}"))
            print(f"run {n}: " + ", ".join(f"{key} {value:5.2f} s" for key, value in rows[-1].items()))
        print()
        for label, key in PHASES:
            values = [r[key] for r in rows if key in r]
            if values:
                median = statistics.median(values)
                print(f"{label:38} median {median:6.2f} s  min {min(values):6.2f}  max {max(values):6.2f}")


def _one(api: Any, stack: Any, engine: Any, facts_file: Path, reference: str) -> dict[str, float]:
    """One declaration, its two approvals answered at once, timed from the store's wall clock."""
    from faces.demo import Story

    t0 = datetime.now(UTC)
    mono = time.perf_counter()
    cli = subprocess.Popen(  # noqa: S603 — our own CLI
        [CLARION, "declare", "data-breach", "--facts", str(facts_file), "--no-wait"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = cli.communicate(timeout=120)
    if cli.returncode != 0:
        raise SystemExit(f"clarion declare failed: {out}{err}")
    figures = {"cli": time.perf_counter() - mono}
    found = re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", out)
    assert found is not None, out
    story = Story(api, stack, engine)
    story.reference = reference
    answered: list[datetime] = []
    deadline = time.monotonic() + 300
    while len(answered) < 2 and time.monotonic() < deadline:
        for paused in api.paused_subflows(found[0]):
            if "paused" not in figures:
                figures["paused"] = (datetime.now(UTC) - t0).total_seconds()
            role, approver = story._next_approver(paused.name)
            api.resume(paused.id, {"role": role, "approver": approver, "approved": True, "reason": ""})
            answered.append(datetime.now(UTC))
            break
        else:
            time.sleep(0.05)
    if len(answered) < 2:
        raise SystemExit(f"{reference}: the approvals were not asked for within 300 s")
    figures["approvals"] = (answered[1] - answered[0]).total_seconds()
    times = _wait_for_times(engine, reference, deadline)
    figures["ack"] = (times["ack"] - t0).total_seconds()
    figures["asked"] = (times["asked"] - t0).total_seconds()
    figures["first"] = (times["first"] - answered[1]).total_seconds()
    figures["total"] = (times["first"] - t0).total_seconds()
    return figures


def _wait_for_times(engine: Any, reference: str, deadline: float) -> dict[str, datetime]:
    """When the acknowledgement was published, the first approval request and the first message of
    the approved update were accepted by a provider (as the store recorded them)."""
    from sqlmodel import Session, col, func, select

    from clarion.kinds import UpdateKind
    from clarion.models import Delivery, Incident, Notice, Update

    while time.monotonic() < deadline:
        with Session(engine) as session:
            incident = session.exec(select(Incident).where(Incident.reference == reference)).one()
            ack = session.exec(
                select(func.min(Update.published_at)).where(
                    Update.incident_id == incident.id, Update.kind == UpdateKind.ACKNOWLEDGEMENT
                )
            ).one()
            asked = session.exec(
                select(func.min(Delivery.accepted_at))
                .join(Notice, col(Notice.id) == col(Delivery.notice_id))
                .where(Notice.kind == "responder-approval", col(Notice.about).startswith(f"{reference}/"))
            ).one()
            first = session.exec(
                select(func.min(Delivery.accepted_at))
                .join(Update, col(Update.id) == col(Delivery.update_id))
                .where(Update.incident_id == incident.id, Update.kind == UpdateKind.INITIAL)
            ).one()
        if ack is not None and asked is not None and first is not None:
            return {"ack": _aware(ack), "asked": _aware(asked), "first": _aware(first)}
        time.sleep(0.2)
    raise SystemExit(f"{reference}: not every time was recorded within 300 s")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--help-runs", type=int, default=5)
    args = parser.parse_args()
    cli_figures(args.help_runs)
    declare_figures(args.runs)


if __name__ == "__main__":
    main()
