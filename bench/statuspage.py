"""Benchmark: the status page under load, side by side with nginx serving the same bytes (prints
figures, asserts nothing).

    .venv/bin/python bench/statuspage.py [--seconds 10] [--repeat 3] [--connections 50,200]
        [--workers 1,2] [--quick] [--asgi-floor] [--http auto] [--loop auto]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Needs wrk and nginx from Debian: without them it prints ``apt-get install -y wrk nginx`` and exits 2,
installing nothing.

1. A fresh store (a SQLite file in a temporary folder; with --database-url, a database of its own
   created on that PostgreSQL server and dropped afterwards, nothing else touched): three open
   incidents, a maintenance announced for the day after tomorrow, a month of resolved incidents.
2. The web app, ``uvicorn faces.web.app:create_app --factory`` on loopback, once per --workers count:
   1 worker is how ``clarion web`` runs it (the default), 2 is ``uvicorn --workers 2`` on this
   2-core machine; --http and --loop go to uvicorn. Each is waited for (/healthz, then idle CPU).
3. ``/``, the page of the open incident with most updates and ``/api/v2/summary.json`` are fetched
   from the app and written to a docroot that nginx serves (worker_processes = cores, keep-alive,
   access log off) with the app's content types: the same bytes, the floor. With --asgi-floor, a
   bare ASGI app (``bench/statuspage_floor.py``) serves them too under the same uvicorn: the Python
   floor, which splits the gap into the server's part and clarion's.
4. After a warm-up, for each path x connections, side by side: the floors, then each app plain (200
   with the body) and revalidating (a wrk script sends ``If-None-Match`` with the page's ETag: 304,
   no body). Every run is ``wrk -t2 -cN -dS --latency`` over keep-alive connections.
5. The burst: wrk on ``/`` at the most connections while an update is published a third of the way
   in, so every cached document must be rebuilt: errors, p99, and how soon the new page was served.

Columns: medians of --repeat rounds, except errors (socket errors, timeouts and responses other than
2xx/3xx), summed; "x nginx" is the median of each round's ratio to nginx on the same path and
connections; B/resp is the bytes read per response, headers included; CPU µs/req is the CPU time of
the server's processes per response (wrk's own not counted), steadier than the rates on a busy machine.
A path that does not answer 200 is reported as not measured, and the exit code is then 1. The
machine is shared and noisy: compare ratios measured side by side in one run, not rates between runs.
"""

from __future__ import annotations

import argparse
import itertools
import os
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import sqlalchemy as sa
from statuspage_load import (
    App,
    Document,
    Floor,
    Nginx,
    Server,
    Wrk,
    clean_env,
    if_none_match_script,
    measure,
    tool,
)
from statuspage_report import (
    Burst,
    Figures,
    Target,
    print_aims,
    print_bursts,
    print_header,
    print_memory,
    print_table,
)
from statuspage_seed import PAGE_URL, Seeded, publish_news, seed

from clarion import store

INSTALL = "apt-get install -y wrk nginx"


