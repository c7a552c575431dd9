"""An incident's regulatory clocks: started on declaration, watched at thresholds, met, moved, waived.

Every time is fixed and every ``now`` is passed in: awareness is 2026-03-01 09:00 UTC (a Sunday;
10:00 in Brussels, 04:00 in New York), so GDPR Art. 33's 72 hours run out on 2026-03-04 09:00 UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from clarion import audit
from clarion.compliance.deadlines import (
    THRESHOLDS,
    Clockface,
    Crossing,
    check,
    clockfaces,
    elapsed,
    escalate,
    find,
    incident_regimes,
    meet_by_update,
    open_rows,
    override,
    record_event,
    record_submission,
    start_clocks,
    state_at,
    threshold_time,
    waive,
)
from clarion.errors import InputError, Problem
from clarion.incidents.lifecycle import open_incident
from clarion.kinds import DeadlineState, IncidentStatus
from clarion.models import AuditEvent, Deadline, Incident
from clarion.playbook import Playbook, load_playbook
from clarion.regimes import Event, regimes
from tests.helpers import PLAYBOOKS, shipped_playbooks

AWARE = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
DUE = AWARE + timedelta(hours=72)  # GDPR Art. 33's notice
NEW_YORK = ZoneInfo("America/New_York")
BRUSSELS = ZoneInfo("Europe/Brussels")
REF = "INC-0042"


def playbook(name: str) -> Playbook:
    return load_playbook(PLAYBOOKS / f"{name}.yaml")


@pytest.fixture
def breach() -> Playbook:
    return playbook("data-breach")


@pytest.fixture
def dora_book(breach: Playbook) -> Playbook:
    """A financial entity's breach playbook: DORA only, so its clocks are easy to read."""
    return breach.model_copy(update={"regimes": ["dora"]})


def declare(
    session: Session,
    book: Playbook,
    *,
    jurisdictions: Sequence[str] = (),
    aware_at: datetime = AWARE,
    reference: str = REF,
) -> Incident:
    return open_incident(
        session=session,
        playbook=book,
        reference=reference,
        title="Customer contact details exposed",
        severity="sev1",
        status=IncidentStatus.INVESTIGATING,
        aware_at=aware_at,
        started_at=aware_at - timedelta(hours=2),
        commander="ada@example.com",
        jurisdictions=jurisdictions,
    )


def row(session: Session, incident: Incident, regime: str, stage: str) -> Deadline:
    return find(session, incident, regime, stage)


def face(faces: Sequence[Clockface], regime: str, stage: str) -> Clockface:
    (found,) = [f for f in faces if f.regime.id == regime and f.stage.id == stage]
    return found


def log(session: Session) -> list[AuditEvent]:
    session.flush()
    return list(session.exec(select(AuditEvent).order_by(col(AuditEvent.id))))


def entries(session: Session, since: int = 0) -> list[tuple[str, str]]:
    """(action, subject) of the audit entries after the first ``since``."""
    return [(e.action, e.subject) for e in log(session)[since:]]


def problems_of(caught: pytest.ExceptionInfo[InputError]) -> list[tuple[str, str]]:
    return [(p.field, p.message) for p in caught.value.problems]


def submit(
    session: Session,
    incident: Incident,
    regime: str,
    stage: str,
    at: datetime,
    *,
    reference: str | None = "REF-1",
    delay_reason: str | None = None,
    by: str = "dpo@example.com",
) -> list[Deadline]:
    return record_submission(
        session=session,
        incident=incident,
        regime_id=regime,
        stage_id=stage,
        at=at,
        by=by,
        reference=reference,
        delay_reason=delay_reason,
    )


def chain_verifies(session: Session) -> None:
    assert audit.verify(session=session).entries == len(log(session))


# ── declaring starts the clocks ───────────────────────────────────────────────────────────────────


def test_declaring_a_breach_starts_the_gdpr_clocks_from_awareness(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach)

    rows = session.exec(select(Deadline).order_by(col(Deadline.id))).all()
    assert [(r.regime, r.stage, r.starts_at, r.due_at, r.computed_due_at) for r in rows] == [
        ("gdpr-art33", "initial", AWARE, DUE, DUE),
        ("gdpr-art34", "data-subjects", AWARE, AWARE + timedelta(hours=72), AWARE + timedelta(hours=72)),
    ]
    initial = rows[0]
    assert initial.recipient == "lead or competent supervisory authority (Art. 55/56)"
    assert (initial.state, initial.last_threshold, initial.submissions, initial.regime_version) == (
        DeadlineState.OPEN,
        0,
        [],
        1,
    )
    assert incident.regimes == ["gdpr-art33", "gdpr-art34"]

    faces = clockfaces(session=session, incident=incident, now=AWARE + timedelta(hours=1))
    assert [(f.regime.id, f.stage.id, f.state) for f in faces] == [
        ("gdpr-art33", "initial", "open"),
        ("gdpr-art33", "supplement", "pending"),
        ("gdpr-art34", "data-subjects", "open"),
    ]
    supplement = face(faces, "gdpr-art33", "supplement")
    assert (supplement.row, supplement.left, supplement.due_by_cap) == (None, None, None)
    assert face(faces, "gdpr-art33", "initial").left == timedelta(hours=71)


def test_starting_the_clocks_again_creates_nothing(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach)
    before = len(log(session))

    assert start_clocks(session=session, incident=incident) == []
    assert start_clocks(session=session, incident=incident) == []

    assert len(session.exec(select(Deadline)).all()) == 2
    assert len(log(session)) == before


def test_an_incident_without_regimes_has_no_clocks(session: Session) -> None:
    incident = declare(session, playbook("outage"))

    assert incident.regimes == []
    assert clockfaces(session=session, incident=incident, now=AWARE) == []
    assert open_rows(session, incident) == []


# ── which regimes: the playbook's and the jurisdictions' ──────────────────────────────────────────


