"""``clarion deadlines | notify-regulator | deadline-event | deadline-override | deadline-waive``.

Through the real command line (``faces.cli.app``), on a store seeded in this test's own CLARION_HOME:
a data-breach incident opened with :func:`clarion.incidents.lifecycle.open_incident` (so its clocks start as
they do in production) and an update carrying the example facts. The Prefect server is a closed local
port: the commands that hand clocks to the watcher must still save them and say they wait.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import Result
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from clarion import store
from clarion.facts import Facts, load_facts
from clarion.incidents.lifecycle import open_incident
from clarion.kinds import DeadlineState, IncidentStatus, UpdateKind
from clarion.models import AuditEvent, Deadline, Incident, UpdateCreate, utcnow
from clarion.playbook import Playbook, load_playbook
from faces.cli import app
from tests.helpers import EXAMPLES, PLAYBOOKS

runner = CliRunner()
REF = "INC-0042"
BRUSSELS = ZoneInfo("Europe/Brussels")
NEW_YORK = ZoneInfo("America/New_York")
COLUMNS = ("regime", "stage", "recipient", "clock", "due (UTC)", "due (local)", "left", "state", "note")
DPO = "dpo@example.com"


# ── fixtures and helpers ──────────────────────────────────────────────────────────────────────────


@pytest.fixture(autouse=True)
def prefect_down(monkeypatch: pytest.MonkeyPatch) -> str:
    """The Prefect API at a local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        api = f"http://127.0.0.1:{sock.getsockname()[1]}/api"
    monkeypatch.setenv("PREFECT_API_URL", api)
    monkeypatch.setenv("CLARION_PREFECT_API_URL", api)
    return api


def breach_book() -> Playbook:
    return load_playbook(PLAYBOOKS / "data-breach.yaml")


def example_facts() -> Facts:
    return load_facts(EXAMPLES / "data-breach.yaml", breach_book())


def add_update(facts: Facts) -> None:
    """Store the incident's next update, made from ``facts``."""
    with store.session_scope() as session:
        incident = store.get_incident(session=session, reference=REF)
        store.add_update(
            session=session,
            incident=incident,
            update_in=UpdateCreate(
                kind=UpdateKind.INITIAL,
                status=IncidentStatus.IDENTIFIED,
                apology={"en": {"text": "We are sorry.", "short": "Sorry."}},
                facts=facts.model_dump(mode="json"),
                next_update_by=utcnow() + timedelta(hours=1),
            ),
        )


def seed(
    *, hours_ago: float = 5.5, aware_at: datetime | None = None, jurisdictions: tuple[str, ...] = ()
) -> datetime:
    """INC-0042 (data-breach), aware ``hours_ago`` (to the minute) or at ``aware_at``, with one update
    carrying the example facts. Returns the awareness time."""
    if aware_at is None:
        aware_at = (utcnow() - timedelta(hours=hours_ago)).replace(second=0, microsecond=0)
    engine = store.get_engine()
    store.migrate(engine)
    with store.session_scope(engine) as session:
        open_incident(
            session=session,
            playbook=breach_book(),
            reference=REF,
            title="Customer contact details exposed through a misconfigured export",
            severity="sev1",
            status=IncidentStatus.IDENTIFIED,
            aware_at=aware_at,
            started_at=None,
            commander="ada@example.com",
            jurisdictions=list(jurisdictions),
        )
    add_update(example_facts())
    return aware_at


def run(*args: str) -> Result:
    return runner.invoke(app, list(args))


def utc(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def local(moment: datetime, zone: ZoneInfo) -> str:
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M %Z}"


def table(output: str) -> dict[tuple[str, str], dict[str, str]]:
    """The rows of the countdown table by (regime, stage), each cell's wrapped lines joined again."""
    rows: list[dict[str, list[str]]] = []
    for line in output.splitlines():
        if not line.startswith("│"):
            continue
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        assert len(cells) == len(COLUMNS), line
        if cells[0] or cells[1]:
            rows.append({c: [] for c in COLUMNS})
        for column, cell in zip(COLUMNS, cells, strict=True):
            if cell:
                rows[-1][column].append(cell)
    joined = [{c: " ".join(parts) for c, parts in row.items()} for row in rows]
    return {(row["regime"], row["stage"]): row for row in joined}


