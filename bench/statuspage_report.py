"""What ``bench/statuspage.py`` prints: the header, the table, the burst, memory and the aims."""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
from dataclasses import dataclass

import uvicorn
from statuspage_load import WRK_TIMEOUT_S, App, Document, Load, Nginx, Server, peak_rss_mb, tool
from statuspage_seed import HISTORY, OPEN, Seeded

AIM_RATIO, AIM_P99_MS = 0.25, 100.0
Figures = dict[tuple[str, int, str], Load]
"""One round's figures by (path, connections, row)."""


@dataclass(frozen=True)
class Target:
    """A measured path and what each app answered for it (``why``: the status when not 200)."""

    path: str
    documents: dict[str, Document]
    why: str | None = None


@dataclass(frozen=True)
class Burst:
    load: Load
    fresh_after: float | None


def median(values: list[float]) -> float:
    return statistics.median(values)


def variants(apps: list[App], floors: list[Server]) -> list[str]:
    """The rows of one path and connection count: the floors first, then each app's two."""
    return [floor.name for floor in floors] + [f"{app.name} {n}" for app in apps for n in ("200", "304")]


def print_table(
    args: argparse.Namespace,
    apps: list[App],
    floors: list[Server],
    targets: list[Target],
    rounds: list[Figures],
) -> None:
    head = ("req/s", "p50 ms", "p99 ms", "errors", "B/resp", "CPU µs/req", "x nginx")
    print(f"{'path':<24}{'conns':>6}  {'server':<16}" + "".join(f"{h:>11}" for h in head))
    for target in targets:
        if target.why is not None:
            print(f"{target.path:<24}  NOT MEASURED: clarion answers {target.why}")
            continue
        for connections in args.connections:
            for variant in variants(apps, floors):
                loads = [r[target.path, connections, variant] for r in rounds]
                nginx = [r[target.path, connections, "nginx"].rate for r in rounds]
                ratio = median([load.rate / rate for load, rate in zip(loads, nginx, strict=True)])
                print(
                    f"{target.path:<24}{connections:>6}  {variant:<16}"
                    f"{median([x.rate for x in loads]):>11,.0f}{median([x.p50_ms for x in loads]):>11.2f}"
                    f"{median([x.p99_ms for x in loads]):>11.2f}{sum(x.errors for x in loads):>11,}"
                    f"{median([x.bytes_per_response for x in loads]):>11,.0f}"
                    f"{median([x.cpu_us for x in loads]):>11,.0f}{ratio:>11.3f}"
                )


def print_bursts(
    args: argparse.Namespace, apps: list[App], path: str | None, bursts: dict[str, list[Burst]]
) -> int:
    """The burst lines; the number of errors in all of them."""
    if path is None:
        print("burst after a publication: NOT MEASURED: no path answers 200")
        return 0
    where = "" if path == "/" else " (/ does not answer 200)"
    print(
        f"burst after a publication: wrk on {path}{where} at {max(args.connections)} connections for "
        f"{args.burst_seconds} s, an update published at {args.burst_seconds / 3:.1f} s (medians of "
        f"{args.repeat}, errors summed)"
    )
    errors = 0
    for app in apps:
        runs = bursts[app.name]
        loads = [b.load for b in runs]
        fresh = [b.fresh_after for b in runs]
        errors += sum(x.errors for x in loads)
        seen = "never" if None in fresh else f"{median([f for f in fresh if f is not None]):.2f} s"
        rate, p50, p99 = (median([getattr(x, f) for x in loads]) for f in ("rate", "p50_ms", "p99_ms"))
        print(
            f"  {app.name:<12}{rate:>9,.0f} req/s  p50 {p50:.2f} ms  p99 {p99:.2f} ms  errors "
            f"{sum(x.errors for x in loads):,}  new page served after {seen}"
        )
    for app in apps:
        if (logged := app.last_error()) is not None:
            print(f"  {app.name}'s log names an error: {logged}")
    return errors


def print_aims(apps: list[App], targets: list[Target], rounds: list[Figures], top: int, errors: int) -> None:
    print(f"aims, at {top} connections, plain requests (200):")
    for target in targets:
        if target.why is not None:
            print(f"  {target.path:<24}NOT MEASURED")
            continue
        for app in apps:
            key = (target.path, top, f"{app.name} 200")
            ratio = median([r[key].rate / r[target.path, top, "nginx"].rate for r in rounds])
            p99 = median([r[key].p99_ms for r in rounds])
            rate_verdict = "met" if ratio >= AIM_RATIO else "NOT met"
            p99_verdict = "met" if p99 < AIM_P99_MS else "NOT met"
            print(
                f"  {target.path:<24}{app.name:<12} x nginx {ratio:6.3f} (aim >= {AIM_RATIO:g}) "
                f"{rate_verdict:<8} p99 {p99:7.1f} ms (aim < {AIM_P99_MS:g} ms) {p99_verdict}"
            )
    print(f"  burst after a publication: errors {errors} (aim 0) {'met' if errors == 0 else 'NOT met'}")


def resolved(kind: str, choice: str) -> str:
    """What uvicorn's ``auto`` picks for --http and --loop, for the header."""
    if choice != "auto":
        return choice
    fast, slow = {"http": ("httptools", "h11"), "loop": ("uvloop", "asyncio")}[kind]
    return fast if importlib.util.find_spec(fast) else f"{slow} ({fast} not installed)"


def print_header(args: argparse.Namespace, seeded: Seeded, apps: list[App]) -> None:
    where = "SQLite" if args.database_url is None else "PostgreSQL (a database of its own)"
    nginx = subprocess.run(  # noqa: S603 — nginx -v
        [tool("nginx") or "nginx", "-v"], capture_output=True, text=True, check=False
    )
    version = nginx.stderr.strip().removeprefix("nginx version: ")
    shown = ", ".join(f"{app.name} = {app.workers} worker(s)" for app in apps)
    print(
        f"status page under load: {seeded.incidents} incidents ({len(OPEN)} open, 1 maintenance, {HISTORY} "
        f"resolved), {seeded.updates} updates published, {where}; {args.seconds} s per run, median of "
        f"{args.repeat} round(s)"
    )
    print(
        f"clarion: uvicorn {uvicorn.__version__}, http {resolved('http', args.http)}, loop "
        f"{resolved('loop', args.loop)}; {shown}; `clarion web` runs 1 worker (the default)"
    )
    print(
        f"{version}: {os.cpu_count()} worker processes, the same bytes as static files; wrk keep-alive, "
        f"timeout {WRK_TIMEOUT_S} s (a timeout counts as an error)"
    )


def print_memory(apps: list[App], nginx: Nginx) -> None:
    parts = []
    for server in [*apps, nginx]:
        peaks = peak_rss_mb(server.pids())
        each = " + ".join(f"{mb:.0f}" for mb in peaks)
        parts.append(
            f"{server.name} {sum(peaks):.0f} MB" + (f" in {len(peaks)} processes ({each})" * (len(peaks) > 1))
        )
    print("peak RSS: " + "; ".join(parts))