def test_jurisdictions_add_their_enabled_regimes_for_the_playbooks_kind(breach: Playbook) -> None:
    chosen = incident_regimes(breach, ["BR", "US"])

    assert chosen == ["gdpr-art33", "gdpr-art34", "hipaa", "lgpd", "sec-8k-item-105"]
    known = regimes()
    assert set(chosen[2:]) == {
        r.id
        for r in known.values()
        if r.jurisdiction in ("BR", "US") and "data-breach" in r.applies_to and r.enabled
    }
    assert "circia" not in chosen
    assert not known["circia"].enabled and "data-breach" in known["circia"].applies_to


def test_a_jurisdiction_adds_only_the_regimes_of_the_playbooks_kind() -> None:
    # HIPAA is for breaches only; the SEC's Item 1.05 covers any material cybersecurity incident
    assert incident_regimes(playbook("outage"), ["US"]) == ["sec-8k-item-105"]
    assert incident_regimes(playbook("outage"), ["BR"]) == []


def test_a_regime_named_twice_is_chosen_once(breach: Playbook) -> None:
    book = breach.model_copy(update={"regimes": ["sec-8k-item-105", "gdpr-art33"]})

    assert incident_regimes(book, ["US"]) == ["sec-8k-item-105", "gdpr-art33", "hipaa"]


def test_a_disabled_regime_the_playbook_names_never_runs(breach: Playbook) -> None:
    book = breach.model_copy(update={"regimes": ["gdpr-art33", "circia"]})

    assert incident_regimes(book, ["US"]) == ["gdpr-art33", "hipaa", "sec-8k-item-105"]


def test_unknown_jurisdictions_and_regimes_are_refused_naming_the_field(breach: Playbook) -> None:
    book = breach.model_copy(update={"regimes": ["gdpr-art33", "gdpr-art99"]})

    with pytest.raises(InputError) as caught:
        incident_regimes(book, ["US", "XX"])

    assert caught.value.problems == (
        Problem("declaration", None, "jurisdictions", "no regime of jurisdiction 'XX' is shipped"),
        Problem("data-breach", None, "regimes", "unknown regime 'gdpr-art99'"),
    )


def test_an_unknown_jurisdiction_stores_no_incident(session: Session, breach: Playbook) -> None:
    with pytest.raises(InputError) as caught:
        declare(session, breach, jurisdictions=["us"])

    assert problems_of(caught) == [("jurisdictions", "no regime of jurisdiction 'us' is shipped")]
    assert session.exec(select(Incident)).all() == []
    assert log(session) == []


@pytest.mark.parametrize("name", shipped_playbooks())
def test_every_shipped_playbook_names_only_shipped_regimes(name: str) -> None:
    book = playbook(name)

    chosen = incident_regimes(book)  # raises InputError for a regime no file ships

    assert chosen == [r for r in book.regimes if regimes()[r].enabled]


def test_declaring_with_jurisdictions_runs_their_clocks(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach, jurisdictions=["US"])

    assert incident.regimes == ["gdpr-art33", "gdpr-art34", "hipaa", "sec-8k-item-105"]
    faces = clockfaces(session=session, incident=incident, now=AWARE)
    # HIPAA's discovery defaults to awareness: its 60 calendar days end 2026-04-30 23:59:59 New York
    individual = face(faces, "hipaa", "individual")
    assert individual.row is not None
    assert individual.row.due_at == datetime(2026, 4, 30, 23, 59, 59, tzinfo=NEW_YORK)
    assert face(faces, "sec-8k-item-105", "item-105").state == "pending"


# ── acceptance: 71 h and 73 h after awareness, no notice recorded ─────────────────────────────────


def test_71_hours_after_awareness_the_notice_is_at_risk_then_missed_after_73(
    session: Session, breach: Playbook
) -> None:
    incident = declare(session, breach)
    initial = row(session, incident, "gdpr-art33", "initial")
    at_71 = AWARE + timedelta(hours=71)

    shown = face(clockfaces(session=session, incident=incident, now=at_71), "gdpr-art33", "initial")
    assert (shown.state, shown.left) == ("at_risk", timedelta(hours=1))

    before = len(log(session))
    crossing = check(session=session, incident=incident, row=initial, now=at_71)

    assert crossing == Crossing(initial, 90, DeadlineState.AT_RISK)
    assert (initial.last_threshold, initial.state) == (90, DeadlineState.AT_RISK)
    (noted,) = log(session)[before:]
    assert (noted.actor, noted.action, noted.subject) == (
        "clarion",
        "deadline.at-risk",
        f"{REF}/gdpr-art33/initial",
    )
    assert noted.details == {"threshold": 90, "due": DUE.isoformat()}

    # stored, not only in memory
    session.commit()
    session.expire_all()
    stored = session.get(Deadline, initial.id)
    assert stored is not None
    assert (stored.last_threshold, stored.state) == (90, DeadlineState.AT_RISK)

    # a second timer at the same moment has nothing new to tell
    assert check(session=session, incident=incident, row=stored, now=at_71) is None
    assert len(log(session)) == before + 1

    at_73 = AWARE + timedelta(hours=73)
    shown = face(clockfaces(session=session, incident=incident, now=at_73), "gdpr-art33", "initial")
    assert (shown.state, shown.left) == ("missed", -timedelta(hours=1))

    crossing = check(session=session, incident=incident, row=stored, now=at_73)

    assert crossing == Crossing(stored, 100, DeadlineState.MISSED)
    assert (stored.last_threshold, stored.state) == (100, DeadlineState.MISSED)
    assert entries(session, before + 1) == [("deadline.missed", f"{REF}/gdpr-art33/initial")]
    assert check(session=session, incident=incident, row=stored, now=at_73 + timedelta(days=1)) is None
    chain_verifies(session)


# ── thresholds ────────────────────────────────────────────────────────────────────────────────────


def test_threshold_times_split_the_window(session: Session, breach: Playbook) -> None:
    initial = row(session, declare(session, breach), "gdpr-art33", "initial")

    assert {t: threshold_time(initial, t) for t in THRESHOLDS} == {
        50: AWARE + timedelta(hours=36),
        75: AWARE + timedelta(hours=54),
        90: AWARE + timedelta(hours=64, minutes=48),
        100: DUE,
    }


