"""The one-machine stack: what it starts and where, a failure that stops it, and ``clarion serve`` for real.

The last test starts a real Prefect server (about 20-35 s on a 2-core machine for its first start,
which runs the migrations), the provider sandbox, the web app and the flow runner.
"""

from __future__ import annotations

import contextlib
import http.server
import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from rich.console import Console

from clarion.kinds import Channel
from clarion.settings import Settings
from faces.stack import Stack, StackError
from faces.supervisor import Service, Supervisor
from flows.deployments import SPECS
from tests.faces.processes import alive, eventually, free_port, group_members

CLARION = str(Path(sys.executable).with_name("clarion"))
NAMES = {"prefect-server", "sandbox", "web", "flows"}


@pytest.fixture(autouse=True)
def no_prefect_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)


def settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(home=tmp_path / "home", **values)  # type: ignore[arg-type]


def test_ports_and_urls_come_from_the_settings(tmp_path: Path) -> None:
    stack = Stack(
        settings(
            tmp_path,
            public_url="http://localhost:9001",
            sandbox_url="http://127.0.0.1:9002",
            prefect_api_url="http://127.0.0.1:9003/api",
        )
    )

    assert (stack.web, stack.sandbox, stack.prefect_ui, stack.prefect_api) == (
        "http://127.0.0.1:9001",
        "http://127.0.0.1:9002",
        "http://127.0.0.1:9003",
        "http://127.0.0.1:9003/api",
    )
    assert stack.logs == (tmp_path / "home" / "logs").resolve()


def test_the_sandbox_is_started_only_for_providers_without_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIGEON_URL", "https://loft.example")  # the test package's channel, installed here
    monkeypatch.setenv("CLARION_TEAMS_WEBHOOKS", '{"ops": "https://flows.example/x?sig=t"}')
    monkeypatch.setenv("CLARION_WEBHOOK_ENDPOINTS", '{"pager": "https://pager.example/hook"}')
    monkeypatch.setenv("CLARION_WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    monkeypatch.setenv("CLARION_SLACK_BOT_TOKEN", "xoxb-0000-test")
    everything = settings(
        tmp_path,
        sendgrid_api_key=SecretStr("SG.x"),
        twilio_account_sid="AC1",
        twilio_auth_token=SecretStr("t"),
        mastodon_base_url="https://mastodon.example",
        mastodon_access_token=SecretStr("m"),
        bluesky_identifier="acme.example",
        bluesky_app_password=SecretStr("b"),
    )
    email_only = settings(tmp_path, sendgrid_api_key=SecretStr("SG.x"))

    assert Stack(everything).sandbox is None
    assert Stack(email_only).sandbox == "http://127.0.0.1:8766"
    assert Stack(email_only).without_credentials == [Channel.SMS, Channel.MASTODON, Channel.BLUESKY]
    assert Stack(email_only, sandbox=False).sandbox is None


class FakePrefect(http.server.BaseHTTPRequestHandler):
    """Answers /api/health like a Prefect server, and 404 to everything else."""

    def reply(self) -> None:
        healthy = self.path == "/api/health"
        body = b"true" if healthy else b'{"detail": "Not Found"}'
        self.send_response(200 if healthy else 404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_PUT = reply

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def fake_prefect() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakePrefect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api"
    server.shutdown()
    server.server_close()


def test_a_prefect_server_that_answers_is_reused_and_a_failing_runner_stops_everything(
    tmp_path: Path, fake_prefect: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: dict[str, int] = {}
    start = Supervisor.start

    def recording(self: Supervisor, service: Service) -> None:
        try:
            start(self, service)
        finally:
            started.update(self.pids)

    monkeypatch.setattr(Supervisor, "start", recording)
    console = Console(file=io.StringIO(), width=300)
    web_port, sandbox_port = free_port(), free_port()
    stack = Stack(
        settings(tmp_path, prefect_api_url=fake_prefect),
        web_port=web_port,
        sandbox_port=sandbox_port,
        console=console,
    )

    with pytest.raises(StackError) as caught, stack:
        pass

    output = console.file.getvalue()  # type: ignore[attr-defined]
    assert f"reusing the Prefect server already answering at {fake_prefect}" in output
    assert "the provider sandbox is up" in output
    assert "the web app is up" in output
    assert str(caught.value) == "the flow runner exited with code 1 while starting"
    assert any("404 Not Found" in line for line in caught.value.tail)
    assert caught.value.log == stack.logs / "flows.log"
    assert set(started) == {"sandbox", "web", "flows"}  # no Prefect server of its own
    assert not any(alive(pid) for pid in started.values())
    assert list((stack.home / "run").iterdir()) == []
    for port in (web_port, sandbox_port):
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, int], Path]]:
    """``clarion serve`` on free ports with its own home, once its banner is printed."""
    home = tmp_path / "home"
    ports = {"web": free_port(), "prefect": free_port(), "sandbox": free_port()}
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")} | {
        "CLARION_HOME": str(home),
        "CLARION_PREFECT_API_URL": f"http://127.0.0.1:{ports['prefect']}/api",
    }
    stdout, stderr = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    argv = [CLARION, "serve", "--port", str(ports["web"]), "--prefect-port", str(ports["prefect"])]
    argv += ["--sandbox-port", str(ports["sandbox"])]
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=err)
    groups: list[int] = []
    try:
        deadline = time.monotonic() + 240
        while "clarion is running" not in stdout.read_text():
            assert process.poll() is None, stderr.read_text()
            assert time.monotonic() < deadline, stderr.read_text()
            time.sleep(0.5)
        groups += [int(path.read_text()) for path in (home / "run").iterdir()]
        yield process, ports, tmp_path
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for group in groups:  # never leave a Prefect server behind, whatever happened
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)


