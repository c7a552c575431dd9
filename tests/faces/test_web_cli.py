"""``clarion web``: options, refusals, and a real server answering over loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from faces.cli import app
from faces.stack import default_port

runner = CliRunner()
CLARION = str(Path(sys.executable).with_name("clarion"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_help_names_the_options() -> None:
    result = runner.invoke(app, ["web", "--help"])

    assert result.exit_code == 0
    for words in ("--host", "--port", "127.0.0.1", "CLARION_PUBLIC_URL", "8765", "summary.json"):
        assert words in result.output


@pytest.mark.parametrize("port", ["0", "70000", "-1", "http"])
def test_a_bad_port_is_refused_before_anything_starts(port: str) -> None:
    result = runner.invoke(app, ["web", "--port", port])

    assert result.exit_code == 2
    assert "Invalid value for '--port'" in result.output


@pytest.mark.parametrize(
    ("public_url", "port"),
    [
        ("http://127.0.0.1:8765", 8765),
        ("http://localhost:9000/clarion", 9000),
        ("https://status.acme.example", 8765),
        ("http://[::1]:bad", 8765),
    ],
)
def test_default_port_comes_from_the_public_url(public_url: str, port: int) -> None:
    assert default_port(public_url) == port


def test_a_port_in_use_is_refused_with_a_plain_message() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]

        result = runner.invoke(app, ["web", "--port", str(port)])

    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in result.output


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    env = os.environ | {
        "CLARION_HOME": str(tmp_path / "home"),
        "CLARION_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    process = subprocess.Popen(
        [CLARION, "web"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    try:
        yield base, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_web_migrates_prints_the_urls_and_answers(server: tuple[str, subprocess.Popen[str]]) -> None:
    base, process = server

    health = httpx.get(f"{base}/healthz", timeout=5)
    feed = httpx.get(f"{base}/banner.json", timeout=5)
    summary = httpx.get(f"{base}/api/v2/summary.json", timeout=5)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=10)

    assert health.json() == {"ok": True}
    assert feed.json()["banners"] == []
    assert summary.json()["status"]["indicator"] == "none"
    assert stdout.splitlines() == [
        f"clarion on {base}: the status page {base}/  {base}/api/v2/summary.json  {base}/banner.js"
    ]
    # uvicorn shuts down gracefully, then re-raises the signal: the shell's 128 + SIGINT
    assert process.returncode in (0, 128 + signal.SIGINT, -signal.SIGINT), stderr
    assert "Traceback" not in stderr
    assert "GET /banner.json" not in stdout + stderr  # log level warning: no access log
