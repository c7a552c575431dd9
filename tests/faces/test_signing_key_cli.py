"""A missing, empty or weak signing key stops ``web``, ``serve`` and ``outbox work`` with one line.

Run as people run them (the ``clarion`` script), so a traceback would show: exit 1, one ``error:``
line naming ``CLARION_SECRET_KEY`` or the key file, and nothing sent or started.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from channels.sandbox import running_sandbox
from tests.faces.processes import free_port
from tests.helpers import EXAMPLES, ROOT

CLARION = str(Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "clarion")
AUDIENCE = ROOT / "examples" / "audiences" / "affected-customers.csv"
EMPTY = {"CLARION_SECRET_KEY": ""}
SHORT = {"CLARION_SECRET_KEY": "only-twenty-chars-ok"}


def clarion(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "CLARION_HOME": str(home), **env}
    return subprocess.run(
        [CLARION, *args], env=full, capture_output=True, text=True, timeout=120, check=False
    )


def assert_refused_in_one_line(done: subprocess.CompletedProcess[str], says: str) -> None:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: ") and says in line, line
    assert "secrets.token_urlsafe(32)" in line


@pytest.mark.parametrize(
    ("env", "says"),
    [
        (EMPTY, "CLARION_SECRET_KEY is set but empty"),
        (SHORT, "CLARION_SECRET_KEY is set but only 20 characters"),
    ],
)
def test_missing_empty_or_short_secret_keys_are_refused(
    tmp_path: Path, env: dict[str, str], says: str
) -> None:
    port = str(free_port())
    prefect = f"http://127.0.0.1:{free_port()}/api"

    web = clarion(tmp_path, "web", "--port", port, **env)
    serve = clarion(
        tmp_path,
        "serve",
        "--port",
        port,
        "--no-sandbox",
        **env,
        CLARION_PREFECT_API_URL=prefect,
        PREFECT_API_URL=prefect,
    )

    assert_refused_in_one_line(web, says)
    assert_refused_in_one_line(serve, says)
    assert "clarion on" not in web.stdout and "running" not in serve.stdout


def test_a_short_key_file_stops_the_worker_before_anything_is_sent(tmp_path: Path) -> None:
    staged = clarion(
        tmp_path,
        "outbox",
        "stage",
        "data-breach",
        "-f",
        str(EXAMPLES / "data-breach.yaml"),
        "-r",
        f"affected-customers={AUDIENCE}",
    )
    assert staged.returncode == 0, staged.stderr
    (tmp_path / "secret.key").write_text("cut-short")

    with running_sandbox() as box:
        worked = clarion(
            tmp_path, "outbox", "work", "--name", "t", "--no-progress", CLARION_SANDBOX_URL=box.url
        )
        requests = box.stats()["requests"]

    assert_refused_in_one_line(worked, "secret.key: the signing key in this file is only 9 characters")
    assert requests["total"] == 0  # no provider was called
    assert (tmp_path / "secret.key").read_text() == "cut-short"
