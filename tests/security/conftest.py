"""The world every bad input meets: a store, a provider sandbox, a Prefect server that must not be asked.

Each case runs ``clarion`` in this process (``faces.cli.main()`` with ``sys.argv`` patched), the way
the installed entry point does, in the test's own ``CLARION_HOME`` (from the root conftest) and its own
working folder. Around it the :class:`World` takes a snapshot of everything the case must leave alone:

* the store: every table's rows (a digest per table), or the fact that there is no store at all;
* the files in ``CLARION_HOME`` (a command that only reads creates nothing there);
* the provider sandbox: its counts and its inbox (it is where ``CLARION_SANDBOX_URL`` points);
* the Prefect server: a fake transport that records every request (checks fail before it is asked).

A seeded store (:func:`seeded_store`) holds INC-0042 (data-breach: clocks running, update 1
published with the example facts, update 2 waiting for the DPO after legal approved) and INC-0043
(outage: staged with the example facts and the playbook's CSV, so its messages wait in the outbox).
"""

from __future__ import annotations

import gc
import hashlib
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import traceback
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from channels.sandbox import SandboxHandle, running_sandbox
from clarion import store
from clarion.settings import get_settings
from faces import prefect_api
from tests.helpers import EXAMPLES, PLAYBOOKS, TEMPLATES
from tests.security.cases import Outcome

STORE_FILE = "clarion.db"
CLARION = str(Path(sys.executable).with_name("clarion"))
BREACH_AWARE_HOURS = 5.5


# ── the seeded store, built once ──────────────────────────────────────────────────────────────────


