"""Benchmark: regulatory clock arithmetic, side by side in one run (prints figures, asserts nothing).

    .venv/bin/python bench/deadlines.py [--repeat 30]

1. due() per clock kind: hours, calendar days, SEC business days (calendar warm), months.
2. Four SEC business days: clarion's calendar (the year's holidays built once per process) vs the
   obvious approach (build ``holidays.US`` for the year on every call, then walk the days).
3. Declaring: starting every stage of every enabled regime for one incident (open_incident with
   every jurisdiction), on an in-memory SQLite store, per incident.
Medians of --repeat runs; the machine is noisy, so compare the ratios, not absolute times.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import holidays
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from clarion import store
from clarion.incidents.lifecycle import open_incident
from clarion.kinds import IncidentStatus
from clarion.playbook import load_playbook
from clarion.regimes import Clock, due, get_regime, jurisdictions

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2025, 1, 8, 21, 0, tzinfo=UTC)


def median_seconds(work: Callable[[], object], repeat: int, inner: int = 1) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(inner):
            work()
        samples.append((time.perf_counter() - started) / inner)
    return statistics.median(samples)


def naive_sec_due(start: date, count: int) -> date:
    """Four SEC business days the obvious way: a fresh holiday table per call."""
    closed = holidays.US(years=start.year, categories=("public", "government"))
    day, counted = start, 0
    while counted < count:
        day += timedelta(days=1)
        if day.year != start.year:
            closed = holidays.US(years=day.year, categories=("public", "government"))
        if day.weekday() < 5 and day not in closed:
            counted += 1
    return day


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    sec = get_regime("sec-8k-item-105")
    clocks = {
        "hours (GDPR 72 h)": Clock(hours=72),
        "calendar days (HIPAA 60)": Clock(calendar_days=60),
        "business days (SEC 4, warm)": sec.stage("item-105").clock,
        "months (NIS2 1)": Clock(months=1),
    }
    print("1. due() per call, median")
    for name, clock in clocks.items():
        due(START, clock, sec.zone)  # warm the calendar
        seconds = median_seconds(lambda clock=clock: due(START, clock, sec.zone), args.repeat, inner=200)
        print(f"   {name:30s} {seconds * 1e6:8.1f} µs")

    sec_clock = sec.stage("item-105").clock
    local = START.astimezone(sec.zone).date()
    assert naive_sec_due(local, 4) == due(START, sec_clock, sec.zone).astimezone(sec.zone).date()
    ours = median_seconds(lambda: due(START, sec_clock, sec.zone), args.repeat, inner=50)
    naive = median_seconds(lambda: naive_sec_due(local, 4), args.repeat, inner=5)
    print("2. four SEC business days from 2025-01-08, median per call")
    print(f"   clarion (calendar cached)      {ours * 1e6:8.1f} µs")
    print(f"   holidays.US built per call     {naive * 1e6:8.1f} µs   ({naive / ours:.0f}x clarion)")

    book = load_playbook(ROOT / "playbooks" / "data-breach.yaml")
    engine = store.make_engine("sqlite://", poolclass=StaticPool)
    store.migrate(engine)
    codes = jurisdictions()
    counter = iter(range(1, 1_000_000))

    def declare() -> int:
        with Session(engine) as session:
            incident = open_incident(
                session=session,
                playbook=book,
                reference=f"INC-{next(counter):06d}",
                title="bench",
                severity="sev1",
                status=IncidentStatus.INVESTIGATING,
                aware_at=START,
                started_at=None,
                commander=None,
                jurisdictions=codes,
            )
            session.commit()
            return len(incident.regimes)

    running = declare()
    seconds = median_seconds(declare, args.repeat)
    print(f"3. declaring with every jurisdiction ({', '.join(codes)}): {running} regimes")
    print(f"   open_incident + start_clocks   {seconds * 1e3:8.1f} ms per incident (SQLite in memory)")


if __name__ == "__main__":
    main()