def deadline(regime: str, stage: str) -> Deadline | None:
    with Session(store.get_engine()) as session:
        return session.exec(
            select(Deadline).where(Deadline.regime == regime, Deadline.stage == stage)
        ).first()


def incident() -> Incident:
    with Session(store.get_engine()) as session:
        return store.get_incident(session=session, reference=REF)


def audit(action: str) -> list[AuditEvent]:
    with Session(store.get_engine()) as session:
        statement = select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.id))
        return list(session.exec(statement))


def one_line(text: str) -> bool:
    return text.endswith("\n") and "\n" not in text[:-1]


# ── clarion deadlines ─────────────────────────────────────────────────────────────────────────────


def test_deadlines_shows_each_clock_due_in_utc_and_local_time_with_time_left_and_state() -> None:
    aware = seed(hours_ago=5.5)
    due_at = aware + timedelta(hours=72)

    result = run("deadlines", REF)

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{REF} · aware {aware:%Y-%m-%d %H:%M} UTC · as of ")
    rows = table(result.stdout)
    assert set(rows) == {
        ("gdpr-art33", "initial"),
        ("gdpr-art33", "supplement"),
        ("gdpr-art34", "data-subjects"),
    }
    initial = rows["gdpr-art33", "initial"]
    assert initial["clock"] == "72 h"
    assert initial["due (UTC)"] == utc(due_at)
    assert initial["due (local)"] == local(due_at, BRUSSELS)
    assert initial["due (local)"].endswith((" CET", " CEST"))
    assert initial["left"] == "2d 18h"  # 66 h 30 min, less the seconds this test takes
    assert initial["state"] == "open"
    supplement = rows["gdpr-art33", "supplement"]
    assert (supplement["due (UTC)"], supplement["due (local)"], supplement["left"]) == ("-", "-", "-")
    assert supplement["state"] == "pending"
    assert supplement["note"] == "starts when initial is submitted"
    assert rows["gdpr-art34", "data-subjects"]["state"] == "open"
    assert result.stderr == ""


def test_a_clock_past_half_its_window_is_at_risk() -> None:
    aware = seed(hours_ago=40)

    result = run("deadlines", REF)

    assert result.exit_code == 0, result.output
    initial = table(result.stdout)["gdpr-art33", "initial"]
    assert initial["state"] == "at risk"
    assert initial["due (UTC)"] == utc(aware + timedelta(hours=72))
    assert initial["left"] == "1d 7h"  # 32 h less the seconds since awareness was seeded


def test_deadlines_of_an_unknown_incident_is_exit_2_in_one_line() -> None:
    seed()

    result = run("deadlines", "INC-0099")

    assert result.exit_code == 2
    assert result.stderr == "no incident 'INC-0099'\n"
    assert result.stdout == ""


@pytest.mark.parametrize("reference", ["inc-0042", "INC-42", "0042", "INC-0042; drop table"])
def test_deadlines_refuses_a_malformed_reference(reference: str) -> None:
    seed()

    result = run("deadlines", reference)

    assert result.exit_code == 2
    assert one_line(result.stderr), result.stderr
    assert f"{reference!r} is not an incident reference" in result.stderr
    assert result.stdout == ""


# ── clarion notify-regulator: the draft ──────────────────────────────────────────────────────────


def test_notify_regulator_drafts_every_art33_3_value_from_the_facts() -> None:
    seed()
    breach = example_facts().breach
    assert breach is not None

    result = run("notify-regulator", REF, "--regime", "gdpr-art33")

    assert result.exit_code == 0, result.output
    draft = result.stdout
    assert draft.startswith(f"# Notice to the supervisory authority: {REF}\n")
    for value in (
        "Acme Cloud; INC-0042",
        breach.nature,
        "customers",
        "8200",
        "names, email addresses, phone numbers",
        breach.dpo_contact,
        breach.likely_consequences,
        f"{breach.measures_taken} {breach.measures_proposed}",  # taken or proposed: both sentences
    ):
        assert value is not None
        assert f"\n{value}" in draft, value
    for label in ("33(3)(a) nature", "33(3)(b) name and contact", "33(3)(c) likely", "33(3)(d) measures"):
        assert f"## Art. {label}" in draft
    assert "MISSING" not in draft
    assert "Reasons for the delay" not in draft
    assert result.stderr == ""  # nothing missing, not late