def test_clarion_serve_starts_everything_and_ctrl_c_stops_everything(
    serving: tuple[subprocess.Popen[bytes], dict[str, int], Path],
) -> None:
    process, ports, tmp_path = serving
    home = tmp_path / "home"
    pids = {path.stem: int(path.read_text()) for path in (home / "run").iterdir()}
    api = f"http://127.0.0.1:{ports['prefect']}/api"
    web = f"http://127.0.0.1:{ports['web']}"
    sandbox = f"http://127.0.0.1:{ports['sandbox']}"

    health = httpx.get(f"{api}/health", timeout=10)
    feed = httpx.get(f"{web}/banner.json", timeout=10)
    inbox = httpx.get(f"{sandbox}/_sandbox/inbox", timeout=10)
    deployments = {
        spec.full_name: httpx.get(f"{api}/deployments/name/{spec.full_name}", timeout=10) for spec in SPECS
    }
    banner = (tmp_path / "stdout.txt").read_text().splitlines()

    assert set(pids) == NAMES
    assert health.json() is True
    assert feed.json()["banners"] == []
    assert inbox.json()["total"] == 0
    assert {name: r.status_code for name, r in deployments.items()} == {name: 200 for name in deployments}
    assert not any(r.json()["paused"] for r in deployments.values())
    assert banner[0] == "clarion is running (Ctrl-C stops everything)"
    assert banner[1].split() == ["Prefect", "UI", f"http://127.0.0.1:{ports['prefect']}"]
    assert banner[2].split() == [
        "status",
        "page",
        f"{web}/",
        f"{web}/api/v2/summary.json",
        f"{web}/banner.json",
    ]
    assert banner[3].split()[:3] == ["provider", "sandbox", f"{sandbox}/_sandbox/inbox"]
    assert banner[4].split() == ["store", str(home / "clarion.db")]
    assert banner[5].split() == ["logs", f"{home / 'logs'}/"]
    assert {path.stem for path in (home / "logs").glob("*.log")} == NAMES

    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)

    stopped_in = time.monotonic() - started
    stderr = (tmp_path / "stderr.txt").read_text()
    assert process.returncode == 0, stderr
    assert stopped_in < 30
    assert "Traceback" not in stderr
    assert stderr.splitlines()[-1] == "clarion stopped"
    assert not any(alive(pid) for pid in pids.values())
    assert eventually(lambda: group_members(pids.values()) == [])
    assert list((home / "run").iterdir()) == []
