"""The production set-up of the production-path test: fresh PostgreSQL databases, a provider
sandbox, the processes' environment, command-line runs, waits that name what they waited for, and
the time each phase took.

:func:`production` makes everything and takes all of it down again, failure or not: the processes
(the Prefect server, the workers) through :class:`faces.supervisor.Supervisor`, which starts each
as the leader of a process group of its own, logs it to ``<tmp>/run/logs/<name>.log`` and stops
them newest first (SIGTERM, then SIGKILL for the whole group after a grace period); then the
sandbox; then the databases, dropped ``WITH (FORCE)``.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from rich.console import Console

from channels.sandbox.runner import SandboxHandle, running_sandbox
from clarion import store
from faces.prefect_api import PrefectApi
from faces.supervisor import StackError, Supervisor
from tests.faces.processes import free_port
from tests.helpers import ROOT

BIN = Path(sys.executable).parent
CLARION = str(BIN / "clarion")
PREFECT = str(BIN / "prefect")
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
COMMAND_TIMEOUT = 180.0
STEP_TIMEOUT = 180.0
STOP_GRACE = 20.0
LOG_TAIL = 40


# ── PostgreSQL ────────────────────────────────────────────────────────────────────────────────────


def _admin_engine() -> sa.Engine:
    """An autocommit engine on the test server (``CLARION_TEST_POSTGRES_URL``); skips the test when
    the server is unreachable, unless ``CLARION_REQUIRE_POSTGRES=1`` (CI), where it fails."""
    url = os.environ.get("CLARION_TEST_POSTGRES_URL", DEFAULT_PG_URL)
    admin = store.make_engine(
        url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 3}
    )
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except sa.exc.OperationalError as exc:
        admin.dispose()
        message = f"PostgreSQL at {store.describe(admin.url)} is unreachable: {exc.orig}"
        if os.environ.get("CLARION_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return admin


@contextmanager
def fresh_databases(*purposes: str) -> Iterator[dict[str, sa.URL]]:
    """One new database per purpose (random names), dropped afterwards even while something still
    holds a connection to it."""
    admin = _admin_engine()
    token = secrets.token_hex(5)
    created: list[str] = []
    try:
        urls: dict[str, sa.URL] = {}
        for purpose in purposes:
            name = f"clarion_e2e_{token}_{purpose}"
            with admin.connect() as connection:
                connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
            created.append(name)
            urls[purpose] = admin.url.set(database=name)
        yield urls
    finally:
        with admin.connect() as connection:
            for name in created:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def url_text(url: sa.URL, *, driver: str | None = None) -> str:
    """``url`` as a string with its password (for a child's environment), maybe with another driver."""
    return (url.set(drivername=driver) if driver else url).render_as_string(hide_password=False)


def databases_left(names: Sequence[str]) -> list[str]:
    admin = _admin_engine()
    try:
        with admin.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT datname FROM pg_database WHERE datname = ANY(:names)"), {"names": list(names)}
            )
            return [row[0] for row in rows]
    finally:
        admin.dispose()


# ── the set-up ────────────────────────────────────────────────────────────────────────────────────


