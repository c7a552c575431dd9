"""``clarion sandbox``: the foreground server, and ``inbox`` / ``stats`` against a running one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from channels.sandbox import SandboxHandle
from faces.cli import app
from tests.channels.sandbox.helpers import MESSAGES, SENDGRID_AUTH, TWILIO_AUTH, mail, sms

runner = CliRunner()
CLARION = str(Path(sys.executable).with_name("clarion"))


def test_inbox_prints_what_the_sandbox_accepted(client: httpx.Client, sandbox: SandboxHandle) -> None:
    client.post("/v3/mail/send", headers=SENDGRID_AUTH, json=mail("alice@example.com", "bob@example.com"))
    client.post(MESSAGES, auth=TWILIO_AUTH, data=sms(to="+4915199999999"))

    result = runner.invoke(app, ["sandbox", "inbox", "--url", sandbox.url])

    assert result.exit_code == 0, result.output
    assert "3 of 3" in result.output
    for expected in ("alice@example.com", "bob@example.com", "+4915199999999", "d-1", "Payments outage"):
        assert expected in result.output

    only_sms = runner.invoke(
        app, ["sandbox", "inbox", "--url", sandbox.url, "--channel", "sms", "--limit", "5"]
    )
    assert "1 of 1" in only_sms.output and "alice@example.com" not in only_sms.output


def test_inbox_uses_the_sandbox_url_setting(sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    from clarion.settings import get_settings

    monkeypatch.setenv("CLARION_SANDBOX_URL", sandbox.url)
    get_settings.cache_clear()

    result = runner.invoke(app, ["sandbox", "inbox"])

    assert result.exit_code == 0, result.output
    assert "0 of 0" in result.output


def test_stats_prints_the_counts(client: httpx.Client, sandbox: SandboxHandle) -> None:
    client.post(MESSAGES, auth=TWILIO_AUTH, data=sms(to="bad"))

    result = runner.invoke(app, ["sandbox", "stats", "--url", sandbox.url])

    assert result.exit_code == 0, result.output
    assert "rejected" in result.output and "400" in result.output


def test_no_sandbox_running_is_a_clear_error() -> None:
    result = runner.invoke(app, ["sandbox", "inbox", "--url", "http://127.0.0.1:9"])

    assert result.exit_code == 1
    assert "no sandbox answering at http://127.0.0.1:9" in result.output


def test_bad_options_exit_2() -> None:
    result = runner.invoke(app, ["sandbox", "--fault-rate", "3"])

    assert result.exit_code == 2
    assert "fault_rate" in result.output


def test_foreground_sandbox_prints_its_url_serves_and_stops_on_ctrl_c() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        [CLARION, "sandbox", "--port", "0", "--fault-rate", "0.5", "--seed", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as process:
        try:
            assert process.stdout is not None
            banner = process.stdout.readline()
            assert banner.startswith("clarion provider sandbox on http://127.0.0.1:")
            assert "faults: 50% 503" in banner
            url = banner.split(" on ", 1)[1].split(" ", 1)[0]
            assert httpx.get(f"{url}/_sandbox/config", timeout=5).json()["seed"] == 1
        finally:
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=15)
    assert process.returncode == 0, stderr


def test_clarion_help_does_not_import_the_server_stack() -> None:
    code = "import sys, faces.cli; print(sorted({'fastapi', 'uvicorn', 'jsonschema'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert done.stdout.strip() == "[]"