def test_each_threshold_is_noted_once_in_turn(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach)
    initial = row(session, incident, "gdpr-art33", "initial")

    def at(percent: float) -> datetime:
        return AWARE + timedelta(hours=72) * (percent / 100)

    assert check(session=session, incident=incident, row=initial, now=at(40)) is None
    assert (initial.state, initial.last_threshold) == (DeadlineState.OPEN, 0)
    noted = []
    for percent in (60, 70, 80, 85, 95, 99, 100.5, 150):
        crossing = check(session=session, incident=incident, row=initial, now=at(percent))
        noted.append(None if crossing is None else (crossing.threshold, crossing.state))

    assert noted == [
        (50, DeadlineState.AT_RISK),
        None,
        (75, DeadlineState.AT_RISK),
        None,
        (90, DeadlineState.AT_RISK),
        None,
        (100, DeadlineState.MISSED),
        None,
    ]
    assert [a for a, _ in entries(session) if a.startswith("deadline.") and a != "deadline.started"] == [
        "deadline.at-risk",
        "deadline.at-risk",
        "deadline.at-risk",
        "deadline.missed",
    ]


def test_a_timer_that_ran_late_notes_only_the_highest_threshold(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach)
    initial = row(session, incident, "gdpr-art33", "initial")

    crossing = check(session=session, incident=incident, row=initial, now=DUE + timedelta(hours=5))

    assert crossing is not None and (crossing.threshold, crossing.state) == (100, DeadlineState.MISSED)
    assert check(session=session, incident=incident, row=initial, now=AWARE + timedelta(hours=70)) is None


def test_the_deadline_itself_is_missed(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach)
    initial = row(session, incident, "gdpr-art33", "initial")

    assert state_at(initial, DUE - timedelta(microseconds=1)) is DeadlineState.AT_RISK
    assert state_at(initial, DUE) is DeadlineState.MISSED
    crossing = check(session=session, incident=incident, row=initial, now=DUE)
    assert crossing is not None and crossing.threshold == 100


@pytest.mark.parametrize(
    ("jurisdictions", "regime", "stage", "due"),
    [
        pytest.param((), "gdpr-art33", "initial", DUE, id="gdpr-72h"),
        # 3 business days: the end of Wednesday 2026-03-04 in São Paulo
        pytest.param(["BR"], "lgpd", "anpd", datetime(2026, 3, 5, 2, 59, 59, tzinfo=UTC), id="lgpd"),
        # 60 calendar days: the end of 2026-04-30 in New York
        pytest.param(["US"], "hipaa", "individual", datetime(2026, 5, 1, 3, 59, 59, tzinfo=UTC), id="hipaa"),
    ],
)
def test_a_check_at_each_threshold_time_notes_that_threshold(
    session: Session, breach: Playbook, jurisdictions: list[str], regime: str, stage: str, due: datetime
) -> None:
    """The watch flow schedules a check at ``threshold_time(row, t)`` for each threshold ahead: the
    check run at that moment must note ``t``, or its warning is lost (the next timer is for the next
    threshold)."""
    incident = declare(session, breach, jurisdictions=jurisdictions)
    clock = row(session, incident, regime, stage)
    assert clock.due_at == due

    noted = []
    for percent in THRESHOLDS:
        crossing = check(session=session, incident=incident, row=clock, now=threshold_time(clock, percent))
        noted.append(None if crossing is None else crossing.threshold)

    assert noted == list(THRESHOLDS), {
        t: (threshold_time(clock, t).isoformat(), elapsed(clock, threshold_time(clock, t)) * 100)
        for t in THRESHOLDS
    }


def test_elapsed_runs_from_zero_past_one(session: Session, breach: Playbook) -> None:
    initial = row(session, declare(session, breach), "gdpr-art33", "initial")

    assert elapsed(initial, AWARE - timedelta(hours=1)) == 0.0
    assert elapsed(initial, AWARE) == 0.0
    assert elapsed(initial, AWARE + timedelta(hours=36)) == 0.5
    assert elapsed(initial, DUE + timedelta(hours=36)) == 1.5


def test_escalation_is_recorded_with_whom(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach)
    initial = row(session, incident, "gdpr-art33", "initial")
    before = len(log(session))

    escalate(session=session, incident=incident, row=initial, to=["dpo@example.com", "ciso@example.com"])

    (entry,) = log(session)[before:]
    assert (entry.action, entry.subject) == ("deadline.escalated", f"{REF}/gdpr-art33/initial")
    assert entry.details == {"due": DUE.isoformat(), "to": ["dpo@example.com", "ciso@example.com"]}


# ── events: the SEC's materiality determination ───────────────────────────────────────────────────


def test_item_105_waits_for_materiality_then_runs_four_sec_business_days(
    session: Session, breach: Playbook
) -> None:
    incident = declare(session, breach, jurisdictions=["US"])
    pending = face(clockfaces(session=session, incident=incident, now=AWARE), "sec-8k-item-105", "item-105")
    assert (pending.state, pending.row) == ("pending", None)
    with pytest.raises(InputError) as caught:
        row(session, incident, "sec-8k-item-105", "item-105")
    assert problems_of(caught) == [
        (
            "stage",
            f"sec-8k-item-105/item-105 of {REF} has not started: it starts when materiality-determined "
            "is recorded",
        )
    ]
    before = len(log(session))

    # Monday 2026-03-02 15:00 in New York: day 1 is Tuesday, day 4 Friday 2026-03-06, due 17:30 EST
    determined = datetime(2026, 3, 2, 15, 0, tzinfo=NEW_YORK)
    started = record_event(
        session=session,
        incident=incident,
        event=Event.MATERIALITY_DETERMINED,
        at=determined,
        actor="cfo@example.com",
    )

    item = row(session, incident, "sec-8k-item-105", "item-105")
    assert started == [item]
    assert (item.starts_at, item.due_at, item.computed_due_at) == (
        determined,
        datetime(2026, 3, 6, 17, 30, tzinfo=NEW_YORK),
        datetime(2026, 3, 6, 22, 30, tzinfo=UTC),
    )
    assert incident.clock_events == {"materiality-determined": "2026-03-02T20:00:00+00:00"}
    event, start = log(session)[before:]
    assert (event.actor, event.action, event.subject) == ("cfo@example.com", "deadline.event", REF)
    assert event.details == {
        "event": "materiality-determined",
        "at": "2026-03-02T20:00:00+00:00",
        "previous": None,
    }
    assert (start.action, start.subject) == ("deadline.started", f"{REF}/sec-8k-item-105/item-105")


