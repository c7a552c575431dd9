"""Benchmark: how fast the commander's first message reaches a provider, and how fast the CLI answers.

    .venv/bin/python bench/declare.py [--runs 5] [--help-runs 5]

1. ``clarion --help`` against ``python -c "import prefect"`` (what a CLI that imported Prefect would
   pay before doing anything), medians of --help-runs runs, side by side.
2. With the whole ``clarion serve`` stack running (Prefect server, flow runner, web app, sandbox;
   its own home in a temporary folder), --runs times: ``clarion declare data-breach --facts … --no-wait``
   as a subprocess, the two approvals answered through the REST API the moment the publish run
   pauses (as a quick human would with ``clarion approve``), until the provider sandbox has accepted
   the first message. Prints each phase and the medians: the CLI, creation to pause (the runner's
   2 s poll, process spawn, draft), the approvals (the pause's 2 s poll, twice), and publish to
   first acceptance.
Prints figures, asserts nothing; the machine is noisy, so read the medians and the ratio.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
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


def declare_figures(runs: int) -> None:
    from clarion.audiences.audience import copy_csv_to_table
    from clarion.settings import get_settings
    from clarion.store import get_engine, migrate
    from faces.demo import Story, _free_port
    from faces.prefect_api import PrefectApi
    from faces.stack import Stack

    home = Path(tempfile.mkdtemp(prefix="clarion-bench-"))
    prefect_port, web_port, sandbox_port = _free_port(), _free_port(), _free_port()
    os.environ.update(
        {
            "CLARION_HOME": str(home),
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
        assert stack.sandbox is not None
        rows: list[tuple[float, float, float]] = []
        for n in range(1, runs + 1):
            accepted_before = _accepted(stack.sandbox)
            t0 = time.perf_counter()
            done = subprocess.run(  # noqa: S603 — our own CLI
                [CLARION, "declare", "data-breach", "--facts", str(facts_file), "--no-wait"],
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
            )
            cli = time.perf_counter() - t0
            found = re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", done.stdout)
            assert found is not None, done.stdout
            run_id = found[0]
            story = Story(api, stack, engine)
            story.reference, story.accepted_before = f"INC-{n:04d}", accepted_before
            story._approve_and_finish(run_id, declared=t0)  # polls the sandbox every 0.3 s meanwhile
            first = story.first_accepted or time.perf_counter() - t0
            rows.append((cli, first, time.perf_counter() - t0))
            print(
                f"run {n}: clarion declare {cli:5.2f} s, first message accepted {first:6.2f} s, "
                f"run finished {rows[-1][2]:6.2f} s"
            )
        for label, column in (
            ("clarion declare (the CLI)", 0),
            ("declare → first message accepted", 1),
            ("declare → run completed", 2),
        ):
            values = [r[column] for r in rows]
            median = statistics.median(values)
            print(f"{label:34} median {median:6.2f} s  min {min(values):6.2f}  max {max(values):6.2f}")


def _accepted(sandbox: str) -> int:
    stats = httpx.get(f"{sandbox}/_sandbox/stats", timeout=5).json()
    return sum(int(n) for n in (stats.get("accepted") or {}).values())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--help-runs", type=int, default=5)
    args = parser.parse_args()
    cli_figures(args.help_runs)
    declare_figures(args.runs)


if __name__ == "__main__":
    main()
