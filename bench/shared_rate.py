"""Benchmark: several `clarion outbox work` processes keep one provider rate together (prints figures).

    .venv/bin/python bench/shared_rate.py [--workers 4] [--messages 400] [--rate 20] [--limit 25]
        [--database postgresql+psycopg://postgres@127.0.0.1:5432/test] [--no-sqlite]

Stages the data-breach example to N recipients (one SMS each) in a fresh store, starts the provider
sandbox in this process with Twilio limited to ``--limit`` requests in any one second, and runs
``--workers`` processes of ``clarion outbox work`` with ``CLARION_PROVIDER_RATES`` set to
``--rate`` for Twilio. The sandbox, not the ledger, counts: the busiest second it saw, the 429s it
answered, the messages it accepted and the pace from the first SMS to the last (the run's seconds
include starting the processes and the broadcasts). On PostgreSQL (in a schema of its own, dropped
after) and on SQLite (one file; its writers take turns).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def stage(url: str, home: Path, n: int, env: dict[str, str]) -> None:
    from clarion import store
    from clarion.audiences.sources import Source
    from clarion.facts import load_facts
    from clarion.playbook import load_playbook
    from clarion.settings import Settings
    from clarion.updates.publish import stage_update

    csv_path = home / "affected.csv"
    with csv_path.open("w") as handle:
        handle.write("id,email,phone,locale,time_zone\n")
        handle.writelines(f"c{i},,+4915112{i:06d},en,\n" for i in range(n))
    options = env.get("PGOPTIONS")
    engine = store.make_engine(url, connect_args={"options": options} if options else {})
    store.migrate(engine)
    playbook = load_playbook(ROOT / "playbooks" / "data-breach.yaml")
    stage_update(
        engine=engine,
        playbook=playbook,
        facts=load_facts(ROOT / "examples" / "facts" / "data-breach.yaml", playbook),
        settings=Settings(home=home, templates_dir=ROOT / "templates", playbooks_dir=ROOT / "playbooks"),
        sources={"affected-customers": Source(csv=csv_path)},
    )
    engine.dispose()


def run(label: str, url: str, args: argparse.Namespace, extra_env: dict[str, str]) -> None:
    from channels.sandbox import running_sandbox
    from channels.sandbox.config import SandboxConfig

    with tempfile.TemporaryDirectory() as folder, running_sandbox(SandboxConfig()) as sandbox:
        home = Path(folder)
        sandbox.configure(rate_limit={"twilio": args.limit})
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "CLARION_HOME": str(home),
            "CLARION_DATABASE_URL": url,
            "CLARION_SANDBOX_URL": sandbox.url,
            "CLARION_PROVIDER_RATES": json.dumps({"twilio": args.rate}),
            **extra_env,
        }
        stage(url, home, args.messages, env)
        started = time.perf_counter()
        workers = [
            subprocess.Popen(  # noqa: S603 — our own CLI, arguments we built
                [
                    str(Path(sys.executable).parent / "clarion"),
                    "outbox",
                    "work",
                    "--name",
                    f"w{n}",
                    "--no-progress",
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for n in range(args.workers)
        ]
        codes = [w.wait(timeout=900) for w in workers]
        elapsed = time.perf_counter() - started
        failures = [w.stderr.read()[-400:] for w in workers if w.returncode not in (0,) and w.stderr]
        stats = sandbox.stats()
        times = sorted(r.accepted_at for r in sandbox.inbox("sms"))
    accepted = stats["accepted"].get("sms", 0)
    pace = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
    print(
        f"{label:<11} {args.workers:>7} {args.rate:>6.0f} {args.limit:>6} "
        f"{stats['peak_per_second'].get('twilio', 0):>8} {stats['rejected'].get('429', 0):>5} "
        f"{accepted:>9}/{args.messages:<6} {elapsed:>7.1f} {pace:>12.1f}  exit {codes}"
    )
    for failure in failures:
        print(f"  worker failed: {failure}")


def postgres(url: str) -> tuple[str, dict[str, str], Callable[[], None]]:
    import sqlalchemy as sa

    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    schema = f"bench_rate_{secrets.token_hex(4)}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")

    def drop() -> None:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()

    return url, {"PGOPTIONS": f"-c search_path={schema}"}, drop


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--rate", type=float, default=20.0, help="CLARION_PROVIDER_RATES for twilio")
    parser.add_argument("--limit", type=int, default=25, help="the sandbox's Twilio limit per second")
    parser.add_argument("--database", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    from clarion.outbox.rate import burst_of, refill_of

    burst, refill = burst_of(args.rate), refill_of(args.rate)
    print(
        f"rate {args.rate:g}: a burst of {burst:g}, then {refill:g} a second, so at most {args.rate:g} "
        "in any second from all workers"
    )
    print(
        f"{'store':<11} {'workers':>7} {'rate':>6} {'limit':>6} {'peak/s':>8} {'429s':>5} "
        f"{'accepted':>16} {'seconds':>7} {'sms/s (sent)':>12}"
    )
    url, env, drop = postgres(args.database)
    try:
        run("postgresql", url, args, env)
    finally:
        drop()
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as folder:
            run("sqlite", f"sqlite:///{folder}/clarion.db", args, {})


if __name__ == "__main__":
    main()