def test_a_later_determination_moves_the_due_time(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach, jurisdictions=["US"])
    first = datetime(2026, 3, 2, 15, 0, tzinfo=NEW_YORK)
    record_event(
        session=session, incident=incident, event=Event.MATERIALITY_DETERMINED, at=first, actor="cfo"
    )
    item = row(session, incident, "sec-8k-item-105", "item-105")
    crossing = check(session=session, incident=incident, row=item, now=datetime(2026, 3, 5, 12, tzinfo=UTC))
    assert crossing is not None and crossing.threshold == 50
    before = len(log(session))

    # Wednesday 2026-03-04 10:00: Thursday is day 1, day 4 Tuesday 2026-03-10 (New York is on EDT by then)
    later = datetime(2026, 3, 4, 10, 0, tzinfo=NEW_YORK)
    moved = record_event(
        session=session, incident=incident, event=Event.MATERIALITY_DETERMINED, at=later, actor="cfo"
    )

    new_due = datetime(2026, 3, 10, 17, 30, tzinfo=NEW_YORK)
    assert moved == [item]
    assert (item.starts_at, item.due_at, item.computed_due_at) == (later, new_due, new_due)
    assert new_due == datetime(2026, 3, 10, 21, 30, tzinfo=UTC)
    assert (item.state, item.last_threshold) == (DeadlineState.OPEN, 0)
    event, recomputed = log(session)[before:]
    assert event.details["previous"] == "2026-03-02T20:00:00+00:00"
    assert (recomputed.action, recomputed.subject) == (
        "deadline.recomputed",
        f"{REF}/sec-8k-item-105/item-105",
    )
    assert recomputed.details == {
        "before": datetime(2026, 3, 6, 22, 30, tzinfo=UTC).isoformat(),
        "due": new_due.astimezone(UTC).isoformat(),
    }

    # the same time again moves nothing
    again = record_event(
        session=session, incident=incident, event=Event.MATERIALITY_DETERMINED, at=later, actor="cfo"
    )
    assert again == []
    chain_verifies(session)


def test_awareness_cannot_be_recorded_as_an_event(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach, jurisdictions=["US"])
    before = len(log(session))

    with pytest.raises(InputError) as caught:
        record_event(
            session=session,
            incident=incident,
            event=Event.AWARENESS,
            at=AWARE + timedelta(hours=1),
            actor="x",
        )

    assert problems_of(caught) == [
        ("event", "awareness is the incident's aware_at, set when it was declared")
    ]
    assert incident.clock_events == {}
    assert len(log(session)) == before


def test_an_event_time_without_a_zone_is_refused(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach, jurisdictions=["US"])

    with pytest.raises(InputError) as caught:
        record_event(
            session=session,
            incident=incident,
            event=Event.MATERIALITY_DETERMINED,
            at=datetime(2026, 3, 2, 15, 0),
            actor="x",
        )

    assert [field for field, _ in problems_of(caught)] == ["at"]
    assert incident.clock_events == {}


# ── chained stages ────────────────────────────────────────────────────────────────────────────────


def test_submitting_the_notice_meets_it_and_starts_the_supplement(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach)
    initial = row(session, incident, "gdpr-art33", "initial")
    sent = AWARE + timedelta(hours=30)
    before = len(log(session))

    changed = submit(session, incident, "gdpr-art33", "initial", sent, reference="DPA-2026-0815")

    supplement = row(session, incident, "gdpr-art33", "supplement")
    assert changed == [initial, supplement]
    assert (initial.state, initial.met_at, initial.submitted_by, initial.submission_reference) == (
        DeadlineState.MET,
        sent,
        "dpo@example.com",
        "DPA-2026-0815",
    )
    assert initial.submissions == [
        {"at": sent.isoformat(), "by": "dpo@example.com", "reference": "DPA-2026-0815"}
    ]
    assert initial.delay_reason is None
    assert (supplement.starts_at, supplement.due_at) == (sent, sent + timedelta(days=7))
    assert supplement.chained_from_id == initial.id
    met, started = log(session)[before:]
    assert (met.actor, met.action, met.subject) == (
        "dpo@example.com",
        "deadline.met",
        f"{REF}/gdpr-art33/initial",
    )
    assert met.details == {"at": sent.isoformat(), "reference": "DPA-2026-0815", "late": False}
    assert (started.action, started.subject) == ("deadline.started", f"{REF}/gdpr-art33/supplement")

    assert initial not in open_rows(session, incident)
    assert check(session=session, incident=incident, row=initial, now=DUE + timedelta(days=1)) is None
    shown = face(clockfaces(session=session, incident=incident, now=DUE), "gdpr-art33", "initial")
    assert (shown.state, shown.left, shown.late_by) == ("met", None, None)


def test_the_first_published_update_is_the_art_34_communication(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach)
    published = AWARE + timedelta(hours=2)

    met = meet_by_update(session=session, incident=incident, update_number=1, at=published)

    # Art. 34's communication to the people affected is the incident's own message to them;
    # Art. 33's notice to the authority is not, and stays open
    art34 = row(session, incident, "gdpr-art34", "data-subjects")
    assert met == [art34]
    assert (art34.state, art34.met_at, art34.submitted_by) == (DeadlineState.MET, published, "clarion")
    assert art34.submission_reference == f"{REF} update 1"
    assert row(session, incident, "gdpr-art33", "initial").state is DeadlineState.OPEN
    # a later update does not count as a second communication
    assert meet_by_update(session=session, incident=incident, update_number=2, at=published) == []
    assert len(art34.submissions) == 1


def test_a_waived_communication_is_not_met_by_an_update(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach)
    waive(
        session=session,
        incident=incident,
        regime_id="gdpr-art34",
        stage_id="data-subjects",
        reason="Art. 34(3)(a): the data were encrypted",
        actor="dpo@example.com",
    )

    assert meet_by_update(session=session, incident=incident, update_number=1, at=AWARE) == []
    assert row(session, incident, "gdpr-art34", "data-subjects").state is DeadlineState.WAIVED