def test_notify_regulator_out_writes_the_draft_to_the_file_too(tmp_path: Path) -> None:
    seed()
    target = tmp_path / "notice.md"

    result = run("notify-regulator", REF, "--regime", "gdpr-art33", "--out", str(target))

    assert result.exit_code == 0, result.output
    assert target.read_text(encoding="utf-8") == result.stdout
    assert f"draft written to {target}" in result.stderr


def test_notify_regulator_names_a_required_field_the_latest_facts_lack() -> None:
    seed()
    facts = example_facts()
    assert facts.breach is not None
    add_update(facts.model_copy(update={"breach": facts.breach.model_copy(update={"dpo_contact": ""})}))

    result = run("notify-regulator", REF, "--regime", "gdpr-art33")

    assert result.exit_code == 0, result.output
    assert "## Art. 33(3)(b) name and contact details of the DPO or other contact point **MISSING**" in (
        result.stdout
    )
    assert "Dr. Jana Weber" not in result.stdout  # the latest update's facts, not the first's
    assert "**Missing required fields:** dpo-contact" in result.stdout
    assert "1 required field(s) missing from the facts: dpo-contact" in result.stderr


def test_a_draft_past_72_hours_asks_for_the_reasons_for_the_delay() -> None:
    seed(hours_ago=80)

    result = run("notify-regulator", REF, "--regime", "gdpr-art33")

    assert result.exit_code == 0, result.output
    assert "**(late)**" in result.stdout
    assert "## Reasons for the delay **MISSING**" in result.stdout
    assert "the notice is late: give the reasons for the delay (--delay-reason)" in result.stderr


def test_notify_regulator_for_a_regime_the_incident_does_not_run_is_exit_2() -> None:
    seed()

    result = run("notify-regulator", REF, "--regime", "sec-8k-item-105")

    assert result.exit_code == 2
    assert one_line(result.stderr), result.stderr
    assert "INC-0042 does not run 'sec-8k-item-105' (it runs: gdpr-art33, gdpr-art34)" in result.stderr


# ── clarion notify-regulator --submitted ─────────────────────────────────────────────────────────


def test_submitted_records_the_notice_as_met_and_starts_the_supplement(prefect_down: str) -> None:
    seed()

    result = run(
        "notify-regulator", REF, "--regime", "gdpr-art33", "--submitted", "--by", DPO, "--reference", "SA-123"
    )

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"recorded gdpr-art33/initial of {REF} as submitted by {DPO}\n"
        "  clocks started or moved: gdpr-art33/supplement\n"
    )
    assert "saved, but not yet watched" in result.stderr
    assert f"cannot reach the Prefect server at {prefect_down}" in result.stderr
    assert f"clarion deadline-watch {REF}" in result.stderr
    initial = deadline("gdpr-art33", "initial")
    assert initial is not None
    assert initial.state is DeadlineState.MET
    assert (initial.submitted_by, initial.submission_reference) == (DPO, "SA-123")
    assert initial.met_at is not None and initial.delay_reason is None
    assert [(s["by"], s["reference"]) for s in initial.submissions] == [(DPO, "SA-123")]
    supplement = deadline("gdpr-art33", "supplement")
    assert supplement is not None
    assert supplement.state is DeadlineState.OPEN
    assert supplement.starts_at == initial.met_at
    assert supplement.due_at == initial.met_at + timedelta(days=7)
    [met] = audit("deadline.met")
    assert (met.actor, met.subject) == (DPO, f"{REF}/gdpr-art33/initial")
    assert met.details["reference"] == "SA-123" and met.details["late"] is False

    shown = table(run("deadlines", REF).stdout)
    assert shown["gdpr-art33", "initial"]["state"] == "met"
    assert shown["gdpr-art33", "supplement"]["due (UTC)"] == utc(supplement.due_at)


