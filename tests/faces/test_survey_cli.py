"""``clarion survey report | export-recipient | forget-recipient | tag``, through the real command line
(``faces.cli.app``) on a store seeded in this test's own CLARION_HOME."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import typer
from sqlmodel import Session, select
from typer.testing import CliRunner, Result

from clarion import store
from clarion.models import AuditEvent, Incident, SurveyInvite, SurveyResponse
from faces.cli import app
from tests.clarion.surveys.answer_world import SurveyRows, resolved_incident

runner = CliRunner()


@pytest.fixture
def incident() -> Incident:
    """A resolved incident: three asked, two answered (one allowed quoting), one follow-up open."""
    engine = store.get_engine()
    store.migrate(engine)
    incident = resolved_incident(engine)
    rows = SurveyRows(engine, incident)
    rows.open_survey(invited=3)
    rows.answer(
        "ada",
        informed=5,
        trust=5,
        text="A relief, thank you",
        tags=["relief"],
        polarity="positive",
        quote=True,
    )
    rows.answer("bob", informed=1, trust=2, nps=2, contact=True)
    rows.followup("bob")
    rows.ask("cy", email="cy@example.com")
    return incident


def run(*args: str) -> Result:
    return runner.invoke(app, list(args))


def test_report_prints_the_markdown(incident: Incident) -> None:
    done = run("survey", "report", incident.reference)
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith(f"# {incident.reference} survey: Checkout was failing\n")
    assert (
        "**2 of 3 answered (67 %).** Positive to negative: 1.0 : 1 (1 positive, 1 negative)." in done.stdout
    )
    assert "NPS -100 (1 answer)." in done.stdout and "Follow-ups: 1 open of 1." in done.stdout
    assert "> A relief, thank you" in done.stdout


def test_report_as_json(incident: Incident) -> None:
    done = run("survey", "report", incident.reference, "--json")
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert (data["reference"], data["invited"], data["answered"], data["ratio"]) == (
        incident.reference,
        3,
        2,
        1.0,
    )
    assert data["quotes"]["relief"] == ["A relief, thank you"]


def test_an_unknown_incident_is_a_clear_error(incident: Incident) -> None:
    done = run("survey", "report", "INC-9999")
    assert (done.exit_code, done.stdout) == (2, "")
    assert "no incident 'INC-9999'" in done.stderr
    done = run("survey", "report", "yesterday")
    assert done.exit_code != 0 and "is not an incident reference" in done.stderr


def test_export_to_stdout_and_to_a_private_file(incident: Incident, tmp_path: Path) -> None:
    done = run("survey", "export-recipient", "bob")
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert [a["informed"] for a in data["answers"]] == [1] and len(data["followups"]) == 1
    assert data["notices"][0]["address"] == "bob@example.com"

    target = tmp_path / "bob.json"
    target.write_text("old")
    target.chmod(0o644)
    done = run("survey", "export-recipient", "bob", "--out", str(target))
    assert done.exit_code == 0, done.output
    assert done.stdout == ""
    assert f"1 invitation, 1 answer, 1 follow-up, 1 notice of 'bob' written to {target}" in done.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert json.loads(target.read_text(encoding="utf-8")) == data


def test_forget_needs_yes_then_erases_and_says_what(incident: Incident) -> None:
    refused = run("survey", "forget-recipient", "bob")
    assert refused.exit_code == 2 and "add --yes" in refused.stderr
    with Session(store.get_engine()) as session:
        assert len(session.exec(select(SurveyResponse)).all()) == 2

    done = run("survey", "forget-recipient", "bob", "--yes", "--by", "dpo@acme.example")
    assert done.exit_code == 0, done.output
    assert done.stdout == (
        "erased the survey data of 'bob': 1 invitation, 1 answer, 1 follow-up deleted; "
        "1 notice kept without address or content, 1 of them no longer to be sent\n"
    )
    with Session(store.get_engine()) as session:
        assert len(session.exec(select(SurveyInvite)).all()) == 2
        entry = session.exec(select(AuditEvent).where(AuditEvent.action == "survey.recipient-erased")).one()
        assert entry.actor == "dpo@acme.example"
    assert run("survey", "forget-recipient", "nobody", "--yes").exit_code == 2


def test_the_tagger_is_a_survey_command() -> None:
    group = typer.main.get_command(app).commands["survey"]  # type: ignore[attr-defined]
    assert {"report", "export-recipient", "forget-recipient", "tag"} <= set(group.commands)