def test_resubmitting_the_notice_moves_the_supplement_and_keeps_the_first_submission(
    session: Session, breach: Playbook
) -> None:
    incident = declare(session, breach)
    first, second = AWARE + timedelta(hours=30), AWARE + timedelta(hours=50)
    submit(session, incident, "gdpr-art33", "initial", first, reference="DPA-1")
    before = len(log(session))

    changed = submit(session, incident, "gdpr-art33", "initial", second, reference="DPA-1-update", by="bob")

    initial = row(session, incident, "gdpr-art33", "initial")
    supplement = row(session, incident, "gdpr-art33", "supplement")
    assert changed == [initial, supplement]
    assert (initial.met_at, initial.submitted_by, initial.submission_reference) == (
        first,
        "dpo@example.com",
        "DPA-1",
    )
    assert [s["reference"] for s in initial.submissions] == ["DPA-1", "DPA-1-update"]
    assert supplement.due_at == second + timedelta(days=7)
    assert entries(session, before) == [
        ("deadline.resubmitted", f"{REF}/gdpr-art33/initial"),
        ("deadline.recomputed", f"{REF}/gdpr-art33/supplement"),
    ]


def test_dora_reports_chain_from_classification_through_the_final_report(
    session: Session, dora_book: Playbook
) -> None:
    incident = declare(session, dora_book)
    assert session.exec(select(Deadline)).all() == []

    classified = AWARE + timedelta(hours=2)
    started = record_event(
        session=session, incident=incident, event=Event.CLASSIFIED_MAJOR, at=classified, actor="cro"
    )

    initial = row(session, incident, "dora", "initial")
    clients = row(session, incident, "dora", "clients")
    assert started == [initial, clients]
    assert initial.due_at == classified + timedelta(hours=4)
    assert clients.due_at == classified + timedelta(hours=24)

    # initial submitted: the intermediate report is due 72 h after that submission
    sent_initial = AWARE + timedelta(hours=5)
    submit(session, incident, "dora", "initial", sent_initial)
    intermediate = row(session, incident, "dora", "intermediate")
    assert (intermediate.starts_at, intermediate.due_at) == (sent_initial, sent_initial + timedelta(hours=72))

    # intermediate submitted 2026-03-03 10:00 UTC: final by the end of 2026-04-03 in Brussels (CEST)
    submit(session, incident, "dora", "intermediate", datetime(2026, 3, 3, 10, 0, tzinfo=UTC))
    final = row(session, incident, "dora", "final")
    assert final.due_at == datetime(2026, 4, 3, 23, 59, 59, tzinfo=BRUSSELS)
    assert final.due_at == datetime(2026, 4, 3, 21, 59, 59, tzinfo=UTC)
    crossing = check(session=session, incident=incident, row=final, now=datetime(2026, 3, 20, tzinfo=UTC))
    assert crossing is not None and crossing.threshold == 50
    assert final.state is DeadlineState.AT_RISK
    before = len(log(session))

    # an updated intermediate report: the final report runs from the latest one
    changed = submit(session, incident, "dora", "intermediate", datetime(2026, 3, 21, 12, 0, tzinfo=UTC))

    assert changed == [intermediate, final]
    assert final.due_at == datetime(2026, 4, 21, 23, 59, 59, tzinfo=BRUSSELS)
    assert final.computed_due_at == final.due_at
    assert (final.state, final.last_threshold) == (DeadlineState.OPEN, 0)
    assert intermediate.met_at == datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
    assert len(intermediate.submissions) == 2
    assert entries(session, before) == [
        ("deadline.resubmitted", f"{REF}/dora/intermediate"),
        ("deadline.recomputed", f"{REF}/dora/final"),
    ]
    # the intermediate report runs from the first initial notification, not a later one
    submit(session, incident, "dora", "initial", AWARE + timedelta(hours=20))
    assert intermediate.due_at == sent_initial + timedelta(hours=72)
    chain_verifies(session)


def test_dora_before_classification_shows_the_24_hour_cap(session: Session, dora_book: Playbook) -> None:
    incident = declare(session, dora_book)

    faces = clockfaces(session=session, incident=incident, now=AWARE + timedelta(hours=1))

    assert [(f.stage.id, f.state, f.due_by_cap) for f in faces] == [
        ("initial", "pending", AWARE + timedelta(hours=24)),
        ("intermediate", "pending", None),
        ("final", "pending", None),
        ("clients", "pending", None),
    ]
    assert all(f.row is None and f.left is None for f in faces)


@pytest.mark.parametrize(
    ("classified_after", "due_after"),
    [
        pytest.param(timedelta(hours=22), timedelta(hours=24), id="late-in-the-first-day-due-at-the-24h-cap"),
        pytest.param(timedelta(hours=30), timedelta(hours=34), id="after-the-first-day-still-gets-its-4h"),
    ],
)
def test_dora_initial_is_due_4_hours_after_classification_capped_at_24_hours_while_it_binds(
    session: Session, dora_book: Playbook, classified_after: timedelta, due_after: timedelta
) -> None:
    incident = declare(session, dora_book)

    record_event(
        session=session,
        incident=incident,
        event=Event.CLASSIFIED_MAJOR,
        at=AWARE + classified_after,
        actor="cro",
    )

    assert row(session, incident, "dora", "initial").due_at == AWARE + due_after


# ── late notices ──────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_a_late_notice_without_the_reasons_is_refused_and_nothing_is_stored(
    session: Session, breach: Playbook, reason: str | None
) -> None:
    incident = declare(session, breach)
    initial = row(session, incident, "gdpr-art33", "initial")
    session.commit()
    before = len(log(session))

    with pytest.raises(InputError) as caught:
        submit(session, incident, "gdpr-art33", "initial", DUE + timedelta(hours=2), delay_reason=reason)

    assert problems_of(caught) == [
        (
            "delay_reason",
            "gdpr-art33/initial was due 2026-03-04T09:00:00+00:00: a late notice must give the reasons for "
            "the delay",
        )
    ]
    # nothing changed in the session, nothing reached the database
    assert (initial.state, initial.met_at, initial.submissions, initial.submitted_by) == (
        DeadlineState.OPEN,
        None,
        [],
        None,
    )
    assert len(log(session)) == before
    session.rollback()
    stored = session.get(Deadline, initial.id)
    assert stored is not None and (stored.state, stored.submissions) == (DeadlineState.OPEN, [])
    with pytest.raises(InputError):
        row(session, incident, "gdpr-art33", "supplement")


