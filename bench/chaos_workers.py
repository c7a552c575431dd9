"""The chaos run's worker processes: start, SIGKILL and restart at once, tell a crash from a kill.

Each worker is ``clarion outbox work --name wN`` in a process group of its own (so a kill takes its
children too), its stderr in a file under ``logs`` (the tail of a crash is reported). A worker that
exits 0 is done (nothing left to send) and stays down; one that exits otherwise without being
killed crashed: it is counted, its last lines kept, and it is restarted so the run still ends.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Crash:
    worker: str
    code: int
    tail: str


@dataclass
class Workers:
    env: dict[str, str]
    count: int
    logs: Path
    rng: random.Random
    kills: int = 0
    crashes: list[Crash] = field(default_factory=list)
    _running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _done: set[str] = field(default_factory=set)
    _starts: dict[str, int] = field(default_factory=dict)

    def names(self) -> list[str]:
        return [f"w{n}" for n in range(self.count)]

    def start_all(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        for name in self.names():
            self._start(name)

    def _start(self, name: str) -> None:
        self._starts[name] = self._starts.get(name, 0) + 1
        log = self.logs / f"{name}.{self._starts[name]}.log"
        with log.open("wb") as stderr:
            self._running[name] = subprocess.Popen(  # noqa: S603 — our own CLI, arguments we built
                [
                    str(Path(sys.executable).parent / "clarion"),
                    "outbox",
                    "work",
                    "--name",
                    name,
                    "--no-progress",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )

    def kill_one(self) -> str | None:
        """SIGKILL a random running worker and start it again at once; its name (None: none runs)."""
        alive = sorted(n for n, p in self._running.items() if p.poll() is None)
        if not alive:
            return None
        name = self.rng.choice(alive)
        process = self._running.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        self.kills += 1
        self._start(name)
        return name

    def reap(self, say: Callable[[str], None]) -> None:
        """Note the workers that exited by themselves: done (0) or crashed (restarted)."""
        for name, process in list(self._running.items()):
            code = process.poll()
            if code is None:
                continue
            del self._running[name]
            if code == 0:
                self._done.add(name)
                continue
            log = self.logs / f"{name}.{self._starts[name]}.log"
            tail = "\n".join(log.read_text(errors="replace").strip().splitlines()[-6:])
            self.crashes.append(Crash(name, code, tail))
            say(f"CRASH {name} exited {code} without a kill; restarting it. Last lines:\n{tail}")
            self._start(name)

    def all_done(self) -> bool:
        return not self._running and len(self._done) == self.count

    def summary(self) -> str:
        return (
            f"workers running {len(self._running)}, done {len(self._done)}, kills {self.kills}, "
            f"crashes {len(self.crashes)}"
        )

    def store_waits(self) -> int:
        """How often a worker said it waits for an unreachable store (and did not die of it)."""
        return sum(
            log.read_text(errors="replace").count("the store is unreachable")
            for log in self.logs.glob("*.log")
        )

    def stop_all(self) -> None:
        """Kill what still runs (a failed run must not leave workers behind)."""
        for process in self._running.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        self._running.clear()
