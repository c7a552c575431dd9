"""Benchmarks print figures and assert nothing about speed; this only keeps them runnable."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.helpers import ROOT

REQUIRE_TOOLS = os.environ.get("CLARION_REQUIRE_BENCH_TOOLS") == "1"
"""Read at import: the hermetic environment of each test drops CLARION_* variables it does not know."""


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
            "--overlap",
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
    assert "email stage, then send / bare" in done.stdout
    assert "email staged while sent / bare" in done.stdout  # --overlap: every email accepted in time
    assert "overlapped: 300 accepted" in done.stderr


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


def test_statuspage_benchmark_measures_every_path_beside_nginx_and_a_burst_after_a_publication() -> None:
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    missing = [tool for tool in ("wrk", "nginx") if shutil.which(tool, path=path) is None]
    if missing and not REQUIRE_TOOLS:
        pytest.skip(f"bench/statuspage.py needs {' and '.join(missing)}: apt-get install -y wrk nginx")
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "statuspage.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr  # 1: a path did not answer 200; 2: no wrk/nginx
    rows = {  # the table's fixed columns: path 24, connections 6, two spaces, server 16, then 11 each
        (line[:24].strip().split("/INC-")[0], int(line[24:30]), line[32:48].strip()): line[48:].split()
        for line in done.stdout.splitlines()
        if line.startswith("/") and line[24:30].strip().isdigit()
    }
    servers = ("nginx", "clarion-1w 200", "clarion-1w 304", "clarion-2w 200", "clarion-2w 304")
    for page in ("/", "/incidents", "/api/v2/summary.json"):
        for connections in (50, 200):
            for server in servers:
                figures = rows[(page, connections, server)]
                assert float(figures[0].replace(",", "")) > 0, (page, connections, server)  # req/s
                assert figures[3] == "0", (page, connections, server)  # no error, no 5xx or 4xx
            nginx_body = int(rows[(page, connections, "nginx")][4].replace(",", ""))
            revalidated = int(rows[(page, connections, "clarion-1w 304")][4].replace(",", ""))
            assert revalidated < nginx_body  # If-None-Match answered without the body
    bursts = [line.split() for line in done.stdout.splitlines() if line.startswith("  clarion-")]
    assert [b[0] for b in bursts] == ["clarion-1w", "clarion-2w"], done.stdout
    for burst in bursts:
        assert burst[burst.index("errors") + 1] == "0", burst  # no error while the cache reloads
        assert "never" not in burst, burst  # the publication reached the page during the burst
    assert "x nginx" in done.stdout and "peak RSS" in done.stdout


def test_trust_signals_benchmark_prints_quality_per_language_and_speed() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "trust_signals.py"), "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for heading in ("en (", "de (", "all ("):
        assert heading in done.stdout
    assert "== trust_eval.csv" in done.stdout and "== trust_holdout.csv (held out" in done.stdout
    assert done.stdout.count("macro-F1") == 6  # en, de, all on each set
    assert done.stdout.count("polarity accuracy") == 6
    assert done.stdout.count("  contact ") == 6
    assert done.stdout.count("  regained_confidence ") == 6
    assert done.stdout.count("polarity confusion") == 2
    assert "answers/s on one core" in done.stdout


def test_survey_invites_benchmark_prints_both_runs_at_both_sizes() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "survey_invites.py"), "--recipients", "300"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines()[1:]]
    assert [(r[0], r[1]) for r in rows] == [
        ("30", "first"),
        ("30", "again"),
        ("300", "first"),
        ("300", "again"),
    ]
    assert float(rows[2][3].replace(",", "")) > 0 and float(rows[2][4]) > 0  # invites/s, peak RSS


def test_evidence_benchmark_exports_and_verifies_both_sizes_with_their_memory() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "evidence.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert "peak RSS MB" in header and "traced peak MB" in header and "rows/s" in header
    figures = [row.split() for row in rows]
    assert [f[0] for f in figures] == ["2,000", "20,000"]  # every delivery in the pack, by its manifest
    assert [f[1] for f in figures] == ["4,000", "40,000"]
    for f in figures:
        assert float(f[4].replace(",", "")) > 0 and float(f[-1]) > 0  # rows/s, traced peak


@pytest.mark.postgres
def test_shared_rate_benchmark_runs_and_the_sandbox_counts_every_message() -> None:
    done = subprocess.run(
        [
            *(sys.executable, str(ROOT / "bench" / "shared_rate.py"), "--workers", "2", "--messages", "20"),
            *("--rate", "10", "--limit", "15", "--no-sqlite"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if line.startswith("postgresql"))
    assert "20/20" in row and "exit [0, 0]" in row, done.stdout


def test_fallback_benchmark_runs_and_prints_its_table() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "fallback.py"), "--sizes", "200"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    row = done.stdout.splitlines()[-1].split()
    assert row[0] == "200" and row[3] == "100" and row[5] == "200"  # half bounced, all swept: each fell back


@pytest.mark.postgres
def test_chaos_benchmark_runs_and_ends_with_its_one_line() -> None:
    """Small and without the database restart (tests/clarion/outbox/test_chaos.py restarts it)."""
    done = subprocess.run(
        [
            *(sys.executable, str(ROOT / "bench" / "chaos.py"), "--recipients", "200", "--phones", "40"),
            *("--kills", "1", "--outage-seconds", "1", "--backoff-cap", "4", "--no-db-restart"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    last = done.stdout.splitlines()[-1]
    assert last.startswith("chaos: kills 1, accepted 250 of 250, lost 0, duplicates "), done.stdout
    assert "blind email resends" in last


@pytest.mark.postgres
def test_fanout_matrix_prints_every_store_latency_and_size_in_one_table() -> None:
    done = subprocess.run(
        [
            *(sys.executable, str(ROOT / "bench" / "fanout.py"), "--matrix", "--naive-sample", "3"),
            *("--matrix-sizes", "200,400", "--matrix-latencies", "1"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    cells = [
        line.split()[:3] for line in done.stdout.splitlines() if line.startswith(("SQLite ", "PostgreSQL "))
    ]
    assert cells == [
        ["SQLite", "1ms", "200"],
        ["PostgreSQL", "1ms", "200"],
        ["SQLite", "1ms", "400"],
        ["PostgreSQL", "1ms", "400"],
    ], done.stdout
    assert "FAILED" not in done.stdout, done.stdout
    assert done.stdout.count("  memory, ") == 2 and "send x bare" in done.stdout