def test_a_late_notice_with_its_reasons_is_met_and_keeps_them(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach)
    sent = DUE + timedelta(hours=2)
    before = len(log(session))

    submit(session, incident, "gdpr-art33", "initial", sent, delay_reason="Forensics took 4 days")

    initial = row(session, incident, "gdpr-art33", "initial")
    assert (initial.state, initial.met_at, initial.delay_reason) == (
        DeadlineState.MET,
        sent,
        "Forensics took 4 days",
    )
    met = log(session)[before]
    assert met.details == {
        "at": sent.isoformat(),
        "reference": "REF-1",
        "late": True,
        "delay_reason": "Forensics took 4 days",
    }
    shown = face(clockfaces(session=session, incident=incident, now=sent), "gdpr-art33", "initial")
    assert (shown.state, shown.left, shown.late_by) == ("met", None, timedelta(hours=2))


def test_a_reason_given_for_an_on_time_notice_is_not_kept(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach)

    submit(session, incident, "gdpr-art33", "initial", DUE, delay_reason="not late at all")

    initial = row(session, incident, "gdpr-art33", "initial")
    assert (initial.state, initial.delay_reason) == (DeadlineState.MET, None)
    assert (
        face(clockfaces(session=session, incident=incident, now=DUE), "gdpr-art33", "initial").late_by is None
    )


def test_a_late_stage_whose_law_asks_no_reasons_is_met_without_them(
    session: Session, breach: Playbook
) -> None:
    incident = declare(session, breach)
    sent = DUE + timedelta(hours=3)

    submit(session, incident, "gdpr-art34", "data-subjects", sent)

    subjects = row(session, incident, "gdpr-art34", "data-subjects")
    assert (subjects.state, subjects.delay_reason) == (DeadlineState.MET, None)
    shown = face(clockfaces(session=session, incident=incident, now=sent), "gdpr-art34", "data-subjects")
    assert shown.late_by == timedelta(hours=3)


# ── overrides ─────────────────────────────────────────────────────────────────────────────────────


def test_an_override_sets_the_due_time_and_keeps_the_computed_one(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach)
    initial = row(session, incident, "gdpr-art33", "initial")
    check(session=session, incident=incident, row=initial, now=AWARE + timedelta(hours=70))
    assert initial.last_threshold == 90
    before = len(log(session))
    extended = DUE + timedelta(hours=48)

    result = override(
        session=session,
        incident=incident,
        regime_id="gdpr-art33",
        stage_id="initial",
        due_at=extended,
        reason="Authority agreed to phased notice",
        actor="dpo@example.com",
    )

    assert result is initial
    assert (initial.due_at, initial.computed_due_at, initial.override_reason) == (
        extended,
        DUE,
        "Authority agreed to phased notice",
    )
    assert (initial.state, initial.last_threshold) == (DeadlineState.OPEN, 0)
    (entry,) = log(session)[before:]
    assert (entry.actor, entry.action, entry.subject) == (
        "dpo@example.com",
        "deadline.overridden",
        f"{REF}/gdpr-art33/initial",
    )
    assert entry.details == {
        "before": DUE.isoformat(),
        "due": extended.isoformat(),
        "reason": "Authority agreed to phased notice",
    }
    # watched afresh against the new time: not late at the old deadline
    assert state_at(initial, DUE + timedelta(hours=1)) is not DeadlineState.MISSED
    submit(session, incident, "gdpr-art33", "initial", DUE + timedelta(hours=1))
    assert initial.state is DeadlineState.MET
    # and start_clocks does not put the computed time back
    assert start_clocks(session=session, incident=incident) == []
    assert initial.due_at == extended


def test_a_recompute_leaves_an_overridden_clock_alone(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach, jurisdictions=["US"])
    record_event(
        session=session,
        incident=incident,
        event=Event.MATERIALITY_DETERMINED,
        at=datetime(2026, 3, 2, 15, 0, tzinfo=NEW_YORK),
        actor="cfo",
    )
    granted = datetime(2026, 4, 1, 17, 30, tzinfo=NEW_YORK)
    override(
        session=session,
        incident=incident,
        regime_id="sec-8k-item-105",
        stage_id="item-105",
        due_at=granted,
        reason="Attorney General delay (national security)",
        actor="gc@example.com",
    )
    before = len(log(session))

    moved = record_event(
        session=session,
        incident=incident,
        event=Event.MATERIALITY_DETERMINED,
        at=datetime(2026, 3, 4, 10, 0, tzinfo=NEW_YORK),
        actor="cfo",
    )

    item = row(session, incident, "sec-8k-item-105", "item-105")
    assert moved == []
    assert (item.due_at, item.override_reason) == (granted, "Attorney General delay (national security)")
    assert [a for a, _ in entries(session, before)] == ["deadline.event"]


@pytest.mark.parametrize("reason", ["", "  \n"])
def test_an_override_without_a_reason_is_refused(session: Session, breach: Playbook, reason: str) -> None:
    incident = declare(session, breach)

    with pytest.raises(InputError) as caught:
        override(
            session=session,
            incident=incident,
            regime_id="gdpr-art33",
            stage_id="initial",
            due_at=DUE + timedelta(days=1),
            reason=reason,
            actor="dpo",
        )

    assert problems_of(caught) == [("reason", "give the reason: it goes into the audit log")]
    assert row(session, incident, "gdpr-art33", "initial").due_at == DUE


def test_an_override_to_a_time_without_a_zone_is_refused(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach)

    with pytest.raises(InputError) as caught:
        override(
            session=session,
            incident=incident,
            regime_id="gdpr-art33",
            stage_id="initial",
            due_at=datetime(2026, 3, 6, 9, 0),
            reason="extension",
            actor="dpo",
        )

    assert problems_of(caught) == [("due", "2026-03-06T09:00:00 has no time zone")]
    initial = row(session, incident, "gdpr-art33", "initial")
    assert (initial.due_at, initial.override_reason) == (DUE, None)


