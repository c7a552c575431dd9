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