def test_submitted_without_by_is_exit_2_and_records_nothing() -> None:
    seed()

    result = run("notify-regulator", REF, "--regime", "gdpr-art33", "--submitted", "--reference", "SA-1")

    assert result.exit_code == 2
    assert one_line(result.stderr), result.stderr
    assert "--submitted needs --by" in result.stderr
    initial = deadline("gdpr-art33", "initial")
    assert initial is not None and initial.state is DeadlineState.OPEN and initial.submissions == []
    assert deadline("gdpr-art33", "supplement") is None
    assert audit("deadline.met") == []


def test_a_late_submission_without_delay_reason_is_refused_and_records_nothing() -> None:
    seed(hours_ago=80)

    result = run("notify-regulator", REF, "--regime", "gdpr-art33", "--submitted", "--by", DPO)

    assert result.exit_code == 2
    assert "delay_reason" in result.stderr
    assert "a late notice must give the reasons for the delay" in result.stderr
    assert result.stdout == ""
    initial = deadline("gdpr-art33", "initial")
    assert initial is not None
    assert (initial.state, initial.met_at, initial.submitted_by, initial.submissions) == (
        DeadlineState.OPEN,
        None,
        None,
        [],
    )
    assert deadline("gdpr-art33", "supplement") is None
    assert audit("deadline.met") == []


def test_a_late_submission_with_delay_reason_is_met_and_says_late() -> None:
    seed(hours_ago=80)
    reason = "the forensic review took four days"

    result = run(
        "notify-regulator",
        REF,
        "--regime",
        "gdpr-art33",
        "--submitted",
        "--by",
        DPO,
        "--delay-reason",
        reason,
    )

    assert result.exit_code == 0, result.output
    assert f"recorded gdpr-art33/initial of {REF} as submitted (late) by {DPO}" in result.stdout
    initial = deadline("gdpr-art33", "initial")
    assert initial is not None
    assert (initial.state, initial.delay_reason) == (DeadlineState.MET, reason)
    [met] = audit("deadline.met")
    assert met.details["late"] is True and met.details["delay_reason"] == reason
    note = table(run("deadlines", REF).stdout)["gdpr-art33", "initial"]["note"]
    assert "late by" in note


def test_a_submission_recorded_late_but_made_in_time_needs_no_delay_reason() -> None:
    aware = seed(hours_ago=80)
    made = aware + timedelta(hours=70)

    result = run(
        "notify-regulator",
        REF,
        "--regime",
        "gdpr-art33",
        "--submitted",
        "--by",
        DPO,
        "--at",
        made.isoformat(),
    )

    assert result.exit_code == 0, result.output
    initial = deadline("gdpr-art33", "initial")
    assert initial is not None
    assert (initial.state, initial.met_at, initial.delay_reason) == (DeadlineState.MET, made, None)


def test_a_submission_before_the_clock_started_is_refused() -> None:
    """A mistyped year (2025 for 2026) must not record a notice sent before the incident was known:
    it would start the supplement's 7-day clock years ago, missed at once."""
    aware = seed()
    typo = aware - timedelta(days=365)

    result = run(
        "notify-regulator",
        REF,
        "--regime",
        "gdpr-art33",
        "--submitted",
        "--by",
        DPO,
        "--at",
        typo.isoformat(),
    )

    assert result.exit_code == 2, result.output
    assert ": at: " in result.stderr
    initial = deadline("gdpr-art33", "initial")
    assert initial is not None and initial.state is DeadlineState.OPEN and initial.submissions == []
    assert deadline("gdpr-art33", "supplement") is None


def test_submitted_takes_the_submitter_from_clarion_actor(monkeypatch: pytest.MonkeyPatch) -> None:
    seed()
    monkeypatch.setenv("CLARION_ACTOR", DPO)

    result = run("notify-regulator", REF, "--regime", "gdpr-art33", "--submitted")

    assert result.exit_code == 0, result.output
    initial = deadline("gdpr-art33", "initial")
    assert initial is not None and initial.submitted_by == DPO