# ── waivers ───────────────────────────────────────────────────────────────────────────────────────


def test_a_waived_stage_is_no_longer_watched(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach)
    before = len(log(session))
    reason = "Data were encrypted: Art. 34(3)(a)"

    waived = waive(
        session=session,
        incident=incident,
        regime_id="gdpr-art34",
        stage_id="data-subjects",
        reason=reason,
        actor="dpo@example.com",
    )

    assert (waived.state, waived.override_reason) == (DeadlineState.WAIVED, reason)
    assert [(r.regime, r.stage) for r in open_rows(session, incident)] == [("gdpr-art33", "initial")]
    assert check(session=session, incident=incident, row=waived, now=DUE + timedelta(days=3)) is None
    shown = face(
        clockfaces(session=session, incident=incident, now=DUE + timedelta(days=3)),
        "gdpr-art34",
        "data-subjects",
    )
    assert (shown.state, shown.left) == ("waived", None)
    (entry,) = log(session)[before:]
    assert (entry.action, entry.subject, entry.details) == (
        "deadline.waived",
        f"{REF}/gdpr-art34/data-subjects",
        {"reason": reason},
    )

    with pytest.raises(InputError) as caught:
        submit(session, incident, "gdpr-art34", "data-subjects", AWARE + timedelta(hours=5))
    assert problems_of(caught) == [("stage", f"gdpr-art34/data-subjects was waived: {reason}")]
    assert waived.submissions == []


def test_a_met_stage_cannot_be_waived(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach)
    submit(session, incident, "gdpr-art33", "initial", AWARE + timedelta(hours=10))

    with pytest.raises(InputError) as caught:
        waive(
            session=session,
            incident=incident,
            regime_id="gdpr-art33",
            stage_id="initial",
            reason="not needed",
            actor="dpo",
        )

    assert problems_of(caught) == [("stage", "gdpr-art33/initial was met already")]
    assert row(session, incident, "gdpr-art33", "initial").state is DeadlineState.MET


def test_a_waiver_without_a_reason_is_refused(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach)

    with pytest.raises(InputError) as caught:
        waive(
            session=session,
            incident=incident,
            regime_id="gdpr-art34",
            stage_id="data-subjects",
            reason=" ",
            actor="x",
        )

    assert [field for field, _ in problems_of(caught)] == ["reason"]
    assert row(session, incident, "gdpr-art34", "data-subjects").state is DeadlineState.OPEN


# ── what cannot be submitted ──────────────────────────────────────────────────────────────────────


def test_a_pending_stage_cannot_be_submitted(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach)

    with pytest.raises(InputError) as caught:
        submit(session, incident, "gdpr-art33", "supplement", AWARE + timedelta(hours=5))

    assert problems_of(caught) == [
        ("stage", f"gdpr-art33/supplement of {REF} has not started: it starts when initial is submitted")
    ]


def test_a_regime_the_incident_does_not_run_cannot_be_submitted(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach)

    with pytest.raises(InputError) as caught:
        submit(session, incident, "dora", "initial", AWARE + timedelta(hours=5))

    assert problems_of(caught) == [("regime", f"{REF} does not run 'dora' (it runs: gdpr-art33, gdpr-art34)")]


def test_a_regime_on_an_incident_without_regimes_says_it_runs_none(session: Session) -> None:
    incident = declare(session, playbook("outage"))

    with pytest.raises(InputError) as caught:
        submit(session, incident, "gdpr-art33", "initial", AWARE)

    assert problems_of(caught) == [("regime", f"{REF} does not run 'gdpr-art33' (it runs: none)")]


def test_an_unknown_stage_cannot_be_submitted(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach)

    with pytest.raises(InputError) as caught:
        submit(session, incident, "gdpr-art33", "final", AWARE + timedelta(hours=5))

    assert problems_of(caught) == [("stage", "gdpr-art33 has no stage 'final' (it has initial, supplement)")]


def test_a_submission_needs_who_and_an_aware_time(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach)

    with pytest.raises(InputError) as by:
        submit(session, incident, "gdpr-art33", "initial", AWARE + timedelta(hours=5), by="  ")
    with pytest.raises(InputError) as at:
        submit(session, incident, "gdpr-art33", "initial", datetime(2026, 3, 2, 9, 0))

    assert problems_of(by) == [("by", "say who submitted it")]
    assert problems_of(at) == [("at", "2026-03-02T09:00:00 has no time zone")]
    assert row(session, incident, "gdpr-art33", "initial").submissions == []


# ── the same story on a SQLite file and on PostgreSQL, across sessions ────────────────────────────


