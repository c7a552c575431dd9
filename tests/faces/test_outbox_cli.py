"""``clarion outbox``: stage from a CSV, refuse a bad one with its lines, send through the sandbox."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

from channels.sandbox import running_sandbox
from tests.helpers import EXAMPLES, ROOT

CLARION = str(Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "clarion")
AUDIENCE = ROOT / "examples" / "audiences" / "affected-customers.csv"


def clarion(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "CLARION_HOME": str(home), **env}
    return subprocess.run(
        [CLARION, *args], env=full, capture_output=True, text=True, timeout=300, check=False
    )


def test_stage_then_work_sends_every_message_through_the_sandbox(tmp_path: Path) -> None:
    """Staged twice (the README promises the second run adds nothing), every message goes once."""
    command = ("outbox", "stage", "data-breach", "-f", str(EXAMPLES / "data-breach.yaml"))
    staged = clarion(tmp_path, *command, "-r", f"affected-customers={AUDIENCE}")
    again = clarion(tmp_path, *command, "-r", f"affected-customers={AUDIENCE}")
    assert staged.returncode == 0, staged.stderr
    assert "affected-customers: 6 recipients → email 5, sms 5" in staged.stdout
    assert again.returncode == 0, again.stderr
    assert "INC-0042 update 1 (staged before with these facts" in again.stdout
    with sqlite3.connect(tmp_path / "clarion.db") as db:  # each email request's body is built at staging
        requests, built = db.execute(
            "SELECT count(*), count(body_made_with) FROM provider_request"
        ).fetchone()
    assert requests and built == requests

    with running_sandbox() as box:
        worked = clarion(
            tmp_path, "outbox", "work", "--name", "t", "--no-progress", CLARION_SANDBOX_URL=box.url
        )
        accepted = box.stats()["accepted"]
    status = clarion(tmp_path, "outbox", "status")

    assert worked.returncode == 0, worked.stderr
    assert "accepted 18, failed 0" in worked.stdout
    # deliveries: 18 (two Bluesky threads among them); posts the sandbox took: a thread of 4 per locale
    assert {c: n for c, n in accepted.items() if n} == {"email": 5, "sms": 5, "mastodon": 2, "bluesky": 2 * 4}
    assert "email" in status.stdout and "│ 5 " in status.stdout


def test_a_bad_recipients_file_is_refused_with_every_line_and_nothing_staged(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,email,phone\nc1,nobody,\nc2,b@example.com,+1 555\n", encoding="utf-8")

    done = clarion(
        tmp_path,
        "outbox",
        "stage",
        "data-breach",
        "-f",
        str(EXAMPLES / "data-breach.yaml"),
        "-r",
        f"affected-customers={bad}",
    )
    status = clarion(tmp_path, "outbox", "status")

    assert done.returncode == 2
    assert "bad.csv:2: email: 'nobody' is not an email address" in done.stderr
    assert "bad.csv:3: phone:" in done.stderr
    assert "email" not in status.stdout


def test_work_against_an_unreachable_provider_says_what_it_waits_for_and_stops(tmp_path: Path) -> None:
    """Issue 12: against an unreachable provider `outbox work` printed nothing for 50 s."""
    command = ("outbox", "stage", "data-breach", "-f", str(EXAMPLES / "data-breach.yaml"))
    assert clarion(tmp_path, *command, "-r", f"affected-customers={AUDIENCE}").returncode == 0

    worked = clarion(
        tmp_path,
        "outbox",
        "work",
        "--name",
        "t",
        "--no-progress",
        "--max-wait",
        "3",
        CLARION_SANDBOX_URL="http://127.0.0.1:9",  # nothing listens: every request is refused
    )

    assert worked.returncode == 3, worked.stderr
    assert "waiting: email 5 messages, next try in" in worked.stderr
    assert "request not sent (ConnectError)" in worked.stderr
    assert "messages left in the outbox for the next `clarion outbox work`" in worked.stdout
    status = clarion(tmp_path, "outbox", "status")
    assert "Traceback" not in status.stderr and "│ 5 " in status.stdout
