"""`clarion statuspage export` and `show`, run as a user runs them: the installed command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from clarion import store
from tests.statuspage_world import World

CLARION = str(Path(sys.executable).with_name("clarion"))


def clarion(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLARION_HOME": str(home), "CLARION_PUBLIC_URL": "https://status.acme.example"}
    return subprocess.run([CLARION, *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def seeded(home: Path) -> str:
    engine = store.make_engine(f"sqlite:///{home / 'clarion.db'}")
    store.migrate(engine)
    incident = World(engine).incident("API errors", components={"api": "major_outage"})
    engine.dispose()
    return incident.reference


def test_export_writes_the_site_and_says_what_it_did(tmp_path: Path) -> None:
    reference = seeded(tmp_path)
    site = tmp_path / "site"
    done = clarion(tmp_path, "statuspage", "export", str(site), "--locale", "de")
    assert done.returncode == 0, done.stderr
    assert "written, 0 unchanged, 0 removed" in done.stdout
    assert "status: Major System Outage; 1 open incidents" in done.stdout
    page = (site / "incidents" / reference / "index.html").read_text(encoding="utf-8")
    assert '<html lang="de">' in page and "API errors" in page
    again = clarion(tmp_path, "statuspage", "export", str(site), "--locale", "de")
    # only the home page moves with time alone ("status as of", the open outage's uptime)
    assert re.search(r": [01] written, \d+ unchanged, 0 removed", again.stdout), again.stdout


def test_show_prints_the_state_of_every_component(tmp_path: Path) -> None:
    reference = seeded(tmp_path)
    done = clarion(tmp_path, "statuspage", "show")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "https://status.acme.example: Major System Outage"
    assert any(line.split() == ["API", "major_outage"] for line in lines)
    assert any(line.strip().startswith(f"{reference} investigating") for line in lines)


def test_bad_input_is_a_clear_error_and_writes_nothing(tmp_path: Path) -> None:
    seeded(tmp_path)
    site = tmp_path / "site"
    done = clarion(tmp_path, "statuspage", "export", str(site), "--locale", "fr")
    assert (done.returncode, done.stdout) == (2, "")
    assert "'fr' is not one of en, de" in done.stderr and not site.exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    done = clarion(tmp_path, "statuspage", "export", str(mine))
    assert done.returncode == 1 and "holds files but no .clarion-export.json" in done.stderr
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    empty = tmp_path / "no-store"
    empty.mkdir()
    done = clarion(empty, "statuspage", "show")
    assert done.returncode != 0 and "Traceback" not in done.stderr
