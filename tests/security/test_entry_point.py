"""A share of the cases through the installed ``clarion`` command, in its own process.

The rest of the suite calls ``faces.cli.main()`` in this process; these prove the real entry point
behaves the same: the exit code, no traceback, no raw control character on either stream, the store
and home as they were and the sandbox untouched. Commands that would start a server if a check
failed (``web``, ``serve``) are only ever run here, under a timeout that ends their process group.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.faces.processes import free_port
from tests.helpers import PLAYBOOKS, TEMPLATES
from tests.security.cases import (
    FRESH_FACTS,
    Build,
    Outcome,
    alias_bomb,
    assert_clear,
    case,
    fifo_unblocked,
    fill,
    replaced,
    special,
    text_file,
)
from tests.security.conftest import CLARION, World

TIMEOUT = 60.0
ESC_TITLE = replaced(FRESH_FACTS, "title: Customer", 'title: "\\e]0;pwned\\a Customer').replace(
    "misconfigured export\n", 'misconfigured export"\n', 1
)
PLAYBOOK = (PLAYBOOKS / "data-breach.yaml").read_text(encoding="utf-8")


def run(
    id: str,
    args: tuple[str, ...],
    code: int,
    says: str,
    *,
    env: dict[str, str] | None = None,
    files: dict[str, Build] | None = None,
    seeded: bool = False,
    fails: str | None = None,
) -> object:
    return case(id, args, code, says, env or {}, files or {}, seeded, fails=fails)


FACTS = {"facts": text_file("facts.yaml", FRESH_FACTS)}
CASES = [
    run(
        "preview-dev-zero",
        ("preview", "data-breach", "-f", "/dev/zero"),
        2,
        r"^/dev/zero: is a character device",
    ),
    run(
        "preview-escape-in-title",
        ("preview", "data-breach", "-f", "{facts}"),
        2,
        r"^facts\.yaml:4: title: control character U\+001B",
        files={"facts": text_file("facts.yaml", ESC_TITLE)},
    ),
    run(
        "stage-fifo",
        ("outbox", "stage", "data-breach", "-f", "{facts}"),
        2,
        r"^facts\.yaml: is a named pipe",
        files={"facts": special("fifo", "facts.yaml")},
    ),
    run(
        "lint-alias-bomb",
        ("playbooks", "lint", "{playbook}"),
        2,
        r"pb/data-breach\.yaml:\d+: the document has more than",
        files={"playbook": text_file("pb/data-breach.yaml", PLAYBOOK + alias_bomb())},
    ),
    run(
        "status-never-creates",
        ("status",),
        0,
        r"",
        env={"CLARION_DATABASE_URL": "sqlite:///{work}/no/such/x.db"},
    ),
    run(
        "status-database-garbage",
        ("status",),
        1,
        r"CLARION_DATABASE_URL 'garbage' is not a database URL",
        env={"CLARION_DATABASE_URL": "garbage"},
    ),
    run(
        "status-database-unreachable",
        ("status",),
        1,
        r"cannot open the store at postgresql\+psycopg://nobody@",
        env={"CLARION_DATABASE_URL": "postgresql://nobody@127.0.0.1:9/x"},
    ),
    run(
        "preview-time-scale-0",
        ("preview", "data-breach", "-f", "{facts}"),
        1,
        r"CLARION_TIME_SCALE",
        env={"CLARION_TIME_SCALE": "0"},
        files=FACTS,
    ),
    run(
        "status-time-zone-of-mars",
        ("status",),
        1,
        r"CLARION_PUBLIC_TIME_ZONE",
        env={"CLARION_PUBLIC_TIME_ZONE": "Mars/Base"},
    ),
    run(
        "upgrade-home-a-file",
        ("db", "upgrade"),
        1,
        r"cannot create the store .*Not a directory",
        env={"CLARION_HOME": "{work}/facts.yaml"},
        files=FACTS,
    ),
    run(
        "web-empty-secret-key",
        ("web", "--port", "{port}"),
        1,
        r"CLARION_SECRET_KEY is set but empty",
        env={"CLARION_SECRET_KEY": ""},
    ),
    run(
        "web-short-secret-key",
        ("web", "--port", "{port}"),
        1,
        r"CLARION_SECRET_KEY is set but only 5",
        env={"CLARION_SECRET_KEY": "short"},
    ),
    run(
        "serve-short-secret-key",
        ("serve", "--port", "{port}", "--prefect-port", "{port}", "--no-sandbox"),
        1,
        r"CLARION_SECRET_KEY is set but only 5",
        env={"CLARION_SECRET_KEY": "short"},
    ),
    run("work-threads-0", ("outbox", "work", "--threads", "0"), 2, r"--threads", seeded=True),
    run("unknown-command-retitles", ("\x1b]0;pwned\x07",), 2, r"argument 1 .*control character U\+001B"),
    run(
        "sandbox-port-70000",
        ("sandbox", "--port", "70000"),
        2,
        r"--port",
    ),
    run(
        "notify-out-in-a-missing-folder",
        ("notify-regulator", "INC-0042", "--regime", "gdpr-art33", "--out", "no/such/folder/notice.md"),
        2,
        r"no/such/folder",
        seeded=True,
    ),
]


def _environment(world: World, extra: dict[str, str]) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("CLARION_", "PREFECT_"))}
    keep |= {
        "CLARION_HOME": str(world.home),
        "CLARION_PLAYBOOKS_DIR": str(PLAYBOOKS),
        "CLARION_TEMPLATES_DIR": str(TEMPLATES),
        "CLARION_SANDBOX_URL": world.sandbox.url,
        "PREFECT_API_URL": "http://127.0.0.1:9/api",
        "COLUMNS": "200",
    }
    return keep | extra


def _clarion(args: list[str], env: dict[str, str], cwd: Path) -> Outcome:
    process = subprocess.Popen(
        [CLARION, *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the group this test started, and nothing else
        out, err = process.communicate()
        err += f"\n(still running after {TIMEOUT:g} s: killed)".encode()
    return Outcome(process.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


@pytest.mark.parametrize(("args", "code", "says", "env", "files", "seeded"), CASES)
def test_the_installed_command_refuses_bad_input_the_same_way(
    world: World,
    args: tuple[str, ...],
    code: int,
    says: str,
    env: dict[str, str],
    files: dict[str, Build],
    seeded: bool,
) -> None:
    if seeded:
        world.seed()
    names = {"work": str(world.work), "port": str(free_port())}
    names |= {name: str(build(world.work)) for name, build in files.items()}

    before = world.snapshot()

    with fifo_unblocked(world.work):
        outcome = _clarion(
            [fill(a, names) for a in args],
            _environment(world, {k: fill(v, names) for k, v in env.items()}),
            world.work,
        )

    if code == 0:
        assert (outcome.code, "Traceback" in outcome.err) == (0, False), outcome
    else:
        assert_clear(outcome, code, (says,))
    assert world.snapshot().changes_from(before) == []
    assert not (world.work / "no").exists(), "a command that only reads created the store's folder"