def test_a_stage_whose_event_is_not_recorded_cannot_be_submitted() -> None:
    seed(jurisdictions=("US",))

    result = run("notify-regulator", REF, "--regime", "sec-8k-item-105", "--submitted", "--by", DPO)

    assert result.exit_code == 2
    assert one_line(result.stderr), result.stderr
    assert "sec-8k-item-105/item-105 of INC-0042 has not started: it starts when materiality-determined" in (
        result.stderr
    )
    assert audit("deadline.met") == []


def test_submitted_with_missing_fields_is_recorded_with_a_note() -> None:
    seed()
    facts = example_facts()
    assert facts.breach is not None
    add_update(facts.model_copy(update={"breach": facts.breach.model_copy(update={"dpo_contact": ""})}))

    result = run("notify-regulator", REF, "--regime", "gdpr-art33", "--submitted", "--by", DPO)

    assert result.exit_code == 0, result.output
    assert "note: submitted without dpo-contact" in result.stderr
    initial = deadline("gdpr-art33", "initial")
    assert initial is not None and initial.state is DeadlineState.MET


# ── clarion deadline-event ────────────────────────────────────────────────────────────────────────


def test_a_materiality_determination_starts_the_sec_clock() -> None:
    seed(aware_at=datetime(2026, 11, 16, 8, 0, tzinfo=UTC), jurisdictions=("US",))
    assert deadline("sec-8k-item-105", "item-105") is None  # pending until the determination

    result = run(
        "deadline-event",
        REF,
        "materiality-determined",
        "--at",
        "2026-11-16T15:00:00+00:00",
        "--by",
        "cfo@example.com",
    )

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"recorded materiality-determined for {REF}\n  clocks started or moved: sec-8k-item-105/item-105\n"
    )
    assert "saved, but not yet watched" in result.stderr
    row = deadline("sec-8k-item-105", "item-105")
    assert row is not None
    assert row.starts_at == datetime(2026, 11, 16, 15, 0, tzinfo=UTC)
    # Mon 16 Nov, 10:00 ET: business days Tue 17, Wed 18, Thu 19, Fri 20; due 17:30 ET on the 4th
    assert row.due_at == datetime(2026, 11, 20, 17, 30, tzinfo=NEW_YORK)
    assert incident().clock_events == {"materiality-determined": "2026-11-16T15:00:00+00:00"}
    [event] = audit("deadline.event")
    assert (event.actor, event.subject) == ("cfo@example.com", REF)
    assert event.details == {
        "event": "materiality-determined",
        "at": "2026-11-16T15:00:00+00:00",
        "previous": None,
    }


def test_an_unknown_event_is_exit_2_listing_the_known_ones() -> None:
    seed(jurisdictions=("US",))

    result = run("deadline-event", REF, "materiality", "--by", "cfo@example.com")

    assert result.exit_code == 2
    assert one_line(result.stderr), result.stderr
    assert "'materiality' is not one of" in result.stderr
    for known in ("materiality-determined", "classified-major", "determination", "ransom-payment"):
        assert known in result.stderr
    assert incident().clock_events == {}
    assert audit("deadline.event") == []


def test_recording_the_event_again_moves_its_clock_and_the_log_keeps_both() -> None:
    seed(aware_at=datetime(2026, 11, 16, 8, 0, tzinfo=UTC), jurisdictions=("US",))
    first = run(
        "deadline-event",
        REF,
        "materiality-determined",
        "--at",
        "2026-11-16T15:00:00Z",
        "--by",
        "cfo@example.com",
    )
    assert first.exit_code == 0, first.output

    result = run(
        "deadline-event",
        REF,
        "materiality-determined",
        "--at",
        "2026-11-17T10:00:00-05:00",
        "--by",
        "gc@example.com",
    )

    assert result.exit_code == 0, result.output
    assert "clocks started or moved: sec-8k-item-105/item-105" in result.stdout
    row = deadline("sec-8k-item-105", "item-105")
    assert row is not None
    assert row.starts_at == datetime(2026, 11, 17, 15, 0, tzinfo=UTC)
    # Tue 17 Nov: Wed 18, Thu 19, Fri 20, Mon 23
    assert row.due_at == datetime(2026, 11, 23, 17, 30, tzinfo=NEW_YORK)
    assert incident().clock_events == {"materiality-determined": "2026-11-17T15:00:00+00:00"}
    assert [(e.actor, e.details["previous"]) for e in audit("deadline.event")] == [
        ("cfo@example.com", None),
        ("gc@example.com", "2026-11-16T15:00:00+00:00"),
    ]
    [moved] = audit("deadline.recomputed")
    assert moved.actor == "gc@example.com"


