"""``clarion declare | update | resolve | approve | status`` against a fake Prefect server.

The fake answers as the real server does (paths and bodies checked against its schemas in
``test_prefect_api.py``) and records every request, so each test can say what was sent, and that
nothing was sent when the input is wrong.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from clarion import store
from faces import incident_show, prefect_api
from faces.cli import app
from tests.clarion.incidents.test_incident_status import seed_breach
from tests.faces.fake_prefect import CHILD_ID, RUN_ID, FakePrefect, run_json
from tests.helpers import EXAMPLES, ROOT, line_of, load_raw, replace_in, write_yaml

runner = CliRunner()
CLARION = str(Path(sys.executable).with_name("clarion"))
UI = "http://127.0.0.1:4200"
BREACH = EXAMPLES / "data-breach.yaml"


@pytest.fixture
def breach() -> sa.Engine:
    """INC-0042 (data-breach) in the store: update 1 published, update 2 approved by legal, not dpo."""
    engine = store.get_engine()
    store.migrate(engine)
    seed_breach(engine)
    return engine


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def new_facts(tmp_path: Path, **changes: Any) -> Path:
    """The example breach facts for a new incident (INC-0042 would be taken once the store has it)."""
    data = load_raw(BREACH)
    data.update(changes)
    return write_yaml(tmp_path / "facts.yaml", data)


# ── declare ───────────────────────────────────────────────────────────────────────────────────────


def test_declare_sends_the_checked_facts_and_prints_the_run(prefect: FakePrefect) -> None:
    code, output = run("declare", "data-breach", "--facts", str(BREACH), "--commander", "ada", "--no-wait")

    assert code == 0, output
    [(deployment, body)] = prefect.created()
    assert deployment == "deployment-declare-incident"
    path = prefect.requests[0].url.raw_path
    assert path == b"/api/deployments/name/declare-incident/declare%20an%20incident"
    declaration = body["parameters"]["declaration"]
    assert declaration["playbook"] == "data-breach"
    assert declaration["commander"] == "ada"
    facts = declaration["facts"]
    assert facts["reference"] == "INC-0042"
    assert facts["as_of"] == "2026-11-23T09:00:00Z"
    assert facts["story"]["de"]["fix"]["short"] == "Zugang um 09:05 Uhr gesperrt."
    assert facts["links"] == {"password_reset": "https://acme.example/reset"}
    assert None not in facts.values()  # left-out facts are left out, not sent as null
    assert body["name"] == "declare · data-breach"
    assert f"{UI}/runs/flow-run/{RUN_ID}" in output
    assert "declare · data-breach" in output


@pytest.mark.parametrize(
    "left_out",
    [
        ("reference", "as_of", "aware_at", "started_at"),
        ("reference", "as_of"),  # aware_at is kept: its check against as_of waits for the flow
    ],
)
def test_declare_without_reference_and_as_of_leaves_them_to_the_flow(
    prefect: FakePrefect, tmp_path: Path, left_out: tuple[str, ...]
) -> None:
    data = load_raw(BREACH)
    for key in left_out:
        del data[key]
    facts = write_yaml(tmp_path / "facts.yaml", data)

    result = runner.invoke(
        app, ["declare", "data-breach", "-f", str(facts), "--no-wait"], catch_exceptions=False
    )

    assert result.exit_code == 0, result.output
    sent = prefect.created()[0][1]["parameters"]["declaration"]["facts"]
    assert "reference" not in sent and "as_of" not in sent
    times = {"aware_at": "2026-11-23T08:05:00Z", "started_at": "2026-11-23T06:40:00Z"}
    assert {k: sent[k] for k in times if k in sent} == {k: v for k, v in times.items() if k not in left_out}


def test_declare_of_bad_facts_names_file_line_field_and_sends_nothing(
    prefect: FakePrefect, tmp_path: Path
) -> None:
    bad = replace_in(BREACH, tmp_path / "f.yaml", "status: identified", "status: fixed")

    code, output = run("declare", "data-breach", "--facts", str(bad))

    assert code == 2
    assert f"{bad}:{line_of(bad, 'status: fixed')}: status: 'fixed' is not one of investigating" in output
    assert prefect.requests == []


def test_declare_of_facts_that_do_not_fit_the_playbook_sends_nothing(
    prefect: FakePrefect, tmp_path: Path
) -> None:
    bad = replace_in(BREACH, tmp_path / "f.yaml", "severity: sev1", "severity: sev9")

    code, output = run("declare", "data-breach", "--facts", str(bad))

    assert code == 2
    assert (
        f"{bad}:{line_of(bad, 'sev9')}: severity: 'sev9' is not one of sev1, sev2 (playbook data-breach)"
        in output
    )
    assert prefect.requests == []


PAST_DUE = {
    "id": "C1",
    "owner": "platform-lead@acme.example",
    "due": "2026-11-01",
    "text": {"en": "Second reviews.", "de": "Zweite Prüfung."},
}


def test_declare_of_a_commitment_due_before_the_update_sends_nothing(
    prefect: FakePrefect, tmp_path: Path
) -> None:
    bad = write_yaml(tmp_path / "f.yaml", {**load_raw(BREACH), "commitments": [PAST_DUE]})

    code, output = run("declare", "data-breach", "--facts", str(bad))

    assert code == 2
    line = line_of(bad, "2026-11-01")
    assert (
        f"{bad}:{line}: commitments.0.due: 2026-11-01 is before 2026-11-23, the day of this update" in output
    )
    assert prefect.requests == []


def test_an_update_naming_a_commitment_due_in_the_past_sends_nothing(
    prefect: FakePrefect, breach: sa.Engine, tmp_path: Path
) -> None:
    bad = write_yaml(
        tmp_path / "u.yaml", {"commitments": [PAST_DUE, {**PAST_DUE, "id": "C2", "text": {"en": "x"}}]}
    )

    code, output = run("update", "INC-0042", "--facts", str(bad))

    assert code == 2
    said = " ".join(output.split())
    assert "commitments.0.due: 2026-11-01 is before" in said
    assert "a new commitment cannot be due in the past" in said
    assert "commitments.1.text: no text in de for C2" in output
    assert prefect.requests == []


def test_declare_of_a_taken_reference_says_to_post_an_update(prefect: FakePrefect, breach: sa.Engine) -> None:
    code, output = run("declare", "data-breach", "--facts", str(BREACH))

    assert code == 2
    assert f"{line_of(BREACH, 'reference: INC-0042')}: reference: INC-0042 is already declared" in output
    assert "`clarion update INC-0042`" in output
    assert prefect.requests == []


def test_declare_of_an_unknown_playbook_sends_nothing(prefect: FakePrefect) -> None:
    code, output = run("declare", "data-braech", "--facts", str(BREACH))

    assert code == 2
    assert "data-braech.yaml: file not found" in output
    assert prefect.requests == []


def test_declare_follows_the_run_until_it_waits_for_approval(prefect: FakePrefect) -> None:
    prefect.states = [
        run_json("declare · data-breach", "PENDING", "Pending"),
        run_json("declare · data-breach", "RUNNING", "Running"),
        run_json("INC-0042 · update 1", "RUNNING", "Running"),
    ]
    prefect.children = [run_json("INC-0042 · update 1 · publish", "PAUSED", "Paused", id=CHILD_ID)]
    prefect.on_pause = lambda: (store.migrate(), seed_breach(store.get_engine(), with_second=False))

    code, output = run("declare", "data-breach", "--facts", str(BREACH))

    assert code == 0, output
    assert "declare · data-breach: Running" in output
    assert "INC-0042 · update 1: Running" in output  # the run renamed itself after the incident
    assert (
        "INC-0042 · update 1 · publish: waiting for approval by: "
        "dpo: dpo@example.com or backup deputy-dpo@example.com — "
        "answer with `clarion approve INC-0042 --as ROLE --by EMAIL`"
    ) in output


def test_declare_exits_1_with_the_message_of_a_failed_run(prefect: FakePrefect) -> None:
    prefect.states = [
        run_json("declare · data-breach", "RUNNING", "Running"),
        run_json("INC-0042 · update 1", "FAILED", "Failed", message="ApprovalExpired: nothing was sent"),
    ]

    code, output = run("declare", "data-breach", "--facts", str(BREACH))

    assert code == 1
    assert "run INC-0042 · update 1 failed: ApprovalExpired: nothing was sent" in output


def test_declare_reports_a_completed_run(prefect: FakePrefect) -> None:
    prefect.states = [run_json("INC-0042 · update 1", "COMPLETED", "Completed")]

    code, output = run("declare", "data-breach", "--facts", str(BREACH))

    assert code == 0, output
    assert "INC-0042 · update 1: completed; see `clarion status INC-0042`" in output


def test_following_gives_up_after_the_timeout_and_says_the_run_goes_on(
    prefect: FakePrefect, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(incident_show, "POLL_SECONDS", 0.05)
    prefect.states = [run_json("declare · data-breach", "SCHEDULED", "Late")]

    code, output = run("declare", "data-breach", "--facts", str(BREACH), "--timeout", "1")

    assert code == 1
    assert f"still Late after 1 s; the run goes on: {UI}/runs/flow-run/{RUN_ID}" in output


def test_parameters_the_server_refuses_exit_2_with_its_reason(prefect: FakePrefect) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/create_flow_run"):
            detail = "Error creating flow run: Validation failed for field 'declaration.playbook'."
            return httpx.Response(409, json={"detail": detail})
        return prefect(request)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(prefect_api, "make_transport", lambda: httpx.MockTransport(refuse))
        code, output = run("declare", "data-breach", "--facts", str(BREACH))

    assert code == 2
    assert "the server refused the parameters: Validation failed for field 'declaration.playbook'." in output


def test_a_server_that_is_not_running_is_one_line_and_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        api = f"http://127.0.0.1:{sock.getsockname()[1]}/api"
    monkeypatch.setenv("PREFECT_API_URL", api)

    result = runner.invoke(app, ["declare", "data-breach", "--facts", str(BREACH)])

    assert result.exit_code == 1
    assert result.stderr == f"error: cannot reach the Prefect server at {api}: is `clarion serve` running?\n"
    assert result.exception is None or isinstance(result.exception, SystemExit)


# ── update and resolve ────────────────────────────────────────────────────────────────────────────


def test_update_splits_status_severity_and_story_from_the_other_changes(
    prefect: FakePrefect, breach: sa.Engine, tmp_path: Path
) -> None:
    facts = write_yaml(
        tmp_path / "update.yaml",
        {
            "status": "monitoring",
            "severity": "sev2",
            "story": {"en": {"fix": "We closed access and rotated every credential."}},
            "impact": {"summary": "About 8 300 customers.", "affected_count": 8300},
            "next_update_by": "2026-11-23T18:00:00Z",
        },
    )

    code, output = run("update", "INC-0042", "--facts", str(facts), "--no-wait")

    assert code == 0, output
    [(deployment, body)] = prefect.created()
    assert deployment == "deployment-post-update"
    assert body["parameters"] == {
        "request": {
            "reference": "INC-0042",
            "status": "monitoring",
            "severity": "sev2",
            "story": {"en": {"fix": {"text": "We closed access and rotated every credential."}}},
            "changes": {
                "impact": {"summary": "About 8 300 customers.", "affected_count": 8300},
                "next_update_by": "2026-11-23T18:00:00Z",
            },
        },
        "kind": "update",
    }
    assert (body["name"], body["tags"]) == ("INC-0042 · update", ["INC-0042"])


def test_a_correction_with_only_a_new_status(prefect: FakePrefect, breach: sa.Engine) -> None:
    code, output = run("update", "INC-0042", "--status", "identified", "--correction", "--no-wait")

    assert code == 0, output
    parameters = prefect.created()[0][1]["parameters"]
    assert parameters == {
        "request": {"reference": "INC-0042", "status": "identified", "story": {}, "changes": {}},
        "kind": "correction",
    }


def test_a_bad_update_file_names_every_line_and_sends_nothing(
    prefect: FakePrefect, breach: sa.Engine, tmp_path: Path
) -> None:
    facts = tmp_path / "update.yaml"
    facts.write_text(
        "status: fixed\nstory:\n  en:\n    cuase: a typo\nimpcat:\n  summary: x\n", encoding="utf-8"
    )

    code, output = run("update", "INC-0042", "--facts", str(facts))

    assert code == 2
    assert (
        f"{facts}:1: status: 'fixed' is not one of investigating, identified, monitoring, resolved" in output
    )
    assert f"{facts}:4: story.en.cuase: unknown key (did you mean 'cause'?)" in output
    assert f"{facts}:5: impcat: unknown key (did you mean 'impact'?)" in output
    assert prefect.requests == []


def test_an_update_must_fit_the_incidents_playbook(
    prefect: FakePrefect, breach: sa.Engine, tmp_path: Path
) -> None:
    facts = write_yaml(tmp_path / "u.yaml", {"severity": "sev3", "story": {"fr": {"fix": "Corrigé."}}})

    code, output = run("update", "INC-0042", "-f", str(facts))

    assert code == 2
    assert f"{facts}:1: severity: 'sev3' is not one of sev1, sev2 (playbook data-breach)" in output
    assert f"{facts}:3: story.fr: locale 'fr' is not in playbook data-breach's locales" in output
    assert prefect.requests == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["INC-0099", "--status", "monitoring"], "no incident 'INC-0099'"),
        (["INC-42", "--status", "monitoring"], "'INC-42' is not an incident reference"),
        (["INC-0042", "--status", "fixed"], "--status 'fixed' is not one of investigating"),
        (["INC-0042"], "nothing to publish: give --facts FILE with what changed, or --status"),
    ],
)
def test_update_refusals(prefect: FakePrefect, breach: sa.Engine, args: list[str], message: str) -> None:
    code, output = run("update", *args)

    assert code == 2
    assert message in output
    assert prefect.requests == []


def test_resolve_with_nothing_new(prefect: FakePrefect, breach: sa.Engine) -> None:
    code, output = run("resolve", "INC-0042", "--no-wait")

    assert code == 0, output
    [(deployment, body)] = prefect.created()
    assert deployment == "deployment-resolve-incident"
    assert body["parameters"] == {"request": {"reference": "INC-0042", "story": {}, "changes": {}}}


def test_resolve_refuses_another_status(prefect: FakePrefect, breach: sa.Engine, tmp_path: Path) -> None:
    facts = write_yaml(tmp_path / "r.yaml", {"status": "monitoring"})

    code, output = run("resolve", "INC-0042", "-f", str(facts))

    assert code == 2
    assert f"{facts}:1: status: a resolution's status is resolved" in output
    assert prefect.requests == []


# ── approve ───────────────────────────────────────────────────────────────────────────────────────


def paused_publish(prefect: FakePrefect) -> None:
    prefect.paused = [run_json("INC-0042 · update 2 · publish", "PAUSED", "Paused", id=CHILD_ID)]


def test_approve_resumes_the_paused_run_with_the_answer(prefect: FakePrefect, breach: sa.Engine) -> None:
    paused_publish(prefect)

    code, output = run("approve", "INC-0042", "--as", "dpo", "--by", "DPO@example.com")

    assert code == 0, output
    assert prefect.resumed() == [
        (
            CHILD_ID,
            {"run_input": {"role": "dpo", "approver": "dpo@example.com", "approved": True, "reason": ""}},
        )
    ]
    assert "approved INC-0042 as dpo (dpo@example.com): resumed run INC-0042 · update 2 · publish" in output
    assert "identity asserted, not verified: recorded as approved by dpo@example.com (asserted)" in output
    assert '"approved": true' in output


def test_a_backup_rejects_with_a_reason_and_the_approver_comes_from_the_environment(
    prefect: FakePrefect, breach: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    paused_publish(prefect)
    monkeypatch.setenv("CLARION_APPROVER", "deputy-dpo@example.com")

    code, output = run("approve", "INC-0042", "--as", "dpo", "--reject", "--reason", "Name the DPO.")

    assert code == 0, output
    [(_, body)] = prefect.resumed()
    assert body["run_input"] == {
        "role": "dpo",
        "approver": "deputy-dpo@example.com",
        "approved": False,
        "reason": "Name the DPO.",
    }
    assert "rejected INC-0042 as dpo" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as", "dpo", "--by", "dpo@example.com", "--reject"], "--reject needs --reason"),
        (
            ["--as", "ceo", "--by", "dpo@example.com"],
            "INC-0042: playbook data-breach has no approval role 'ceo'; its roles are legal, dpo",
        ),
        (
            ["--as", "dpo", "--by", "mallory@example.com"],
            "mallory@example.com may not answer for dpo on INC-0042: "
            "only dpo@example.com or backup deputy-dpo@example.com",
        ),
        (
            ["--as", "legal", "--by", "legal-on-call@example.com"],
            "legal has already approved the draft of INC-0042; waiting for: dpo",
        ),
    ],
)
def test_approve_checks_role_and_approver_against_the_playbook_first(
    prefect: FakePrefect, breach: sa.Engine, args: list[str], message: str
) -> None:
    paused_publish(prefect)

    code, output = run("approve", "INC-0042", *args)

    assert code == 2
    assert message in output
    assert prefect.requests == []


def test_approve_of_an_unknown_incident(prefect: FakePrefect) -> None:
    code, output = run("approve", "INC-0099", "--as", "dpo", "--by", "dpo@example.com")

    assert code == 2
    assert "no incident 'INC-0099'" in output


def test_approve_gives_the_run_a_moment_to_pause_again(prefect: FakePrefect, breach: sa.Engine) -> None:
    """Between two answers the publish run takes a poll interval to pause for the next role."""
    paused_publish(prefect)
    prefect.pause_after = 3

    code, output = run("approve", "INC-0042", "--as", "dpo", "--by", "dpo@example.com")

    assert code == 0, output
    assert prefect.paused_asked == 4
    assert [run_id for run_id, _ in prefect.resumed()] == [CHILD_ID]


def test_approve_when_no_run_is_paused(
    prefect: FakePrefect, breach: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(incident_show, "PAUSE_GRACE", 0.2)

    code, output = run("approve", "INC-0042", "--as", "dpo", "--by", "dpo@example.com")

    assert code == 1
    assert "no approval is waiting for INC-0042" in output
    assert prefect.resumed() == []


def test_a_resume_the_server_rejects_is_reported(prefect: FakePrefect, breach: sa.Engine) -> None:
    paused_publish(prefect)
    prefect.resume_answer = {"status": "REJECT", "details": {"reason": "Run input schema not found."}}

    code, output = run("approve", "INC-0042", "--as", "dpo", "--by", "dpo@example.com")

    assert code == 2
    assert "the server did not resume the run (REJECT): Run input schema not found." in output


# ── status ────────────────────────────────────────────────────────────────────────────────────────


def test_status_lists_incidents(breach: sa.Engine) -> None:
    code, output = run("status")

    assert code == 0, output
    for column in ("reference", "playbook", "severity", "next update due", "pending approvals"):
        assert column in output
    breach_row = next(line for line in output.splitlines() if "INC-0042" in line)
    for cell in ("data-breach", "sev1", "identified", "2026-11-23 09:00 UTC", "2026-11-23 10:00 UTC", "dpo"):
        assert cell in breach_row
    assert "overdue by" in breach_row  # the promise of 2026-11-23 10:00 lapsed long ago
    resolved_row = next(line for line in output.splitlines() if "INC-0043" in line)
    assert "resolved" in resolved_row and "outage" in resolved_row


def test_status_of_no_incidents() -> None:
    code, output = run("status")

    assert code == 0
    assert "no incidents yet" in output


def test_status_of_one_incident_shows_updates_deliveries_approvals_and_timers(
    prefect: FakePrefect, breach: sa.Engine
) -> None:
    prefect.scheduled = [run_json("INC-0042 · update 1 · reminder", "SCHEDULED", "Scheduled")]

    code, output = run("status", "INC-0042")

    assert code == 0, output
    assert "INC-0042 · data-breach · sev1 · identified — Customer contact details exposed" in output
    assert "commander ada@example.com" in output
    assert "pending_approval" in output and "published" in output
    assert "deliveries of update 1" in output
    email = next(line for line in output.splitlines() if "│ email" in line)
    assert [cell.strip() for cell in email.split("│")[1:-1]] == ["email", "3", "2", "2", "1"]
    sms = next(line for line in output.splitlines() if "│ sms" in line)
    assert [cell.strip() for cell in sms.split("│")[1:-1]] == ["sms", "3", "0", "0", "0"]
    assert "pending approvals: dpo" in output
    assert "cadence check 2026-11-23 10:50 UTC" in output and "INC-0042 · update 1 · reminder" in output
    filters = [json.loads(r.content) for r in prefect.requests if r.url.path == "/api/flow_runs/filter"]
    assert filters[0]["flows"] == {"name": {"any_": ["cadence-check"]}}


def test_status_without_a_server_says_so_in_one_line(
    breach: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        api = f"http://127.0.0.1:{sock.getsockname()[1]}/api"
    monkeypatch.setenv("PREFECT_API_URL", api)

    code, output = run("status", "INC-0042")

    assert code == 0, output
    assert f"scheduled cadence checks not shown: cannot reach the Prefect server at {api}" in output


def test_status_of_an_unknown_incident(breach: sa.Engine) -> None:
    code, output = run("status", "INC-0099")

    assert code == 2
    assert "no incident 'INC-0099'" in output


# ── a fast command line ───────────────────────────────────────────────────────────────────────────


def test_the_command_line_does_not_import_prefect() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import faces.cli, sys; print('prefect' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_clarion_help_lists_the_incident_commands() -> None:
    done = subprocess.run(
        [CLARION, "--help"], capture_output=True, text=True, timeout=60, check=False, env=dict(os.environ)
    )

    assert done.returncode == 0, done.stderr
    for command in ("declare", "update", "resolve", "approve", "status"):
        assert command in done.stdout
