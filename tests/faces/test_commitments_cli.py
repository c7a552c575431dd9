"""``clarion commitments``: the list by due day (``--overdue``, one incident), and start, ship and drop
through the real command line on a store in this test's own CLARION_HOME; bad input is one clear line,
exit 2, and changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner, Result

from clarion import store
from clarion.kinds import CommitmentState, UpdateKind, UpdateState
from clarion.models import AuditEvent, Commitment
from clarion.updates.drafts import store_update
from faces.cli import app
from tests.clarion.commitments.test_commitments import AS_OF, BREACH, PROMISES, facts_with

runner = CliRunner()


@pytest.fixture
def stored() -> None:
    engine = store.get_engine()
    store.migrate(engine)
    store_update(
        engine,
        BREACH,
        facts_with(PROMISES),
        UpdateKind.INITIAL,
        AS_OF + timedelta(hours=1),
        state=UpdateState.DRAFT,
        commander="ic",
    )


def run(*args: str) -> Result:
    return runner.invoke(app, list(args))


def _states() -> dict[str, CommitmentState]:
    with Session(store.get_engine()) as session:
        return {row.key: row.state for row in session.exec(select(Commitment))}


def _audit() -> list[str]:
    with Session(store.get_engine()) as session:
        return [e.action for e in session.exec(select(AuditEvent)) if e.action.startswith("commitment.")]


def test_the_list_shows_every_commitment_by_day_and_overdue_ones_alone(stored: None) -> None:
    listed = run("commitments")
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.index("C2") < listed.stdout.index("C1")  # by due day
    assert "OVERDUE" in listed.stdout and "2 commitments, 1 overdue" in listed.stdout
    only = run("commitments", "--overdue", "INC-0042")
    assert only.exit_code == 0 and "C2" in only.stdout and "C1" not in only.stdout


def test_start_ship_and_drop_are_recorded_and_said(stored: None) -> None:
    assert run("commitments", "start", "INC-0042", "C1", "--by", "lead").exit_code == 0
    shipped = run(
        "commitments", "ship", "INC-0042", "C1", "--note", "Two reviewers now.", "--no-tell", "--by", "lead"
    )
    assert shipped.exit_code == 0, shipped.output
    assert "INC-0042 C1: shipped" in shipped.stdout
    dropped = run("commitments", "drop", "INC-0042", "C2", "--reason", "Replaced by C1.", "--by", "lead")
    assert dropped.exit_code == 0, dropped.output
    assert _states() == {"C1": CommitmentState.SHIPPED, "C2": CommitmentState.DROPPED}
    assert _audit()[-3:] == ["commitment.started", "commitment.shipped", "commitment.dropped"]
    listed = run("commitments", "INC-0042")
    assert "Two reviewers now." in listed.stdout and "Replaced by C1." in listed.stdout


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("ship", "INC-0042", "C9", "--note", "x"), "INC-0042 has no commitment C9 (it has: C1, C2)"),
        (("ship", "INC-0999", "C1", "--note", "x"), "there is no incident INC-0999"),
        (("ship", "INC-0042", "C1"), "--note: say it in a sentence"),
        (("drop", "INC-0042", "C1", "--reason", ""), "--reason: say it in a sentence"),
        (("ship", "INC-0042"), "usage: clarion commitments ship INC-0042 C1"),
        (("ship", "inc-42", "C1", "--note", "x"), "inc-42"),
    ],
)
def test_bad_input_is_one_clear_line_and_changes_nothing(
    stored: None, args: tuple[str, ...], said: str
) -> None:
    before = _audit()
    result = run("commitments", *args, "--no-tell")
    assert result.exit_code == 2, result.output
    assert said in result.output
    assert _states() == {"C1": CommitmentState.PLANNED, "C2": CommitmentState.PLANNED}
    assert _audit() == before
