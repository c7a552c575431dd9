"""A small process supervisor: children in process groups of their own, started in order, stopped in reverse.

::

    with Supervisor(home, console=console) as supervisor:
        supervisor.start(Service("web", "the web app", [sys.executable, "-m", ...], ready=probe))
        supervisor.wait()                   # until Ctrl-C / SIGTERM / SIGHUP, or a child dies

Each child leads its own process group (so the terminal's Ctrl-C reaches only the supervisor, which
stops the children in order), writes to ``<home>/logs/<name>.log`` (truncated at each start) and has
its pid in ``<home>/run/<name>.pid`` while it runs. Stopping sends SIGTERM to each group, newest
first, waits up to ``grace`` seconds for its leader, then SIGKILLs whatever is left of the group; a
second Ctrl-C while stopping skips the wait. A child that exits, or does not answer in time, raises
:class:`StackError` with the tail of its log. Plain subprocess and signals, nothing else.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import httpx
from rich.console import Console

from clarion.errors import ClarionError

TAIL_LINES = 20
POLL_SECONDS = 0.25


class StackError(ClarionError):
    """A child of the stack could not start, or stopped on its own. Carries the tail of its log."""

    def __init__(self, message: str, *, log: Path | None = None, tail: Sequence[str] = ()) -> None:
        self.log = log
        self.tail = tuple(tail)
        super().__init__(message)

    def details(self) -> list[str]:
        """The message, then the log's last lines and where the whole log is."""
        lines = [str(self)]
        if self.log is not None:
            lines += [f"  | {line}" for line in self.tail] or ["  (the log is empty)"]
            lines.append(f"full log: {self.log}")
        return lines


@dataclass(frozen=True)
class Service:
    """One child: how to start it and how to tell it is ready."""

    name: str
    """File name of its log and pid file (``logs/<name>.log``, ``run/<name>.pid``)."""
    label: str
    """How messages name it: "the Prefect server"."""
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    """Added to the supervisor's environment."""
    ready: Callable[[], bool] = lambda: True
    timeout: float = 60.0
    waiting_for: Callable[[], str] | None = None
    """What it still lacks, for the message when it times out ("not served yet: x, y")."""


def _exit_text(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


def _tail(path: Path, lines: int = TAIL_LINES) -> list[str]:
    try:
        with path.open("rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 64 * 1024))
            text = log.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]


class Supervisor:
    """Starts services as process-group leaders and stops them all, in reverse order.

    As a context manager it turns SIGTERM and SIGHUP (the terminal closed) into
    ``KeyboardInterrupt`` (in the main thread) so that ``with`` blocks unwind, and it stops every
    child on exit.
    """

    def __init__(self, home: Path, *, console: Console, grace: float = 10.0) -> None:
        self.logs = home / "logs"
        self.run = home / "run"
        self.console = console
        self.grace = grace
        self._running: list[tuple[Service, subprocess.Popen[bytes]]] = []
        self._saved_handlers: dict[signal.Signals, Any] = {}

    @property
    def pids(self) -> dict[str, int]:
        return {service.name: process.pid for service, process in self._running}

    def __enter__(self) -> Supervisor:
        if threading.current_thread() is threading.main_thread():
            # SIGINT too: a shell without job control starts background commands with SIGINT
            # ignored, and Python then never turns it into KeyboardInterrupt on its own.
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                self._saved_handlers[signum] = signal.signal(signum, _interrupt)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self.stop()
        finally:
            while self._saved_handlers:
                signal.signal(*self._saved_handlers.popitem())

    def start(self, service: Service) -> None:
        """Start ``service`` and wait until it is ready; StackError when it exits or times out."""
        self.logs.mkdir(parents=True, exist_ok=True)
        self.run.mkdir(parents=True, exist_ok=True)
        log_path = self.logs / f"{service.name}.log"
        try:
            with log_path.open("wb") as log:
                process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                    list(service.argv),
                    env=os.environ | dict(service.env),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    process_group=0,
                )
        except OSError as exc:
            raise StackError(f"cannot start {service.label}: {exc}") from exc
        self._running.append((service, process))
        (self.run / f"{service.name}.pid").write_text(f"{process.pid}\n", encoding="utf-8")
        started = time.monotonic()
        with self.console.status(f"starting {service.label}…"):
            while True:
                self._check(service, process, "while starting")
                if probe(service.ready):
                    break
                if time.monotonic() - started > service.timeout:
                    lacking = f" ({service.waiting_for()})" if service.waiting_for else ""
                    raise StackError(
                        f"{service.label} did not answer within {service.timeout:.0f} s{lacking}",
                        log=log_path,
                        tail=_tail(log_path),
                    )
                time.sleep(POLL_SECONDS)
        self.console.print(f"{service.label} is up ({time.monotonic() - started:.1f} s)", markup=False)

    def check(self) -> None:
        """StackError naming the first child that is no longer running."""
        for service, process in self._running:
            self._check(service, process, "unexpectedly")

    def wait(self, poll: float = 0.5) -> None:
        """Block until a child dies (StackError) or the process is interrupted."""
        while True:
            self.check()
            time.sleep(poll)

    def _check(self, service: Service, process: subprocess.Popen[bytes], when: str) -> None:
        code = process.poll()
        if code is not None:
            log_path = self.logs / f"{service.name}.log"
            raise StackError(f"{service.label} {_exit_text(code)} {when}", log=log_path, tail=_tail(log_path))

    def stop(self) -> None:
        """Stop every child, newest first; a second Ctrl-C, SIGTERM or SIGHUP skips the grace period."""
        if not self._running:
            return
        self.console.print("stopping… (Ctrl-C again: at once)", markup=False)
        hurry = threading.Event()
        saved: dict[signal.Signals, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                saved[signum] = signal.signal(signum, lambda *_: hurry.set())
        try:
            while self._running:
                service, process = self._running[-1]
                self._stop_one(process, hurry)
                self._running.pop()
                (self.run / f"{service.name}.pid").unlink(missing_ok=True)
        finally:
            for signum, handler in saved.items():
                signal.signal(signum, handler)

    def _stop_one(self, process: subprocess.Popen[bytes], hurry: threading.Event) -> None:
        group = process.pid  # process_group=0: the child leads a group of its own id
        _signal_group(group, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        while process.poll() is None and time.monotonic() < deadline and not hurry.is_set():
            time.sleep(0.05)
        _signal_group(group, signal.SIGKILL)  # the leader if it hung, and anything it left behind
        process.wait()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _signal_group(group: int, number: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, number)


def probe(ready: Callable[[], bool]) -> bool:
    """``ready()``, with a server that is not answering yet (or not with JSON) taken as not ready."""
    try:
        return ready()
    except (httpx.HTTPError, ValueError):  # not answering yet, or not with JSON
        return False