@pytest.mark.parametrize("at", ["2026-11-16T15:00:00", "2026-11-16"])
def test_an_event_time_without_offset_is_refused(at: str) -> None:
    seed(jurisdictions=("US",))

    result = run("deadline-event", REF, "materiality-determined", "--at", at, "--by", "cfo@example.com")

    assert result.exit_code == 2
    assert one_line(result.stderr), result.stderr
    assert f"{at!r} has no offset" in result.stderr
    assert deadline("sec-8k-item-105", "item-105") is None
    assert incident().clock_events == {}


def test_an_event_time_that_is_not_a_time_is_refused() -> None:
    seed(jurisdictions=("US",))

    result = run("deadline-event", REF, "materiality-determined", "--at", "yesterday", "--by", "cfo@x.com")

    assert result.exit_code == 2
    assert "'yesterday' is not an ISO 8601 time" in result.stderr


def test_an_event_at_now() -> None:
    seed(jurisdictions=("US",))
    before = utcnow()

    result = run("deadline-event", REF, "materiality-determined", "--at", "now", "--by", "cfo@example.com")

    assert result.exit_code == 0, result.output
    row = deadline("sec-8k-item-105", "item-105")
    assert row is not None
    assert before <= row.starts_at <= utcnow()
    assert row.due_at.astimezone(NEW_YORK).strftime("%H:%M") == "17:30"
    assert audit("deadline.event")[0].details["at"] == row.starts_at.isoformat()


def test_an_event_no_regime_of_the_incident_waits_for_is_recorded_and_starts_nothing() -> None:
    seed()

    result = run("deadline-event", REF, "materiality-determined", "--at", "now", "--by", "cfo@example.com")

    assert result.exit_code == 0, result.output
    assert result.stdout == f"recorded materiality-determined for {REF}\n"
    assert "materiality-determined" in incident().clock_events


# ── clarion deadline-override ─────────────────────────────────────────────────────────────────────


def test_an_override_moves_the_due_time_and_keeps_the_computed_one() -> None:
    aware = seed()
    computed = aware + timedelta(hours=72)

    result = run(
        "deadline-override",
        REF,
        "gdpr-art33/initial",
        "--due",
        "2027-01-15T12:00:00+01:00",
        "--reason",
        "SA granted extension",
        "--by",
        DPO,
    )

    assert result.exit_code == 0, result.output
    # --due was given at +01:00: the message labels the time UTC, so it is converted
    assert (
        result.stdout == f"{REF} gdpr-art33/initial now due 2027-01-15 11:00 UTC (computed {utc(computed)})\n"
    )
    assert "saved, but not yet watched" in result.stderr
    row = deadline("gdpr-art33", "initial")
    assert row is not None
    assert row.due_at == datetime(2027, 1, 15, 11, 0, tzinfo=UTC)
    assert row.computed_due_at == computed
    assert row.override_reason == "SA granted extension"
    assert row.state is DeadlineState.OPEN
    [entry] = audit("deadline.overridden")
    assert (entry.actor, entry.subject) == (DPO, f"{REF}/gdpr-art33/initial")
    assert entry.details["reason"] == "SA granted extension"
    assert datetime.fromisoformat(entry.details["due"]) == datetime(2027, 1, 15, 11, 0, tzinfo=UTC)
    assert datetime.fromisoformat(entry.details["before"]) == computed
    shown = table(run("deadlines", REF).stdout)["gdpr-art33", "initial"]
    assert shown["due (UTC)"] == "2027-01-15 11:00 UTC"
    assert shown["due (local)"] == "2027-01-15 12:00 CET"
    assert "overridden: SA granted extension" in shown["note"]


