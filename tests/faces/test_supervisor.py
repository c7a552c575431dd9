"""The supervisor under ``clarion serve``, with tiny ``python -c`` children (no Prefect needed)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from rich.console import Console

from faces.supervisor import Service, StackError, Supervisor
from tests.faces.processes import alive, eventually, group_members

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


def python(code: str, *args: str) -> list[str]:
    return [sys.executable, "-u", "-c", textwrap.dedent(code), *args]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def console() -> Console:
    return Console(file=io.StringIO(), width=200)


def test_children_log_and_leave_pid_files_while_they_run(home: Path, console: Console) -> None:
    with Supervisor(home, console=console) as supervisor:
        supervisor.start(
            Service("talker", "the talker", python("print('hello'); import time; time.sleep(120)"))
        )
        pid = supervisor.pids["talker"]

        assert (home / "run" / "talker.pid").read_text() == f"{pid}\n"
        assert eventually(lambda: "hello" in (home / "logs" / "talker.log").read_text())
        assert os.getpgid(pid) == pid  # a process group of its own: the terminal's Ctrl-C misses it

    assert not alive(pid)
    assert not (home / "run" / "talker.pid").exists()
    assert "the talker is up" in console.file.getvalue()  # type: ignore[attr-defined]


def test_a_child_that_exits_while_starting_stops_everything_and_shows_its_log(
    home: Path, console: Console
) -> None:
    crash = python("""
        import sys
        for i in range(30):
            print(f"line {i}")
        sys.exit(3)
    """)
    pids: dict[str, int] = {}

    with pytest.raises(StackError) as caught, Supervisor(home, console=console) as supervisor:
        supervisor.start(Service("first", "the first", SLEEPER))
        pids.update(supervisor.pids)
        supervisor.start(Service("crash", "the crasher", crash, ready=lambda: False, timeout=60))

    error = caught.value
    assert str(error) == "the crasher exited with code 3 while starting"
    assert error.tail == tuple(f"line {i}" for i in range(10, 30))  # the last 20 lines
    assert error.log == home / "logs" / "crash.log"
    assert error.details()[0] == "the crasher exited with code 3 while starting"
    assert error.details()[-1] == f"full log: {home / 'logs' / 'crash.log'}"
    assert not alive(pids["first"])
    assert list((home / "run").iterdir()) == []


def test_a_child_that_never_answers_times_out_and_everything_is_stopped(home: Path, console: Console) -> None:
    pids: dict[str, int] = {}

    def never() -> bool:
        pids.update(supervisor.pids)
        return False

    warming = python("print('still warming up'); import time; time.sleep(120)")
    started = time.monotonic()
    with pytest.raises(StackError) as caught, Supervisor(home, console=console) as supervisor:
        supervisor.start(Service("first", "the first", SLEEPER))
        supervisor.start(
            Service("slow", "the slow one", warming, ready=never, timeout=1, waiting_for=lambda: "no x yet")
        )

    assert str(caught.value) == "the slow one did not answer within 1 s (no x yet)"
    assert caught.value.tail == ("still warming up",)
    assert set(pids) == {"first", "slow"}
    assert not any(alive(pid) for pid in pids.values())
    assert time.monotonic() - started < 15


@pytest.mark.parametrize(
    ("kill", "expected"),
    [
        (None, "the quitter exited with code 4 unexpectedly"),
        (signal.SIGKILL, "the quitter was killed by SIGKILL unexpectedly"),
    ],
)
def test_a_child_dying_while_running_is_reported_and_the_rest_stopped(
    home: Path, console: Console, kill: signal.Signals | None, expected: str
) -> None:
    quitter = python("import time; time.sleep(0.5); print('bye'); raise SystemExit(4)")
    command = SLEEPER if kill else quitter
    with pytest.raises(StackError) as caught, Supervisor(home, console=console) as supervisor:
        supervisor.start(Service("first", "the first", SLEEPER))
        supervisor.start(Service("quitter", "the quitter", command))
        pids = dict(supervisor.pids)
        if kill:
            os.kill(pids["quitter"], kill)
        supervisor.wait(poll=0.05)

    assert str(caught.value) == expected
    assert not any(alive(pid) for pid in pids.values())


def test_stopping_kills_grandchildren_and_children_that_ignore_sigterm(
    home: Path, console: Console, tmp_path: Path
) -> None:
    grandchild_file = tmp_path / "grandchild.pid"
    parent = python(
        """
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        open(sys.argv[1], "w").write(str(child.pid))
        time.sleep(120)
        """,
        str(grandchild_file),
    )
    stubborn = python("""
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ignoring SIGTERM")
        time.sleep(120)
    """)
    stubborn_log = home / "logs" / "stubborn.log"
    with Supervisor(home, console=console, grace=0.5) as supervisor:
        supervisor.start(Service("parent", "the parent", parent, ready=grandchild_file.exists))
        supervisor.start(
            Service(
                "stubborn", "the stubborn one", stubborn, ready=lambda: "ignoring" in stubborn_log.read_text()
            )
        )
        pids = dict(supervisor.pids)
        grandchild = int(grandchild_file.read_text())
        started = time.monotonic()

    assert time.monotonic() - started < 5  # 0.5 s of grace, then SIGKILL
    assert not alive(pids["stubborn"])
    assert not alive(pids["parent"])
    assert eventually(lambda: not alive(grandchild))
    assert eventually(lambda: group_members(pids.values()) == [])


SUPERVISING_SCRIPT = """
import sys
from pathlib import Path
from rich.console import Console
from faces.supervisor import Service, Supervisor

home, phase = Path(sys.argv[1]), sys.argv[2]
sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
try:
    with Supervisor(home, console=Console(stderr=True)) as supervisor:
        supervisor.start(Service("first", "the first", sleeper))
        if phase == "starting":
            supervisor.start(Service("never", "the never-ready", sleeper, ready=lambda: False, timeout=120))
        supervisor.start(Service("second", "the second", sleeper))
        supervisor.wait()
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


@pytest.mark.parametrize("phase", ["starting", "running"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_ctrl_c_sigterm_or_sighup_stops_every_child_while_starting_or_running(
    home: Path, signum: signal.Signals, phase: str
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", SUPERVISING_SCRIPT, str(home), phase],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    last = home / "run" / ("never.pid" if phase == "starting" else "second.pid")
    try:
        assert eventually(last.exists, timeout=60), process.stderr
        pids = [int(path.read_text()) for path in (home / "run").iterdir()]
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()

    assert process.returncode == 0, stderr
    assert stdout == "interrupted\n"
    assert "stopping" in stderr
    assert len(pids) == 2
    assert not any(alive(pid) for pid in pids)
    assert list((home / "run").iterdir()) == []
