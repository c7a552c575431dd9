"""Benchmark: fan-out to N recipients by email and SMS through the provider sandbox, side by side with
the bare-httpx floor and the naive per-recipient SDK loop (prints figures, asserts nothing).

    .venv/bin/python bench/fanout.py [--recipients 100000] [--sms-recipients 10000] [--latency-ms 20]
        [--threads 8] [--naive-sample 300] [--channels email,sms] [--repeat 1]
        [--database postgresql://user@host:5432] [--unsubscribe] [--breakdown] [--memory-check] [--overlap]
    .venv/bin/python bench/fanout.py --matrix [--matrix-sizes 100000,1000000] [--matrix-latencies 20,250]
        [--database postgresql://user@host:5432]

--matrix runs email alone (stage, send, bare, naive) on SQLite and on PostgreSQL (--database, else
the local server) at each latency for each size, and prints one table with each cell's rates, its
ratios (send, and stage and send together, against the bare send; send against the naive loop),
each phase's peak RSS, the aims met or not, and how peak memory grew from the smallest size to the
largest.

One recipients CSV (a mix of locales, time zones and mail domains; the first --sms-recipients rows
have a mobile number) is written once. The sandbox runs as its own process with --latency-ms per
request and no message texts kept; its counters are reset before every phase. Every phase runs in
its own process, so each peak RSS is that phase's own:

* clarion stage: check + render + enqueue the data-breach example (rows written, rows/s);
* clarion <channel>: the outbox worker (``--threads``, ``http_client(connections=2 x threads)``),
  one run per channel, so each channel's throughput is clean;
* bare httpx: the same batched requests from plain dicts, same thread count and pool, no database;
* naive: a sequential per-recipient SDK loop over --naive-sample recipients (its rate is the
  sample's; it grows linearly, so the sample is enough).

--database takes a PostgreSQL server URL: each run creates its own database there and drops it.
--memory-check runs clarion (stage + email) again at N/10 and shows both peak RSS side by side.
--overlap also stages the email while a worker already runs (started first, on the migrated store,
as ``clarion outbox work`` runs beside a publish), each request sent as staging seals it; its figure
is from staging's start to the last acceptance, beside stage-then-send.
--breakdown shows where clarion's worker threads spend their time (thread-seconds in claim, body
building, HTTP and record; on SQLite, how much of claim and record was waiting for the worker's lock).
Medians of --repeat runs; the machine is shared and noisy, so compare ratios, not absolute rates.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
LOCALES = ("en", "en", "de", "de", "fr", "")  # fr and blank fall back to the playbook's first locale
ZONES = ("", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Europe/London")  # blank: the public zone
DOMAINS = ("example.com", "example.org", "mail.example.net")
AIM_BARE, AIM_NAIVE = 0.8, 100.0
AIM_BARE_POSTGRES, AIM_TOGETHER = 0.6, 0.5


def write_recipients(path: Path, n: int, *, sms: int) -> Path:
    """A recipients CSV, streamed; rows below ``sms`` have a mobile number (German or French)."""
    rng = random.Random(42)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "email", "phone", "locale", "time_zone"])
        for i in range(n):
            phone = "" if i >= sms else (f"+49151{i:08d}" if i % 2 else f"+336{i:08d}")
            email = f"customer{i}@{rng.choice(DOMAINS)}"
            writer.writerow([f"c{i}", email, phone, rng.choice(LOCALES), rng.choice(ZONES)])
    return path


def clean_env() -> dict[str, str]:
    """No CLARION_* setting (a real provider key!) reaches the phases."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CLARION_")}


