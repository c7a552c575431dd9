"""``clarion serve``: its options and refusals (the whole stack running is in test_stack.py)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clarion.settings import get_settings
from faces.cli import app
from tests.faces.processes import free_port

runner = CliRunner()


@pytest.fixture(autouse=True)
def nothing_answers_for_prefect(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("CLARION_PREFECT_API_URL", f"http://127.0.0.1:{free_port()}/api")
    get_settings.cache_clear()


def test_help_names_the_options() -> None:
    result = runner.invoke(app, ["serve", "--help"])

    assert result.exit_code == 0
    for words in ("--host", "--port", "--prefect-port", "--sandbox-port", "--no-sandbox", "4200", "8766"):
        assert words in result.output


def test_help_imports_neither_prefect_nor_the_stack() -> None:
    script = (
        "import json, sys\n"
        "from faces.cli import main\n"
        "sys.argv = ['clarion', 'serve', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )

    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    assert {"prefect", "faces.stack", "faces.supervisor", "uvicorn", "sqlalchemy"} & loaded == set()


@pytest.mark.parametrize("option", ["--port", "--prefect-port", "--sandbox-port"])
@pytest.mark.parametrize("port", ["0", "70000", "http"])
def test_a_bad_port_is_refused_before_anything_starts(option: str, port: str) -> None:
    result = runner.invoke(app, ["serve", option, port])

    assert result.exit_code == 2
    assert f"Invalid value for '{option}'" in result.output


def test_a_port_in_use_is_refused_before_anything_starts() -> None:
    home = get_settings().home
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]

        result = runner.invoke(app, ["serve", "--port", str(port)])

    assert result.exit_code == 1
    assert f"cannot start the web app (--port): 127.0.0.1:{port} is already in use" in result.output
    assert not Path(home / "run").exists()  # no child was started
    assert (home / "clarion.db").exists()  # the store was migrated first