@pytest.mark.parametrize("stage", ["gdpr-art33", "gdpr-art33/", "/initial", "gdpr-art33-initial"])
def test_an_override_of_a_malformed_stage_path_is_exit_2(stage: str) -> None:
    seed()

    result = run(
        "deadline-override", REF, stage, "--due", "2027-01-15T12:00:00+01:00", "--reason", "r", "--by", DPO
    )

    assert result.exit_code == 2
    assert one_line(result.stderr), result.stderr
    assert "write REGIME/STAGE, e.g. gdpr-art33/initial" in result.stderr
    assert audit("deadline.overridden") == []


def test_an_override_without_offset_is_refused() -> None:
    aware = seed()

    result = run(
        "deadline-override",
        REF,
        "gdpr-art33/initial",
        "--due",
        "2027-01-15T12:00",
        "--reason",
        "r",
        "--by",
        DPO,
    )

    assert result.exit_code == 2
    assert "due: '2027-01-15T12:00' has no offset" in result.stderr
    row = deadline("gdpr-art33", "initial")
    assert row is not None and row.due_at == aware + timedelta(hours=72) and row.override_reason is None


def test_an_override_of_an_unknown_stage_is_exit_2_naming_it() -> None:
    seed()

    result = run(
        "deadline-override",
        REF,
        "gdpr-art33/final",
        "--due",
        "2027-01-15T12:00:00Z",
        "--reason",
        "r",
        "--by",
        DPO,
    )

    assert result.exit_code == 2
    assert "final" in result.stderr
    assert audit("deadline.overridden") == []


def test_an_override_of_a_stage_not_started_says_what_it_waits_for() -> None:
    seed()

    result = run(
        "deadline-override",
        REF,
        "gdpr-art33/supplement",
        "--due",
        "2027-01-15T12:00:00Z",
        "--reason",
        "r",
        "--by",
        DPO,
    )

    assert result.exit_code == 2
    assert "has not started: it starts when initial is submitted" in result.stderr


# ── clarion deadline-waive ────────────────────────────────────────────────────────────────────────


def test_a_waived_clock_is_stored_and_shown_as_waived() -> None:
    seed()
    reason = "data encrypted (Art. 34(3)(a))"

    result = run("deadline-waive", REF, "gdpr-art34/data-subjects", "--reason", reason, "--by", DPO)

    assert result.exit_code == 0, result.output
    assert result.stdout == f"{REF} gdpr-art34/data-subjects waived: {reason}\n"
    row = deadline("gdpr-art34", "data-subjects")
    assert row is not None
    assert (row.state, row.override_reason) == (DeadlineState.WAIVED, reason)
    [entry] = audit("deadline.waived")
    assert (entry.actor, entry.subject, entry.details) == (
        DPO,
        f"{REF}/gdpr-art34/data-subjects",
        {"reason": reason},
    )
    shown = table(run("deadlines", REF).stdout)["gdpr-art34", "data-subjects"]
    assert (shown["state"], shown["left"]) == ("waived", "-")
    assert shown["note"] == f"waived: {reason}"


def test_a_waiver_needs_a_reason() -> None:
    seed()

    result = run("deadline-waive", REF, "gdpr-art34/data-subjects", "--reason", "  ", "--by", DPO)

    assert result.exit_code == 2
    assert "give the reason" in result.stderr
    row = deadline("gdpr-art34", "data-subjects")
    assert row is not None and row.state is DeadlineState.OPEN


def test_a_met_clock_cannot_be_waived() -> None:
    seed()
    assert run("notify-regulator", REF, "--regime", "gdpr-art33", "--submitted", "--by", DPO).exit_code == 0

    result = run("deadline-waive", REF, "gdpr-art33/initial", "--reason", "below threshold", "--by", DPO)

    assert result.exit_code == 2
    assert "gdpr-art33/initial was met already" in result.stderr
    assert audit("deadline.waived") == []


def test_a_waived_clock_cannot_be_submitted() -> None:
    seed()
    assert run("deadline-waive", REF, "gdpr-art33/initial", "--reason", "no risk", "--by", DPO).exit_code == 0

    result = run(
        "notify-regulator", REF, "--regime", "gdpr-art33", "--stage", "initial", "--submitted", "--by", DPO
    )

    assert result.exit_code == 2
    assert "gdpr-art33/initial was waived: no risk" in result.stderr
    assert audit("deadline.met") == []