def run_phase(script: str, *args: str, cwd: Path, fatal: bool = True) -> dict[str, Any]:
    """Run one phase in its own process; its figures are the last line it prints.

    A phase that fails stops the benchmark, unless not ``fatal``: then its figures are its error.
    """
    done = subprocess.run(  # noqa: S603 — our own scripts, with our own arguments
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env=clean_env(),
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        if fatal:
            raise SystemExit(f"{script} {args[0]} failed with exit code {done.returncode}")
        lines = [line for line in done.stderr.splitlines() if "Error:" in line or "Exception:" in line]
        return {"error": (lines or [f"exit code {done.returncode}"])[-1][:160]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    brief = {k: v for k, v in result.items() if isinstance(v, int | float)}
    shown = ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v:,.2f}" for k, v in brief.items())
    log(f"  {Path(script).stem} {args[0]}: {shown}")
    return result


class Sandbox:
    """``python -m channels.sandbox`` in its own process."""

    def __init__(self, folder: Path, latency_ms: float) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        config = folder / "sandbox.json"
        config.write_text(json.dumps({"latency_ms": latency_ms, "keep_text": False}), encoding="utf-8")
        self.url = f"http://127.0.0.1:{port}"
        self.log = (folder / "sandbox.log").open("w", encoding="utf-8")
        command = [sys.executable, "-m", "channels.sandbox", "--port", str(port), "--config", str(config)]
        self.process = subprocess.Popen(  # noqa: S603 — the project's own sandbox
            command, cwd=ROOT, stdout=self.log, stderr=self.log, env=clean_env()
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.stats()
                return
            except httpx.TransportError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.1)
        self.stop()
        raise SystemExit(f"the sandbox did not start; see {folder / 'sandbox.log'}")

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = httpx.get(f"{self.url}/_sandbox/stats", timeout=30).json()
        return stats

    def reset(self) -> None:
        httpx.post(f"{self.url}/_sandbox/reset", timeout=30).raise_for_status()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@contextmanager
def fresh_database(server: str | None, folder: Path, run: str) -> Iterator[str]:
    """A new SQLite file, or a new database on the PostgreSQL server (dropped afterwards)."""
    if server is None:
        yield f"sqlite:///{folder / f'{run}.db'}"
        return
    url = sa.make_url(server).set(drivername="postgresql+psycopg")
    name = f"clarion_fanout_{os.getpid()}_{run}"
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def in_sandbox(sandbox: Sandbox, channel: str, figures: dict[str, Any]) -> dict[str, Any]:
    """The phase's figures with what the sandbox saw (requests, accepted, duplicates)."""
    stats = sandbox.stats()
    figures["sandbox"] = {
        "requests": stats["requests"]["total"],
        "accepted": stats["accepted"][channel],
        "duplicates": stats["duplicates"][channel],
    }
    return figures


def run_clarion(
    args: argparse.Namespace, sandbox: Sandbox, folder: Path, recipients: Path, run: str
) -> dict[str, Any]:
    """Stage, then send each channel in its own worker run: figures by step."""
    with fresh_database(args.database, folder, run) as database:
        stage_args = ["stage", "--database", database, "--csv", str(recipients)]
        stage_args += ["--plan-out", str(folder / "plan.json")] + ["--unsubscribe"] * args.unsubscribe
        figures = {"stage": run_phase("fanout_clarion.py", *stage_args, cwd=folder)}
        for channel in args.channels:
            log(f"{run}: clarion sends {channel}")
            sandbox.reset()
            send_args = ["send", "--database", database, "--sandbox", sandbox.url, "--channel", channel]
            send_args += ["--threads", str(args.threads)] + ["--breakdown"] * args.breakdown
            result = run_phase("fanout_clarion.py", *send_args, cwd=folder, fatal=False)
            figures[channel] = in_sandbox(sandbox, channel, result)
    return figures


def run_overlapped(
    args: argparse.Namespace, sandbox: Sandbox, folder: Path, recipients: Path, run: str
) -> dict[str, Any]:
    """Email staged while a worker already runs (as ``clarion outbox work`` runs beside a publish):
    the worker starts first, on the migrated store, and sends each request as staging seals it, until
    every recipient's email is accepted. Its figure is from staging's start to the last acceptance."""
    log(f"{run}: clarion stages {args.recipients:,} recipients while a worker sends email")
    sandbox.reset()
    with fresh_database(args.database, folder, run) as database:
        ready = folder / f"{run}.ready"
        send_args = ["send", "--database", database, "--sandbox", sandbox.url, "--channel", "email"]
        send_args += ["--threads", str(args.threads), "--expect", str(args.recipients), "--ready", str(ready)]
        worker = subprocess.Popen(  # noqa: S603 — our own script, with our own arguments
            [sys.executable, str(BENCH / "fanout_clarion.py"), *send_args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=folder,
            env=clean_env(),
        )
        try:
            while not ready.exists():
                if worker.poll() is not None:
                    raise SystemExit(f"the overlapped worker failed: {worker.communicate()[1][-2000:]}")
                time.sleep(0.05)
            stage_args = ["stage", "--database", database, "--csv", str(recipients)]
            stage = run_phase(
                "fanout_clarion.py", *stage_args, "--plan-out", str(folder / "o.json"), cwd=folder
            )
            out, err = worker.communicate(timeout=1800)
        finally:
            if worker.poll() is None:
                worker.kill()
        if worker.returncode != 0:
            raise SystemExit(f"the overlapped worker failed: {err[-2000:]}")
        sent: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    if sent["messages"] < args.recipients:  # stopped at --expect-within: no figure to give
        raise SystemExit(f"the overlapped worker stopped after {sent['messages']:,} of {args.recipients:,}")
    seconds = float(sent["ended_at"]) - float(stage["started_at"])
    log(f"  overlapped: {sent['messages']:,} accepted {seconds:.2f} s after staging began")
    return in_sandbox(sandbox, "email", {"seconds": seconds, "messages": sent["messages"], "stage": stage})


def one_run(
    args: argparse.Namespace, sandbox: Sandbox, folder: Path, recipients: Path, run: str
) -> dict[str, dict[str, Any]]:
    """Every phase once: keys "stage" and (phase, channel) as "clarion email", "bare sms"..."""
    log(f"{run}: clarion stages {args.recipients:,} recipients")
    clarion = run_clarion(args, sandbox, folder, recipients, run)
    figures = {"stage": clarion.pop("stage")}
    for channel in args.channels:
        figures[f"clarion {channel}"] = clarion[channel]
        for kind, limit in (("bare", None), ("naive", args.naive_sample)):
            log(f"{run}: {kind} sends {channel}")
            sandbox.reset()
            base = ["--plan", str(folder / "plan.json"), "--csv", str(recipients), "--sandbox", sandbox.url]
            extra = ["--channel", channel, "--threads", str(args.threads)]
            extra += [] if limit is None else ["--limit", str(limit)]
            result = run_phase("fanout_baselines.py", kind, *base, *extra, cwd=folder)
            figures[f"{kind} {channel}"] = in_sandbox(sandbox, channel, result)
    return figures


def log(message: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def failure(runs: list[dict[str, dict[str, Any]]], key: str) -> str | None:
    return next((str(run[key]["error"]) for run in runs if "error" in run[key]), None)


def median(runs: list[dict[str, dict[str, Any]]], key: str, value: str) -> float:
    return statistics.median(float(run[key][value]) for run in runs)


def rate(runs: list[dict[str, dict[str, Any]]], key: str) -> float:
    return statistics.median(float(run[key]["messages"]) / float(run[key]["seconds"]) for run in runs)


def report(
    args: argparse.Namespace, runs: list[dict[str, dict[str, Any]]], small: dict[str, Any] | None
) -> None:
    where = "PostgreSQL" if args.database else "SQLite"
    print(
        f"fan-out: {args.recipients:,} recipients ({args.sms_recipients:,} with a mobile number), sandbox "
        f"latency {args.latency_ms:g} ms, {args.threads} threads, {where}, median of {len(runs)} run(s)"
    )
    stage = runs[-1]["stage"]
    seconds, check = median(runs, "stage", "seconds"), median(runs, "stage", "check_seconds")
    rows = stage["deliveries"] + stage["recipients"]
    per_channel = ", ".join(f"{c} {n:,}" for c, n in sorted(stage["per_channel"].items()))
    print(
        f"staging (check + render + enqueue): {stage['recipients']:,} recipients → {stage['deliveries']:,} "
        f"deliveries ({per_channel}; the rest broadcasts), {stage['renditions']} renditions"
    )
    print(
        f"  rows written {rows:,} (deliveries + recipients) in {seconds:.1f} s (check {check:.1f} s): "
        f"{rows / seconds:,.0f} rows/s, {stage['deliveries'] / seconds:,.0f} deliveries/s; "
        f"peak RSS {median(runs, 'stage', 'rss_mb'):.0f} MB"
    )
    head = ("phase", "channel", "messages", "seconds", "msg/s", "x bare", "x naive", "peak RSS MB")
    print(
        f"{head[0]:<16}{head[1]:<8}"
        + "".join(f"{h:>12}" for h in head[2:])
        + "   sandbox: requests accepted dups"
    )
    for channel in args.channels:
        bare, naive = rate(runs, f"bare {channel}"), rate(runs, f"naive {channel}")
        for kind, label in (("clarion", "clarion"), ("bare", "bare httpx"), ("naive", "naive loop *")):
            key, last = f"{kind} {channel}", runs[-1][f"{kind} {channel}"]
            box = last["sandbox"]
            if (error := failure(runs, key)) is not None:
                print(f"{label:<16}{channel:<8}  FAILED after {box['accepted']:,} accepted: {error}")
                continue
            print(
                f"{label:<16}{channel:<8}{last['messages']:>12,}{median(runs, key, 'seconds'):>12.2f}"
                f"{rate(runs, key):>12,.0f}{rate(runs, key) / bare:>12.2f}{rate(runs, key) / naive:>12.1f}"
                f"{median(runs, key, 'rss_mb'):>12.0f}   {box['requests']:>17,} {box['accepted']:>8,} "
                f"{box['duplicates']:>4}"
            )
    print(
        f"* naive: sequential, one request per recipient, over a sample of {args.naive_sample:,} (its rate)"
    )
    if "bare email" in runs[-1]:
        same = runs[-1]["bare email"].get("same_body")
        print(f"bare email bodies equal clarion's for the same recipients: {'yes' if same else 'NO'}")
    if args.breakdown:
        breakdown(args, runs[-1])
    aims(args, runs, small)


def breakdown(args: argparse.Namespace, last: dict[str, dict[str, Any]]) -> None:
    for channel in args.channels:
        figures = last[f"clarion {channel}"]
        if "breakdown" not in figures:
            continue
        parts: list[tuple[str, float, int]] = figures["breakdown"]
        capacity = figures["seconds"] * args.threads
        print(
            f"clarion {channel}: where the worker threads' time goes ({args.threads} threads x "
            f"{figures['seconds']:.1f} s = {capacity:.0f} thread-s; {figures['batches']} batches)"
        )
        for name, spent, calls in parts:
            print(
                f"  {name:<34}{spent:>9.1f} thread-s {100 * spent / capacity:>5.1f} %"
                f"{1e3 * spent / calls:>10.1f} ms per call ({calls:,} calls)"
            )


def aims(
    args: argparse.Namespace, runs: list[dict[str, dict[str, Any]]], small: dict[str, Any] | None
) -> None:
    print("aims:")
    if (error := failure(runs, "clarion email")) is not None:
        print(f"  email ratios not measured: clarion's email run failed ({error})")
    elif "email" in args.channels:
        ours = rate(runs, "clarion email")
        bare_aim = AIM_BARE_POSTGRES if args.database else AIM_BARE
        for name, aim in (("bare", bare_aim), ("naive", AIM_NAIVE)):
            ratio = ours / rate(runs, f"{name} email")
            verdict = "met" if ratio >= aim else "NOT met"
            print(f"  email clarion/{name:<5} {ratio:8.2f} x  (aim >= {aim:g} x)  {verdict}")
        bare = rate(runs, "bare email")
        both = statistics.median(
            run["clarion email"]["messages"] / (run["clarion email"]["seconds"] + run["stage"]["seconds"])
            for run in runs
        )
        print(f"  {_verdict('email stage, then send / bare', both / bare, AIM_TOGETHER)}")
        if "overlapped email" in runs[-1]:
            overlapped = rate(runs, "overlapped email")
            print(f"  {_verdict('email staged while sent / bare', overlapped / bare, AIM_TOGETHER)}")
    if small is None:
        print("  memory flat in N: run with --memory-check (clarion again at N/10, peak RSS side by side)")
        return
    tenth = args.recipients // 10
    for step, key in (("stage", "stage"), ("send email", "clarion email")):
        if "error" in small["stage" if key == "stage" else "email"] or failure(runs, key) is not None:
            print(f"  memory, clarion {step:<10} not measured: a run failed")
            continue
        low, high = small["stage" if key == "stage" else "email"]["rss_mb"], median(runs, key, "rss_mb")
        print(
            f"  memory, clarion {step:<10} peak RSS {low:6.0f} MB at N={tenth:,}, {high:6.0f} MB at "
            f"N={args.recipients:,} (x{high / low:.2f} for 10x the recipients)"
        )


def matrix(args: argparse.Namespace) -> None:
    """Email on SQLite and PostgreSQL, at each latency, for each size: one table, in one run."""
    databases: list[str | None] = [None, args.database or "postgresql://postgres@127.0.0.1:5432"]
    cells: list[tuple[str, float, int, dict[str, dict[str, Any]]]] = []
    with tempfile.TemporaryDirectory(prefix="clarion-fanout-") as tmp:
        folder = Path(tmp)
        for size in args.matrix_sizes:
            log(f"writing {size:,} recipients")
            recipients = write_recipients(folder / f"recipients-{size}.csv", size, sms=0)
            for latency in args.matrix_latencies:
                sandbox = Sandbox(folder, latency)
                try:
                    for database in databases:
                        where = "PostgreSQL" if database else "SQLite"
                        cell = argparse.Namespace(
                            **{**vars(args), "recipients": size, "latency_ms": latency, "database": database}
                        )
                        cell.channels, cell.sms_recipients = ["email"], 0
                        run = f"{where.lower()}-{latency:g}ms-{size}"
                        figures = one_run(cell, sandbox, folder, recipients, run)
                        cells.append((where, latency, size, figures))
                finally:
                    sandbox.stop()
            recipients.unlink()
    print_matrix(cells, args.threads)


def print_matrix(cells: list[tuple[str, float, int, dict[str, dict[str, Any]]]], threads: int) -> None:
    print(f"fan-out matrix: email, {threads} threads, one run per cell (rates in recipients per second)")
    head: tuple[str, ...] = ("store", "latency", "recipients", "stage/s", "send/s", "bare/s")
    head += ("send x bare", "both x bare", "x naive", "RSS stage", "RSS send", "RSS bare")
    print(f"{head[0]:<11}{head[1]:>8}{head[2]:>11}" + "".join(f"{h:>12}" for h in head[3:]))
    verdicts: list[str] = []
    peaks: dict[tuple[str, float], dict[int, tuple[float, float]]] = {}
    for where, latency, size, figures in cells:
        stage, send = figures["stage"], figures["clarion email"]
        bare, naive = figures["bare email"], figures["naive email"]
        if "error" in send:
            print(f"{where:<11}{latency:>6g}ms{size:>11,}  FAILED: {send['error']}")
            continue
        bare_rate = bare["messages"] / bare["seconds"]
        send_rate = send["messages"] / send["seconds"]
        both = send["messages"] / (send["seconds"] + stage["seconds"])
        naive_rate = naive["messages"] / naive["seconds"]
        print(
            f"{where:<11}{latency:>6g}ms{size:>11,}{stage['deliveries'] / stage['seconds']:>12,.0f}"
            f"{send_rate:>12,.0f}{bare_rate:>12,.0f}{send_rate / bare_rate:>12.2f}{both / bare_rate:>12.2f}"
            f"{send_rate / naive_rate:>12,.0f}{stage['rss_mb']:>10.0f}MB{send['rss_mb']:>10.0f}MB"
            f"{bare['rss_mb']:>10.0f}MB"
        )
        peaks.setdefault((where, latency), {})[size] = (stage["rss_mb"], send["rss_mb"])
        aim = AIM_BARE if where == "SQLite" else AIM_BARE_POSTGRES
        label = f"{where} {latency:g} ms {size:,}"
        if latency == min(c[1] for c in cells):
            verdicts.append(_verdict(f"send x bare, {label}", send_rate / bare_rate, aim))
        verdicts.append(_verdict(f"stage + send x bare, {label}", both / bare_rate, AIM_TOGETHER))
        verdicts.append(_verdict(f"send x naive, {label}", send_rate / naive_rate, AIM_NAIVE))
    print("aims:")
    for line in verdicts:
        print(f"  {line}")
    for (where, latency), by_size in peaks.items():
        if len(by_size) < 2:
            continue
        low, high = min(by_size), max(by_size)
        (stage_low, send_low), (stage_high, send_high) = by_size[low], by_size[high]
        grew = max(stage_high / stage_low, send_high / send_low)
        print(
            f"  memory, {where} {latency:g} ms: stage {stage_low:.0f} → {stage_high:.0f} MB, send "
            f"{send_low:.0f} → {send_high:.0f} MB from {low:,} to {high:,} recipients (x{grew:.2f})"
        )


def _verdict(name: str, ratio: float, aim: float) -> str:
    return f"{name:<44}{ratio:>9.2f} x  (aim >= {aim:g} x)  {'met' if ratio >= aim else 'NOT met'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--sms-recipients", type=int, default=10_000, help="rows with a mobile number")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="the sandbox's answer delay")
    parser.add_argument("--threads", type=int, default=8, help="clarion's worker and bare's pool")
    parser.add_argument("--naive-sample", type=int, default=300)
    parser.add_argument("--channels", default="email,sms")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--database", help="a PostgreSQL server URL (default: a temporary SQLite file)")
    parser.add_argument("--unsubscribe", action="store_true", help="a non-mandatory audience: signed links")
    parser.add_argument("--breakdown", action="store_true", help="time clarion's worker by part")
    parser.add_argument("--memory-check", action="store_true", help="clarion again at N/10")
    parser.add_argument(
        "--overlap",
        action="store_true",
        help="also email staged while a worker already sends (see docstring)",
    )
    parser.add_argument(
        "--matrix",
        action="store_true",
        help="email on SQLite and PostgreSQL (--database, or the local server) at each --matrix-latencies"
        " for each --matrix-sizes, in one table",
    )
    parser.add_argument("--matrix-sizes", default="100000,1000000")
    parser.add_argument("--matrix-latencies", default="20,250")
    args = parser.parse_args()
    if args.matrix:
        args.matrix_sizes = [int(n) for n in args.matrix_sizes.split(",")]
        args.matrix_latencies = [float(n) for n in args.matrix_latencies.split(",")]
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        matrix(args)
        return
    args.channels = [c.strip() for c in args.channels.split(",") if c.strip()]
    args.sms_recipients = min(args.sms_recipients, args.recipients)
    # Stopped from outside: still stop the sandbox, drop the database and remove the files.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="clarion-fanout-") as tmp:
        folder = Path(tmp)
        log(f"writing {args.recipients:,} recipients")
        recipients = write_recipients(folder / "recipients.csv", args.recipients, sms=args.sms_recipients)
        sandbox = Sandbox(folder, args.latency_ms)
        try:
            runs = [one_run(args, sandbox, folder, recipients, f"run{n}") for n in range(args.repeat)]
            if args.overlap:
                for n, figures in enumerate(runs):
                    figures["overlapped email"] = run_overlapped(
                        args, sandbox, folder, recipients, f"overlap{n}"
                    )
            small = None
            if args.memory_check:
                tenth = args.recipients // 10
                log(f"memory check: clarion at {tenth:,} recipients")
                smaller = write_recipients(folder / "small.csv", tenth, sms=min(args.sms_recipients, tenth))
                only_email = argparse.Namespace(**{**vars(args), "channels": ["email"]})
                small = run_clarion(only_email, sandbox, folder, smaller, "small")
        finally:
            sandbox.stop()
    report(args, runs, small)


if __name__ == "__main__":
    main()