def _build_store(path: Path) -> None:
    from clarion.facts import load_facts
    from clarion.incidents.lifecycle import open_incident
    from clarion.kinds import ApprovalDecision, IncidentStatus, UpdateKind, UpdateState
    from clarion.models import Approval, UpdateCreate, utcnow
    from clarion.playbook import load_playbook

    engine = store.make_engine(f"sqlite:///{path}")
    try:
        store.migrate(engine)
        breach = load_playbook(PLAYBOOKS / "data-breach.yaml")
        facts = load_facts(EXAMPLES / "data-breach.yaml", breach)
        now = utcnow()
        with store.session_scope(engine) as session:
            incident = open_incident(
                session=session,
                playbook=breach,
                reference="INC-0042",
                title=facts.title,
                severity="sev1",
                status=IncidentStatus.IDENTIFIED,
                aware_at=(now - timedelta(hours=BREACH_AWARE_HOURS)).replace(second=0, microsecond=0),
                started_at=None,
                commander="ada@example.com",
            )
            for kind, state in ((UpdateKind.INITIAL, UpdateState.PUBLISHED), (UpdateKind.UPDATE, None)):
                update = store.add_update(
                    session=session,
                    incident=incident,
                    update_in=UpdateCreate(
                        kind=kind,
                        status=IncidentStatus.IDENTIFIED,
                        apology={"en": {"text": "We are sorry.", "short": "Sorry."}},
                        facts=facts.model_dump(mode="json"),
                        next_update_by=now + timedelta(hours=1),
                    ),
                )
                update.state = state or UpdateState.PENDING_APPROVAL
                update.published_at = now if state else None
                session.add(update)
                session.flush()
            assert update.id is not None
            session.add(
                Approval(
                    update_id=update.id,
                    role="legal",
                    approver="legal-on-call@example.com",
                    decision=ApprovalDecision.APPROVED,
                )
            )
    finally:
        engine.dispose()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CLARION_")}
    environment |= {
        "CLARION_HOME": str(path.parent),
        "CLARION_PLAYBOOKS_DIR": str(PLAYBOOKS),
        "CLARION_TEMPLATES_DIR": str(TEMPLATES),
    }
    staged = subprocess.run(  # the outage's messages wait in the outbox, staged as a user stages them
        [CLARION, "outbox", "stage", "outage", "-f", str(EXAMPLES / "outage.yaml")],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert staged.returncode == 0, staged.stdout + staged.stderr
    with sqlite3.connect(path) as connection:  # fold the WAL in: the file alone is the store
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


@pytest.fixture(scope="session")
def seeded_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("seeded") / STORE_FILE
    _build_store(path)
    return path


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox() as box:
        yield box


# ── snapshots ─────────────────────────────────────────────────────────────────────────────────────


def store_digest(path: Path) -> dict[str, tuple[int, str]] | None:
    """Every table's row count and a digest of its rows; None when there is no store file."""
    if not path.is_file():
        return None
    tables: dict[str, tuple[int, str]] = {}
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for name in sorted(names):
            rows = connection.execute(f'SELECT * FROM "{name}" ORDER BY rowid').fetchall()  # noqa: S608
            tables[name] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
    finally:
        connection.close()
    return tables


def files_in(folder: Path) -> list[str] | None:
    """The files and folders under ``folder`` (SQLite's -wal and -shm aside); None when it is absent."""
    if not folder.exists():
        return None
    if not folder.is_dir():
        return ["<a file>"]
    return sorted(
        str(p.relative_to(folder)) for p in folder.rglob("*") if not p.name.endswith(("-wal", "-shm"))
    )


@dataclass(frozen=True)
class Snapshot:
    store: dict[str, tuple[int, str]] | None
    home: list[str] | None
    sandbox_stats: dict[str, Any]
    sandbox_inbox: int
    prefect_requests: int

    def changes_from(self, before: Snapshot, *, requests_counted: bool = False) -> list[str]:
        """What differs from ``before``, in words (empty when nothing does). ``requests_counted``: the
        sandbox may have counted (and refused) requests, as long as it accepted nothing."""
        found = []
        if self.store != before.store:
            if before.store is None or self.store is None:
                found.append(f"store: {'created' if before.store is None else 'removed'}")
            else:
                changed = sorted(
                    name
                    for name in set(before.store) | set(self.store)
                    if before.store.get(name) != self.store.get(name)
                )
                found.append(f"store tables changed: {', '.join(changed)}")
        if self.home != before.home:
            found.append(f"CLARION_HOME: {before.home} → {self.home}")
        compared = ("accepted",) if requests_counted else tuple(self.sandbox_stats)
        if self.sandbox_inbox != before.sandbox_inbox or any(
            self.sandbox_stats.get(k) != before.sandbox_stats.get(k) for k in compared
        ):
            found.append(f"sandbox received something: {self.sandbox_stats}")
        if self.prefect_requests != before.prefect_requests:
            found.append(f"the Prefect server was asked ({self.prefect_requests} requests)")
        return found


# ── the world ─────────────────────────────────────────────────────────────────────────────────────


class FakePrefect:
    """A Prefect server that records every request and answers 404: no case may get this far."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(404, json={"detail": "Not Found"})


class World:
    """One test's clarion: its home, its working folder, the shared sandbox, a fake Prefect server."""

    def __init__(
        self,
        *,
        work: Path,
        sandbox: SandboxHandle,
        seeded: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        self.work = work
        self.home = Path(os.environ["CLARION_HOME"])
        self.sandbox = sandbox
        self.prefect = FakePrefect()
        self._seeded = seeded
        self._monkeypatch = monkeypatch
        self._capsys = capsys

    playbooks = PLAYBOOKS

    @property
    def store_path(self) -> Path:
        return self.home / STORE_FILE

    def seed(self) -> None:
        """The seeded store (a copy) in this test's home, and the signing key a store in use has."""
        self.home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self._seeded, self.store_path)
        key = self.home / "secret.key"
        key.write_text(secrets.token_urlsafe(32) + "\n")
        key.chmod(0o600)

    def snapshot(self, home: Path | None = None) -> Snapshot:
        home = home or self.home
        path = self.store_path if home == self.home else home / STORE_FILE
        return Snapshot(
            store=store_digest(path),
            home=files_in(home),
            sandbox_stats=self.sandbox.stats(),
            sandbox_inbox=len(self.sandbox.inbox()),
            prefect_requests=len(self.prefect.requests),
        )

    def run(self, *args: str, env: Mapping[str, str] | None = None) -> Outcome:
        """``clarion ARGS`` in this process with ``env`` added; the exit code and what it printed.

        An exception other than ``SystemExit`` is a traceback the user would have seen: it propagates
        and fails the test with the exception shown.
        """
        for name, value in (env or {}).items():
            self._monkeypatch.setenv(name, value)
        self._monkeypatch.setattr(sys, "argv", ["clarion", *args])
        self._monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # typer replaces it
        _forget_engine()
        self._capsys.readouterr()
        from faces.cli import main

        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException as exc:
            # A traceback: the case fails with it. What the crash left open (a socket bound to nothing,
            # held by the frames of the traceback) is freed now, so its ResourceWarning does not fail
            # whichever test happens to run when the collector finds it.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ResourceWarning)
                traceback.clear_frames(exc.__traceback__)
                gc.collect()
            raise
        finally:
            _forget_engine()
        captured = self._capsys.readouterr()
        return Outcome(code=code, out=captured.out, err=captured.err)


def _forget_engine() -> None:
    if store.get_engine.cache_info().currsize:
        store.get_engine().dispose()
    store.get_engine.cache_clear()
    get_settings.cache_clear()


@pytest.fixture
def world(
    tmp_path: Path,
    sandbox: SandboxHandle,
    seeded_store: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[World]:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for name in ("FORCE_COLOR", "PY_COLORS", "CLICOLOR_FORCE", "TTY_COMPATIBLE", "PREFECT_API_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("CLARION_PLAYBOOKS_DIR", str(PLAYBOOKS))
    monkeypatch.setenv("CLARION_TEMPLATES_DIR", str(TEMPLATES))
    monkeypatch.setenv("CLARION_SANDBOX_URL", sandbox.url)
    monkeypatch.setenv("CLARION_PREFECT_API_URL", "http://127.0.0.1:9/api")
    made = World(work=work, sandbox=sandbox, seeded=seeded_store, monkeypatch=monkeypatch, capsys=capsys)
    monkeypatch.setattr(prefect_api, "make_transport", lambda: httpx.MockTransport(made.prefect))
    sandbox.configure()
    yield made
    _forget_engine()
