"""Benchmarks print figures and assert nothing about speed; this only keeps them runnable."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import ROOT


def test_render_benchmark_runs_and_prints_its_figures() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "render.py"), "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "ms per rendition" in done.stdout
    assert done.stdout.count("segments same") == 3  # our counter agrees with the codec on every sample


def test_fanout_benchmark_runs_every_phase_and_prints_its_table() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "fanout.py"),
            *("--recipients", "300", "--sms-recipients", "50", "--naive-sample", "10", "--latency-ms", "1"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "rows written" in done.stdout
    assert "msg/s" in done.stdout and "peak RSS MB" in done.stdout
    assert "FAILED" not in done.stdout, done.stdout
    messages = {  # the table's fixed columns: phase 16, channel 8, messages 12
        (line[:16].strip(), line[16:24].strip()): line[24:36].strip()
        for line in done.stdout.splitlines()
        if line.startswith(("clarion ", "bare httpx ", "naive loop "))
    }
    assert messages[("clarion", "email")] == "300"  # every recipient accepted, by the worker's count
    assert messages[("clarion", "sms")] == "50"
    assert messages[("bare httpx", "email")] == "300"
    assert messages[("naive loop *", "sms")] == "10"
    assert "bodies equal clarion's for the same recipients: yes" in done.stdout
    assert "email clarion/bare" in done.stdout and "email clarion/naive" in done.stdout


def test_deadlines_benchmark_runs_and_prints_its_figures() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "deadlines.py"), "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(" µs") == 6  # four clock kinds, then ours against the naive calendar
    assert "x clarion" in done.stdout
    assert "ms per incident" in done.stdout