def test_the_whole_story_round_trips_through_the_store(engine: sa.Engine, breach: Playbook) -> None:
    """Declare, watch, record, submit late, override, waive, each in its own transaction; then
    everything reads back as written, a fresh start_clocks moves nothing and the audit chain holds."""

    def load(session: Session) -> Incident:
        return session.exec(select(Incident).where(Incident.reference == REF)).one()

    with Session(engine, expire_on_commit=False) as session:
        declare(session, breach, jurisdictions=["US"])
        session.commit()

    with Session(engine, expire_on_commit=False) as session:
        incident = load(session)
        initial = row(session, incident, "gdpr-art33", "initial")
        crossing = check(session=session, incident=incident, row=initial, now=AWARE + timedelta(hours=71))
        assert crossing is not None and (crossing.threshold, crossing.state) == (90, DeadlineState.AT_RISK)
        session.commit()

    with Session(engine, expire_on_commit=False) as session:
        incident = load(session)
        initial = row(session, incident, "gdpr-art33", "initial")
        assert (initial.last_threshold, initial.state) == (90, DeadlineState.AT_RISK)
        assert check(session=session, incident=incident, row=initial, now=AWARE + timedelta(hours=71)) is None
        crossing = check(session=session, incident=incident, row=initial, now=AWARE + timedelta(hours=73))
        assert crossing is not None and (crossing.threshold, crossing.state) == (100, DeadlineState.MISSED)
        record_event(
            session=session,
            incident=incident,
            event=Event.MATERIALITY_DETERMINED,
            at=datetime(2026, 3, 2, 15, 0, tzinfo=NEW_YORK),
            actor="cfo",
        )
        with pytest.raises(InputError):
            submit(session, incident, "gdpr-art33", "initial", DUE + timedelta(hours=1))
        submit(
            session,
            incident,
            "gdpr-art33",
            "initial",
            DUE + timedelta(hours=1, minutes=30),
            reference="DPA-9",
            delay_reason="Forensics | legal review",
        )
        waive(
            session=session,
            incident=incident,
            regime_id="gdpr-art34",
            stage_id="data-subjects",
            reason="encrypted",
            actor="dpo",
        )
        override(
            session=session,
            incident=incident,
            regime_id="hipaa",
            stage_id="media",
            due_at=datetime(2026, 4, 15, 12, 0, tzinfo=UTC),
            reason="HHS agreed",
            actor="gc",
        )
        session.commit()

    with Session(engine, expire_on_commit=False) as session:
        incident = load(session)
        assert incident.clock_events == {"materiality-determined": "2026-03-02T20:00:00+00:00"}
        assert start_clocks(session=session, incident=incident) == []
        initial = row(session, incident, "gdpr-art33", "initial")
        assert (initial.state, initial.met_at, initial.submission_reference, initial.delay_reason) == (
            DeadlineState.MET,
            DUE + timedelta(hours=1, minutes=30),
            "DPA-9",
            "Forensics | legal review",
        )
        assert initial.submissions == [
            {
                "at": (DUE + timedelta(hours=1, minutes=30)).isoformat(),
                "by": "dpo@example.com",
                "reference": "DPA-9",
            }
        ]
        supplement = row(session, incident, "gdpr-art33", "supplement")
        assert supplement.due_at == DUE + timedelta(days=7, hours=1, minutes=30)
        assert row(session, incident, "sec-8k-item-105", "item-105").due_at == datetime(
            2026, 3, 6, 22, 30, tzinfo=UTC
        )
        media = row(session, incident, "hipaa", "media")
        assert (media.due_at, media.computed_due_at) == (
            datetime(2026, 4, 15, 12, 0, tzinfo=UTC),
            datetime(2026, 4, 30, 23, 59, 59, tzinfo=NEW_YORK),
        )
        now = AWARE + timedelta(hours=80)
        faces = clockfaces(session=session, incident=incident, now=now)
        assert {(f.regime.id, f.stage.id): f.state for f in faces} == {
            ("gdpr-art33", "initial"): "met",
            ("gdpr-art33", "supplement"): "open",
            ("gdpr-art34", "data-subjects"): "waived",
            ("hipaa", "individual"): "open",
            ("hipaa", "media"): "open",
            ("hipaa", "hhs"): "open",
            ("hipaa", "hhs-annual"): "open",
            ("sec-8k-item-105", "item-105"): "open",
        }
        assert face(faces, "gdpr-art33", "initial").late_by == timedelta(hours=1, minutes=30)
        actions = [a for a, _ in entries(session)]
        assert actions.count("deadline.started") == 8
        assert [a for a in actions if a != "deadline.started"] == [
            "incident.declared",
            "deadline.at-risk",
            "deadline.missed",
            "deadline.event",
            "deadline.met",
            "deadline.waived",
            "deadline.overridden",
        ]
        chain_verifies(session)


# ── issue 12: times from another age ───────────────────────────────────────────────────────────────

NOW = AWARE + timedelta(days=2)
LATEST = "2026-03-03T09:15:00+00:00"  # NOW plus the 15 minutes machines' clocks may differ


@pytest.mark.parametrize(
    ("at", "message"),
    [
        (
            datetime(9999, 12, 31, 23, 59, 59, tzinfo=ZoneInfo("Etc/GMT+1")),
            f"9999-12-31T23:59:59-01:00 is in the future (later than {LATEST}, now plus 15 minutes): "
            "record an event once it has happened",
        ),
        (
            NOW + timedelta(minutes=16),
            f"2026-03-03T09:16:00+00:00 is in the future (later than {LATEST}, now plus 15 minutes): "
            "record an event once it has happened",
        ),
        (
            datetime(1, 1, 1, tzinfo=ZoneInfo("Etc/GMT-1")),
            "0001-01-01T00:00:00+01:00 is before awareness (2026-03-01T09:00:00+00:00)",
        ),
    ],
    ids=["year-9999", "past-the-skew", "year-1"],
)
def test_times_and_durations_are_bounded_for_clock_events(
    session: Session, breach: Playbook, at: datetime, message: str
) -> None:
    incident = declare(session, breach, jurisdictions=["US"])
    before = len(log(session))

    with pytest.raises(InputError) as caught:
        record_event(
            session=session,
            incident=incident,
            event=Event.MATERIALITY_DETERMINED,
            at=at,
            actor="cfo",
            now=NOW,
        )

    assert problems_of(caught) == [("at", message)]
    assert incident.clock_events == {}
    assert len(log(session)) == before


def test_a_clock_event_within_the_skew_is_recorded(session: Session, breach: Playbook) -> None:
    incident = declare(session, breach, jurisdictions=["US"])
    at = NOW + timedelta(minutes=14)
    record_event(
        session=session, incident=incident, event=Event.MATERIALITY_DETERMINED, at=at, actor="cfo", now=NOW
    )
    assert incident.clock_events == {"materiality-determined": at.isoformat()}


def test_a_clock_event_is_bounded_by_the_wall_clock_when_no_now_is_given(
    session: Session, breach: Playbook
) -> None:
    incident = declare(session, breach, jurisdictions=["US"])
    with pytest.raises(InputError) as caught:
        record_event(
            session=session,
            incident=incident,
            event=Event.MATERIALITY_DETERMINED,
            at=datetime(2099, 1, 1, tzinfo=UTC),
            actor="cfo",
        )
    assert [field for field, _ in problems_of(caught)] == ["at"]
    assert "is in the future" in problems_of(caught)[0][1]
