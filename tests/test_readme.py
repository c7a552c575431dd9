"""The README's examples are executed, so they cannot drift from what clarion does."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from clarion.facts import Facts, fit_problems
from clarion.playbook import load_playbook
from tests.helpers import EXAMPLES, PLAYBOOKS, ROOT, load_raw

README = (ROOT / "README.md").read_text(encoding="utf-8")
CLARION = str(Path(sys.executable).with_name("clarion"))


def test_the_two_commands_are_make_targets() -> None:
    block = re.search(r"## The two commands.*?```sh\n(.*?)```", README, re.S)
    assert block is not None
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_lint_example_matches_real_output() -> None:
    block = re.search(r"<!-- readme-example: lint -->\n```console\n\$ (.*?)\n(.*?)```", README, re.S)
    assert block is not None
    command, expected = block.group(1), block.group(2)
    args = shlex.split(command)
    assert args[0] == "clarion"
    done = subprocess.run([CLARION, *args[1:]], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert done.stderr + done.stdout == expected


def test_deadline_example_prints_what_it_says() -> None:
    block = re.search(
        r"<!-- readme-example: deadline -->\n```python\n(.*?)```\n```text\n(.*?)```", README, re.S
    )
    assert block is not None
    code, expected = block.group(1), block.group(2)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == expected


def test_commitments_example_is_valid_facts() -> None:
    block = re.search(r"<!-- readme-example: commitments -->\n```yaml\n(.*?)```", README, re.S)
    assert block is not None
    facts = load_raw(EXAMPLES / "data-breach.yaml") | yaml.safe_load(block.group(1))
    checked = Facts.model_validate(facts)
    assert [c.id for c in checked.commitments] == ["C1"]
    assert fit_problems(checked, load_playbook(PLAYBOOKS / "data-breach.yaml")) == []


def test_survey_tag_example_prints_what_it_says() -> None:
    block = re.search(r"<!-- readme-example: survey-tag -->\n```console\n\$ (.*?)\n(.*?)```", README, re.S)
    assert block is not None
    command, expected = block.group(1), block.group(2)
    args = shlex.split(command)
    assert args[0] == "clarion"
    done = subprocess.run([CLARION, *args[1:]], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == expected


def test_the_channel_entry_point_example_is_the_test_packages_own() -> None:
    """The recipe's entry point is the one the pigeon package installs, and the table has the pigeon."""
    from clarion.channel_table import spec_of

    block = re.search(r"<!-- readme-example: channel-entry-point -->\n```toml\n(.*?)```", README, re.S)
    assert block is not None
    pyproject = (ROOT / "tests" / "plugins" / "clarion-pigeon" / "pyproject.toml").read_text(encoding="utf-8")
    assert block.group(1) in pyproject
    assert spec_of("pigeon").name == "pigeon"


def test_report_example_prints_what_it_says(tmp_path: Path) -> None:
    """The report of the incident of known timings, in a store of the test's own; only the moment
    the figures are as of differs from the README's."""
    import os

    from clarion import store
    from tests.clarion.review.review_world import known_incident

    block = re.search(r"<!-- readme-example: report -->\n```console\n\$ (.*?)\n(.*?)```", README, re.S)
    assert block is not None
    command, expected = block.group(1), block.group(2)
    args = shlex.split(command)
    assert args[0] == "clarion"
    engine = store.make_engine(f"sqlite:///{tmp_path / 'clarion.db'}")
    store.migrate(engine)
    known_incident(engine)
    engine.dispose()
    environment = {**os.environ, "CLARION_HOME": str(tmp_path)}
    done = subprocess.run(
        [CLARION, *args[1:]], cwd=ROOT, capture_output=True, text=True, check=False, env=environment
    )
    assert done.returncode == 0, done.stderr
    as_of = re.compile(r"as of \d{4}-\d\d-\d\d \d\d:\d\d UTC")
    assert as_of.sub("as of …", done.stdout).startswith(as_of.sub("as of …", expected))