@dataclass
class Production:
    """Everything the test made; ``env`` is what every process shares (added to ``os.environ``)."""

    tmp: Path
    api_url: str
    databases: dict[str, sa.URL]
    sandbox: SandboxHandle
    supervisor: Supervisor
    engine: sa.Engine
    prefect: PrefectApi
    env: dict[str, str]

    @property
    def logs(self) -> Path:
        return self.supervisor.logs

    @property
    def port(self) -> int:
        return int(self.api_url.rsplit(":", 1)[1].split("/", 1)[0])

    def run(self, *argv: str, cwd: Path | None = None) -> str:
        """Run a command to its end; its stdout, or an AssertionError with everything it said."""
        done = subprocess.run(
            list(argv),
            env=os.environ | self.env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        assert done.returncode == 0, (
            f"{' '.join(argv)} exited {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        )
        return done.stdout

    def wait(self, condition: Callable[[], bool], what: str, *, timeout: float = STEP_TIMEOUT) -> None:
        """Wait until ``condition()``; an AssertionError saying ``what`` did not happen (with the logs)
        when it times out or a process stops. A server that does not answer yet counts as not yet."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.supervisor.check()
            except StackError as exc:
                raise AssertionError("\n".join(exc.details()) + "\n" + tails(self.logs)) from None
            try:
                if condition():
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout:.0f} s\n{tails(self.logs)}")
            time.sleep(0.5)


@contextmanager
def production(tmp: Path) -> Iterator[Production]:
    """Two fresh databases (``prefect``, ``store``), a sandbox, a supervisor and the shared
    environment; all of it gone afterwards. A failure prints the tail of every process's log."""
    api_url = f"http://127.0.0.1:{free_port()}/api"
    with ExitStack() as made:  # left in reverse order: processes, engine, sandbox, databases
        databases = made.enter_context(fresh_databases("prefect", "store"))
        sandbox = made.enter_context(running_sandbox())
        env = {
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_HOME": str(tmp / "prefect-home"),
            "PREFECT_API_URL": api_url,
            "PREFECT_WORKER_QUERY_SECONDS": "2",
            "PYTHONUNBUFFERED": "1",
            "COLUMNS": "200",  # the commands' tables, unabridged
            "CLARION_HOME": str(tmp / "clarion-home"),
            "CLARION_PREFECT_API_URL": api_url,
            "CLARION_DATABASE_URL": url_text(databases["store"]),
            "CLARION_SANDBOX_URL": sandbox.url,
            "CLARION_SECRET_KEY": secrets.token_urlsafe(32),  # 43 characters
            "CLARION_PROJECT_DIR": str(ROOT),
        }
        engine = store.make_engine(env["CLARION_DATABASE_URL"], poolclass=sa.pool.NullPool)
        made.callback(engine.dispose)
        prefect = made.enter_context(PrefectApi(api_url))
        supervisor = made.enter_context(
            Supervisor(tmp / "run", console=Console(file=io.StringIO()), grace=STOP_GRACE)
        )
        try:
            yield Production(tmp, api_url, databases, sandbox, supervisor, engine, prefect, env)
        except BaseException:
            print(tails(supervisor.logs))
            raise


def tails(logs: Path, lines: int = LOG_TAIL) -> str:
    """The last lines of every log, for a failure message."""
    parts = []
    for log in sorted(logs.glob("*.log")):
        text = log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        parts.append(f"── {log} (last {len(text)} lines)\n" + "\n".join(text))
    return "\n".join(parts) or f"(no logs in {logs})"


def workers_online(api: str, pool: str, names: Sequence[str]) -> Callable[[], bool]:
    """Ready once every named worker of ``pool`` has said it is online."""

    def ready() -> bool:
        response = httpx.post(f"{api}/work_pools/{pool}/workers/filter", json={}, timeout=5)
        if response.status_code != 200:
            return False
        online = {w["name"] for w in response.json() if w.get("status") == "ONLINE"}
        return set(names) <= online

    return ready


def runs(api: str, body: dict[str, object]) -> list[dict[str, object]]:
    """``POST /flow_runs/filter``."""
    response = httpx.post(f"{api}/flow_runs/filter", json=body, timeout=10)
    response.raise_for_status()
    found: list[dict[str, object]] = response.json()
    return found


def rich_rows(text: str) -> list[list[str]]:
    """The cells of every row of a Rich table (header first), from a command's output."""
    return [
        [cell.strip() for cell in re.split(r"[│┃]", line)[1:-1]]
        for line in text.splitlines()
        if line.startswith(("│", "┃"))
    ]


# ── timing ────────────────────────────────────────────────────────────────────────────────────────


@dataclass
class Phases:
    """How long each phase took, printed at the end (``pytest -s`` shows it; a failure always does)."""

    took: list[tuple[str, float]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        begun = time.monotonic()
        try:
            yield
        finally:
            self.took.append((name, time.monotonic() - begun))

    def report(self) -> str:
        lines = [f"  {name:<50} {seconds:6.1f} s" for name, seconds in self.took]
        total = time.monotonic() - self.started
        return "\n".join(["production path, time per phase:", *lines, f"  {'total':<50} {total:6.1f} s"])