# ── the audit log ─────────────────────────────────────────────────────────────────────────────────


def test_every_change_is_in_the_audit_log_under_the_given_actor_and_the_chain_verifies() -> None:
    seed(jurisdictions=("US",))
    commands = [
        ("deadline-event", REF, "materiality-determined", "--at", "now", "--by", "cfo@example.com"),
        (
            "notify-regulator",
            REF,
            "--regime",
            "gdpr-art33",
            "--submitted",
            "--by",
            DPO,
            "--reference",
            "SA-1",
        ),
        (
            "deadline-override",
            REF,
            "gdpr-art33/supplement",
            "--due",
            "2027-02-01T09:00:00+01:00",
            "--reason",
            "SA granted extension",
            "--by",
            "legal@example.com",
        ),
        (
            "deadline-waive",
            REF,
            "gdpr-art34/data-subjects",
            "--reason",
            "encrypted",
            "--by",
            "ciso@example.com",
        ),
    ]
    for command in commands:
        result = run(*command)
        assert result.exit_code == 0, (command, result.output)

    entries = {
        action: [(e.actor, e.subject) for e in audit(action)]
        for action in ("deadline.event", "deadline.met", "deadline.overridden", "deadline.waived")
    }
    assert entries == {
        "deadline.event": [("cfo@example.com", REF)],
        "deadline.met": [(DPO, f"{REF}/gdpr-art33/initial")],
        "deadline.overridden": [("legal@example.com", f"{REF}/gdpr-art33/supplement")],
        "deadline.waived": [("ciso@example.com", f"{REF}/gdpr-art34/data-subjects")],
    }
    started = {(e.actor, e.subject) for e in audit("deadline.started")}
    assert ("cfo@example.com", f"{REF}/sec-8k-item-105/item-105") in started
    assert (DPO, f"{REF}/gdpr-art33/supplement") in started
    verified = run("audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert "audit log intact" in verified.stdout


@pytest.mark.parametrize(
    "command",
    [
        ("deadline-event", REF, "materiality-determined", "--at", "now"),
        ("deadline-override", REF, "gdpr-art33/initial", "--due", "2027-01-15T12:00:00Z", "--reason", "ext"),
        ("deadline-waive", REF, "gdpr-art34/data-subjects", "--reason", "encrypted"),
    ],
    ids=["event", "override", "waive"],
)
def test_a_change_by_a_blank_actor_is_refused_and_logs_nothing(command: tuple[str, ...]) -> None:
    """As ``--submitted`` refuses a blank ``--by`` ("say who submitted it"), so must the other
    changes: the audit log must say who."""
    seed(jurisdictions=("US",))
    before = {a: len(audit(a)) for a in ("deadline.event", "deadline.overridden", "deadline.waived")}

    result = run(*command, "--by", "  ")

    assert result.exit_code == 2, result.output
    assert ": by: " in result.stderr
    assert {a: len(audit(a)) for a in before} == before


# ── clarion deadline-watch ────────────────────────────────────────────────────────────────────────


def test_deadline_watch_without_a_server_is_one_line_and_exit_1(prefect_down: str) -> None:
    seed()

    result = run("deadline-watch", REF)

    assert result.exit_code == 1
    assert (
        result.stderr
        == f"error: cannot reach the Prefect server at {prefect_down}: is `clarion serve` running?\n"
    )


# ── what the table must not lose ──────────────────────────────────────────────────────────────────


def test_the_table_shows_regime_ids_and_event_names_whole_at_the_captured_width() -> None:
    """The ids a reader types next (``notify-regulator --regime ID``, ``deadline-event REF EVENT``)
    and who submitted must be shown whole, not cut with an ellipsis."""
    seed(jurisdictions=("US",))
    assert run("notify-regulator", REF, "--regime", "gdpr-art33", "--submitted", "--by", DPO).exit_code == 0

    result = run("deadlines", REF)

    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout
    rows = table(result.stdout)
    assert ("sec-8k-item-105", "item-105") in rows
    assert rows["sec-8k-item-105", "item-105"]["note"] == "starts when materiality-determined is recorded"
    assert f"by {DPO}" in rows["gdpr-art33", "initial"]["note"]