def log(message: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


@contextmanager
def fresh_database(server: str | None, folder: Path) -> Iterator[str]:
    """A new SQLite file, or a new database on the PostgreSQL server (dropped afterwards)."""
    if server is None:
        yield f"sqlite:///{folder / 'statuspage.db'}"
        return
    url = store.parse_url(server)
    name = f"clarion_statuspage_{os.getpid()}"
    admin = sa.create_engine(url.set(database=url.database or "postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def fetch(apps: list[App], path: str) -> Target:
    """Each app's bytes of ``path``; a path some app does not answer with 200 is not measured."""
    documents = {}
    for app in apps:
        response = app.get(path)
        if response.status_code != 200:
            return Target(path, {}, f"{response.status_code} {response.reason_phrase} ({app.name})")
        kind, etag = response.headers.get("content-type", ""), response.headers.get("etag", "")
        documents[app.name] = Document(path, response.content, kind, etag)
    return Target(path, documents)


def one_round(
    args: argparse.Namespace, apps: list[App], floors: list[Server], targets: list[Target]
) -> Figures:
    """Every path x connections: nginx (and the bare ASGI app), then each app plain and revalidating,
    one after the other."""
    figures: Figures = {}
    for target in targets:
        for connections in args.connections:
            log(f"{target.path} at {connections} connections")
            for floor in floors:
                load = measure(floor, target.path, connections, args.seconds)
                figures[target.path, connections, floor.name] = load
            for app in apps:
                plain = measure(app, target.path, connections, args.seconds)
                figures[target.path, connections, f"{app.name} 200"] = plain
                script = if_none_match_script(args.folder, target.documents[app.name].etag)
                revalidating = measure(app, target.path, connections, args.seconds, script)
                figures[target.path, connections, f"{app.name} 304"] = revalidating
    return figures


def burst(args: argparse.Namespace, app: App, engine: sa.Engine, seeded: Seeded, path: str, n: int) -> Burst:
    """wrk on ``path`` at the most connections; an update published a third of the way in."""
    run = Wrk(app, path, max(args.connections), args.burst_seconds, None)
    time.sleep(args.burst_seconds / 3)
    news = publish_news(engine, seeded.page_incident, n).encode()
    published, fresh_after = time.monotonic(), None
    while time.monotonic() - published < args.burst_seconds:
        if news in app.get(path).content:
            fresh_after = time.monotonic() - published
            break
        time.sleep(0.05)
    return Burst(run.result(), fresh_after)


def check(apps: list[App], targets: list[Target]) -> list[str]:
    """What the table alone would not show: apps or workers that disagree on the bytes (so a 304
    depends on which worker answers), or no 304 at all."""
    notes = []
    for target in targets:
        if target.why is not None:
            continue
        if len({document.body for document in target.documents.values()}) > 1:
            notes.append(
                f"note: the apps serve different bytes for {target.path}; nginx serves {apps[0].name}'s"
            )
        for app in apps:
            tries = 1 if app.workers == 1 else 16  # each on a new connection, to reach every worker
            tags = {app.get(target.path).headers.get("etag") for _ in range(tries)}
            if len(tags) > 1:
                notes.append(
                    f"note: {app.name}'s workers serve {target.path} with {len(tags)} different ETags (their "
                    "bytes differ): If-None-Match gets a 304 only from the worker that made the copy"
                )
            condition = {"If-None-Match": target.documents[app.name].etag}
            answers = {app.get(target.path, condition).status_code for _ in range(tries)}
            if 304 not in answers:
                notes.append(
                    f"note: {app.name} answers {answers} to If-None-Match on {target.path}, never 304"
                )
    return notes


def start(args: argparse.Namespace, url: str, stack: ExitStack) -> list[App]:
    env = clean_env() | {
        "CLARION_HOME": str(args.folder),
        "CLARION_DATABASE_URL": url,
        "CLARION_SECRET_KEY": secrets.token_urlsafe(32),
        "CLARION_PUBLIC_URL": PAGE_URL,
    }
    apps = []
    for workers in args.workers:
        log(f"starting the app with {workers} worker(s)")
        app = App(args.folder, env, workers=workers, http=args.http, loop=args.loop)
        stack.callback(app.stop)
        apps.append(app)
    return apps


def run(args: argparse.Namespace) -> int:
    with ExitStack() as stack:
        args.folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="clarion-statuspage-")))
        url = stack.enter_context(fresh_database(args.database_url, args.folder))
        engine = store.make_engine(url)
        stack.callback(engine.dispose)
        log("seeding the store")
        seeded = seed(engine)
        apps = start(args, url, stack)
        paths = ["/", f"/incidents/{seeded.page_incident}", "/api/v2/summary.json"]
        targets = [fetch(apps, path) for path in paths]
        measured = [t for t in targets if t.why is None]
        notes = check(apps, measured)
        documents = [t.documents[apps[0].name] for t in measured]
        nginx = Nginx(args.folder, documents, workers=os.cpu_count() or 1)
        stack.callback(nginx.stop)
        floors: list[Server] = [nginx]
        if args.asgi_floor:
            floor = Floor(args.folder, documents, http=args.http, loop=args.loop)
            stack.callback(floor.stop)
            floors.append(floor)
        log("warming up")
        for server in [*floors, *apps]:
            for target in measured:
                measure(server, target.path, max(args.connections), 1)
        rounds = []
        for n in range(args.repeat):
            log(f"round {n + 1} of {args.repeat}")
            rounds.append(one_round(args, apps, floors, measured))
        bursts: dict[str, list[Burst]] = {app.name: [] for app in apps}
        where = measured[0].path if measured else None
        news = itertools.count(1)
        for n in range(args.repeat if where else 0):
            for app in apps:
                log(f"burst {n + 1} of {args.repeat} on {app.name}")
                bursts[app.name].append(burst(args, app, engine, seeded, str(where), next(news)))
        print_header(args, seeded, apps)
        print_table(args, apps, floors, targets, rounds)
        for note in notes:
            print(note)
        errors = print_bursts(args, apps, where, bursts)
        print_memory(apps, nginx)
        print_aims(apps, targets, rounds, max(args.connections), errors)
    return 0 if len(measured) == len(targets) else 1


def counts(text: str) -> list[int]:
    return sorted({int(part) for part in text.split(",") if part.strip()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="each wrk run")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians are shown")
    parser.add_argument("--connections", type=counts, default=[50, 200], help="e.g. 50,200")
    parser.add_argument("--workers", type=counts, default=[1, 2], help="uvicorn worker counts, e.g. 1,2")
    parser.add_argument("--quick", action="store_true", help="1 s runs, one round: a smoke test")
    parser.add_argument("--database-url", help="a PostgreSQL server URL (default: a temporary SQLite file)")
    parser.add_argument("--asgi-floor", action="store_true", help="also a bare ASGI app serving the bytes")
    parser.add_argument("--http", default="auto", help="uvicorn --http (auto, h11, httptools)")
    parser.add_argument("--loop", default="auto", help="uvicorn --loop (auto, asyncio, uvloop)")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.repeat = 1, 1
    args.burst_seconds = max(args.seconds, 3)
    missing = [name for name in ("wrk", "nginx") if tool(name) is None]
    if missing:
        sys.stderr.write(f"bench/statuspage.py needs {' and '.join(missing)}; install with:\n  {INSTALL}\n")
        raise SystemExit(2)
    # Stopped from outside: still stop the servers, drop the database and remove the files.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    raise SystemExit(run(args))


if __name__ == "__main__":
    main()
