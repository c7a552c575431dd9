"""``clarion followups [--open] [--incident INC]`` and ``clarion followups done ID --note …``, through the
real command line (``faces.cli.app``) on a store seeded in this test's own CLARION_HOME."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner, Result

from clarion import store
from clarion.kinds import Channel
from clarion.models import AuditEvent, Incident, SurveyFollowup, utcnow
from faces.cli import app
from faces.followups_cli import age
from tests.clarion.surveys.answer_world import SurveyRows, resolved_incident

runner = CliRunner()


@pytest.fixture
def incidents() -> tuple[Incident, Incident, dict[str, int]]:
    """Two incidents: Ada (by phone) waits and Bob was called back; Cy asked about the second."""
    engine = store.get_engine()
    store.migrate(engine)
    first, second = resolved_incident(engine), resolved_incident(engine, title="Login")
    rows = SurveyRows(engine, first, opened_at=utcnow() - timedelta(days=3))
    rows.ask("ada", channel=Channel.SMS, phone="+447700900123")
    rows.answer("ada", informed=1, trust=2, contact=True)
    rows.answer("bob", informed=4, trust=3, contact=True)
    other = SurveyRows(engine, second, opened_at=utcnow() - timedelta(hours=5))
    other.answer("cy", informed=2, trust=2, contact=True)
    ids = {
        "ada": rows.followup("ada"),
        "bob": rows.followup("bob", closed_note="Called back."),
        "cy": other.followup("cy"),
    }
    return first, second, ids


def run(*args: str) -> Result:
    return runner.invoke(app, list(args))


def lines_with(output: str, word: str) -> list[str]:
    return [line for line in output.splitlines() if word in line]


def test_the_list_shows_who_to_call_how(incidents: tuple[Incident, Incident, dict[str, int]]) -> None:
    first, second, ids = incidents
    done = run("followups")
    assert done.exit_code == 0, done.output
    for word in ("id", "incident", "age", "reason", "channel", "address", "scores", "state"):
        assert word in done.stdout.splitlines()[1]
    (ada,) = lines_with(done.stdout, "+447700900123")
    assert [cell.strip() for cell in ada.split("│")[1:-1]] == [
        str(ids["ada"]),
        first.reference,
        "2 d",  # opened two hours after the survey, three days ago
        "asked",
        "phone",
        "+447700900123",
        "informed 1/5, trust 2/5",
        "open",
    ]
    (bob,) = lines_with(done.stdout, "bob@example.com")
    assert f"done {utcnow() - timedelta(days=2):%Y-%m-%d}" in bob
    (cy,) = lines_with(done.stdout, "cy@example.com")
    assert f" {second.reference} " in cy and " 3 h " in cy
    assert "2 open of 3; close one with `clarion followups done ID --note …`" in done.stdout


def test_open_and_by_incident(incidents: tuple[Incident, Incident, dict[str, int]]) -> None:
    first, second, _ids = incidents
    waiting = run("followups", "--open")
    assert waiting.exit_code == 0, waiting.output
    assert "bob@example.com" not in waiting.stdout and "state" not in waiting.stdout
    assert lines_with(waiting.stdout, "+447700900123") and lines_with(waiting.stdout, "cy@example.com")
    one = run("followups", "--incident", second.reference)
    assert one.exit_code == 0, one.output
    assert lines_with(one.stdout, "cy@example.com") and first.reference not in one.stdout
    none = run("followups", "--open", "--incident", "INC-9999")
    assert (none.exit_code, none.stdout) == (0, "no open follow-ups\n")


def test_done_closes_with_a_note_once(incidents: tuple[Incident, Incident, dict[str, int]]) -> None:
    _first, _second, ids = incidents
    done = run(
        "followups", "done", str(ids["ada"]), "--note", "Called Ada, all good", "--by", "sam@acme.example"
    )
    assert done.exit_code == 0, done.output
    assert done.stdout == f"follow-up {ids['ada']} closed by sam@acme.example\n"
    with Session(store.get_engine()) as session:
        row = session.get(SurveyFollowup, ids["ada"])
        assert row is not None and (row.note, row.closed_by) == ("Called Ada, all good", "sam@acme.example")
        assert session.exec(select(AuditEvent).where(AuditEvent.action == "survey.followup-closed")).one()
    again = run("followups", "done", str(ids["ada"]), "--note", "Again", "--by", "sam@acme.example")
    assert again.exit_code == 2 and "was closed already" in again.stderr
    missing = run("followups", "done", "999", "--note", "x", "--by", "sam@acme.example")
    assert missing.exit_code == 2 and "there is no follow-up 999" in missing.stderr
    assert "Open" not in run("followups", "--open").stdout.split("+447700900123")[0]


@pytest.mark.parametrize(
    ("waited", "shown"),
    [
        (timedelta(minutes=12), "12 min"),
        (timedelta(hours=3, minutes=59), "3 h"),
        (timedelta(hours=47), "47 h"),
        (timedelta(days=2, hours=23), "2 d"),
        (timedelta(seconds=-5), "0 min"),
    ],
)
def test_age(waited: timedelta, shown: str) -> None:
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    assert age(now - waited, now) == shown
