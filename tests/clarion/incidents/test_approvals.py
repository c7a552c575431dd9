"""Approvals: who must approve an update, what they decided, and how long they have to answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, col, select

from clarion import audit, store
from clarion.incidents import approvals
from clarion.incidents.approvals import MIN_WINDOW, REGULATOR_MARGIN, Window
from clarion.kinds import ApprovalDecision, DeadlineState, IncidentStatus, UpdateKind
from clarion.models import Approval, AuditEvent, Deadline, Incident, IncidentCreate, Update, UpdateCreate
from clarion.playbook import Playbook, load_playbook
from tests.helpers import PLAYBOOKS, shipped_playbooks

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
HASH = "c0ffee" * 10 + "abcd"

LEGAL = "legal-on-call@example.com"
COUNSEL = "general-counsel@example.com"
DPO = "dpo@example.com"


def playbook(name: str) -> Playbook:
    return load_playbook(PLAYBOOKS / f"{name}.yaml")


@pytest.fixture
def breach() -> Playbook:
    return playbook("data-breach")


def add_incident(session: Session, reference: str = "INC-0042") -> Incident:
    incident = store.create_incident(
        session=session,
        incident_in=IncidentCreate(
            reference=reference, playbook="data-breach", severity="sev1", title="Exposed", aware_at=T0
        ),
    )
    session.flush()
    return incident


def add_update(session: Session, incident: Incident, kind: UpdateKind = UpdateKind.UPDATE) -> Update:
    update = store.add_update(
        session=session,
        incident=incident,
        update_in=UpdateCreate(
            kind=kind,
            status=IncidentStatus.IDENTIFIED,
            apology={"en": {"text": "We are sorry.", "short": "Sorry."}},
            next_update_by=T0 + timedelta(hours=1),
        ),
    )
    update.content_hash = HASH
    session.add(update)
    session.flush()
    return update


@pytest.fixture
def incident(session: Session) -> Incident:
    return add_incident(session)


@pytest.fixture
def update(session: Session, incident: Incident) -> Update:
    return add_update(session, incident)


def decide(
    session: Session,
    incident: Incident,
    update: Update,
    role: str,
    decision: ApprovalDecision = ApprovalDecision.APPROVED,
    approver: str | None = None,
    reason: str | None = None,
) -> Approval:
    return approvals.record_decision(
        session=session,
        incident=incident,
        update=update,
        role=role,
        approver=approver or {"legal": LEGAL, "dpo": DPO}.get(role, "someone@example.com"),
        decision=decision,
        reason=reason,
    )


# ── which steps an update needs ──────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("name", shipped_playbooks())
def test_no_shipped_playbook_makes_a_holding_statement_wait_for_approval(name: str) -> None:
    assert approvals.required_steps(playbook(name), UpdateKind.HOLDING) == []


@pytest.mark.parametrize(
    ("name", "kind", "roles"),
    [
        ("data-breach", UpdateKind.INITIAL, ["legal", "dpo"]),
        ("data-breach", UpdateKind.UPDATE, ["legal", "dpo"]),
        ("data-breach", UpdateKind.RESOLUTION, ["legal", "dpo"]),
        ("data-breach", UpdateKind.CORRECTION, ["legal", "dpo"]),
        ("outage", UpdateKind.UPDATE, ["comms-lead"]),
        ("degraded-performance", UpdateKind.INITIAL, ["comms-lead"]),
        ("degraded-performance", UpdateKind.UPDATE, []),
        ("scheduled-maintenance", UpdateKind.CORRECTION, ["change-owner"]),
        ("scheduled-maintenance", UpdateKind.RESOLUTION, []),
        ("security-vulnerability", UpdateKind.INITIAL, ["security-lead", "legal"]),
        ("security-vulnerability", UpdateKind.UPDATE, ["security-lead"]),
    ],
)
def test_required_steps_follow_the_update_kind(name: str, kind: UpdateKind, roles: list[str]) -> None:
    assert [s.role for s in approvals.required_steps(playbook(name), kind)] == roles


# ── what is still pending ────────────────────────────────────────────────────────────────────────


def pending(session: Session, update: Update, breach: Playbook) -> list[str]:
    return approvals.pending_roles(session=session, update=update, playbook=breach)


def test_every_role_is_pending_before_anyone_answers(
    session: Session, update: Update, breach: Playbook
) -> None:
    assert pending(session, update, breach) == ["legal", "dpo"]


def test_each_approval_removes_its_role(
    session: Session, incident: Incident, update: Update, breach: Playbook
) -> None:
    decide(session, incident, update, "dpo")
    assert pending(session, update, breach) == ["legal"]

    decide(session, incident, update, "legal")
    assert pending(session, update, breach) == []


def test_an_edit_voids_the_earlier_approvals_but_counts_as_its_authors(
    session: Session, incident: Incident, update: Update, breach: Playbook
) -> None:
    decide(session, incident, update, "legal")
    decide(session, incident, update, "dpo", ApprovalDecision.EDITED, reason="softer wording")

    assert pending(session, update, breach) == ["legal"]

    decide(session, incident, update, "legal")
    assert pending(session, update, breach) == []


def test_only_the_last_edit_counts(
    session: Session, incident: Incident, update: Update, breach: Playbook
) -> None:
    decide(session, incident, update, "legal", ApprovalDecision.EDITED)
    decide(session, incident, update, "dpo", ApprovalDecision.EDITED)

    assert pending(session, update, breach) == ["legal"]


def test_a_rejection_approves_nothing(
    session: Session, incident: Incident, update: Update, breach: Playbook
) -> None:
    decide(session, incident, update, "legal", ApprovalDecision.REJECTED, reason="wrong numbers")

    assert pending(session, update, breach) == ["legal", "dpo"]


def test_approvals_of_another_update_do_not_count(
    session: Session, incident: Incident, update: Update, breach: Playbook
) -> None:
    other = add_update(session, incident)
    decide(session, incident, other, "legal")
    decide(session, incident, other, "dpo")

    assert pending(session, update, breach) == ["legal", "dpo"]
    assert pending(session, other, breach) == []


def test_a_holding_statement_has_nothing_pending(
    session: Session, incident: Incident, breach: Playbook
) -> None:
    holding = add_update(session, incident, UpdateKind.HOLDING)

    assert pending(session, holding, breach) == []


def test_rejection_names_the_decision_that_stopped_the_update(
    session: Session, incident: Incident, update: Update
) -> None:
    assert update.id is not None
    decide(session, incident, update, "legal")
    assert approvals.rejection(session=session, update_id=update.id) is None

    first = decide(session, incident, update, "dpo", ApprovalDecision.REJECTED, reason="not yet")
    decide(session, incident, update, "legal", ApprovalDecision.REJECTED, reason="also no")

    found = approvals.rejection(session=session, update_id=update.id)
    assert found is not None
    assert (found.id, found.role, found.approver, found.reason) == (first.id, "dpo", DPO, "not yet")


# ── whether an answer can be accepted ────────────────────────────────────────────────────────────


def test_an_unknown_role_is_named_with_the_known_ones(breach: Playbook) -> None:
    assert (
        approvals.check_answer(breach, ["legal", "dpo"], "press", LEGAL)
        == "playbook data-breach has no approval role 'press' (roles: legal, dpo)"
    )


def test_a_playbook_without_approvals_names_no_roles(breach: Playbook) -> None:
    bare = breach.model_copy(update={"approvals": []})

    assert (
        approvals.check_answer(bare, [], "legal", LEGAL)
        == "playbook data-breach has no approval role 'legal' (roles: none)"
    )


def test_a_role_that_already_approved_is_told_so(breach: Playbook) -> None:
    assert approvals.check_answer(breach, ["dpo"], "legal", LEGAL) == "legal has already approved this draft"


def test_an_answer_when_nothing_is_pending_is_refused(breach: Playbook) -> None:
    assert approvals.check_answer(breach, [], "legal", LEGAL) == "no approval is pending"


def test_an_approver_not_listed_for_the_role_is_refused(breach: Playbook) -> None:
    assert approvals.check_answer(breach, ["legal", "dpo"], "legal", DPO) == (
        f"{DPO} may not answer for legal (allowed: {LEGAL}, {COUNSEL})"
    )


def test_an_unnamed_approver_is_refused(breach: Playbook) -> None:
    assert approvals.check_answer(breach, ["legal"], "legal", "") == (
        f"an unnamed approver may not answer for legal (allowed: {LEGAL}, {COUNSEL})"
    )


@pytest.mark.parametrize(
    "approver", [LEGAL, COUNSEL, "Legal-On-Call@Example.COM", "  general-counsel@EXAMPLE.com "]
)
def test_listed_approvers_and_the_backup_are_accepted_in_any_case(breach: Playbook, approver: str) -> None:
    assert approvals.check_answer(breach, ["legal", "dpo"], "legal", approver) is None


@pytest.mark.parametrize(
    ("answer", "verdict", "reason", "approver"),
    [
        ({"approved": True}, approvals.Verdict.APPROVE, "", LEGAL),
        ({"approved": True, "approver": "LEGAL-on-call@example.com"}, approvals.Verdict.APPROVE, "", LEGAL),
        (
            {"approved": False, "reason": "  wrong time window "},
            approvals.Verdict.REJECT,
            "wrong time window",
            LEGAL,
        ),
        ({"approved": False, "reason": "  "}, approvals.Verdict.REFUSED, "", LEGAL),
        (
            {"approved": False, "edited": True, "reason": "fixed the time"},
            approvals.Verdict.EDIT,
            "fixed the time",
            LEGAL,
        ),
        ({"approved": True, "approver": COUNSEL}, approvals.Verdict.APPROVE, "", COUNSEL),
    ],
)
def test_an_answer_and_a_draft_make_one_decision(
    breach: Playbook, answer: dict[str, object], verdict: approvals.Verdict, reason: str, approver: str
) -> None:
    decision = approvals.decide(
        breach,
        ["legal", "dpo"],
        role="legal",
        approver=str(answer.get("approver", LEGAL)),
        approved=bool(answer["approved"]),
        reason=str(answer.get("reason", "")),
        edited=bool(answer.get("edited", False)),
    )
    assert (decision.verdict, decision.reason, decision.approver) == (verdict, reason, approver)
    if verdict is approvals.Verdict.REFUSED:
        assert decision.problem == approvals.REASON_NEEDED  # a rejection needs a reason, and says so
    else:
        assert decision.problem is None


def test_a_refused_answer_says_why_whatever_it_asked(breach: Playbook) -> None:
    refused = approvals.decide(breach, ["dpo"], role="legal", approver=LEGAL, approved=False, reason="no")
    assert (refused.verdict, refused.problem) == (
        approvals.Verdict.REFUSED,
        "legal has already approved this draft",
    )
    stranger = approvals.decide(breach, ["legal"], role="legal", approver=DPO, approved=True, edited=True)
    assert stranger.verdict is approvals.Verdict.REFUSED and "may not answer for legal" in (
        stranger.problem or ""
    )


# ── recording a decision ─────────────────────────────────────────────────────────────────────────


def test_a_decision_is_a_row_and_an_audit_entry(session: Session, incident: Incident, update: Update) -> None:
    row = decide(session, incident, update, "legal", approver=COUNSEL)
    session.commit()

    stored = session.exec(select(Approval)).one()
    assert (stored.id, stored.update_id, stored.role, stored.approver, stored.decision, stored.reason) == (
        row.id,
        update.id,
        "legal",
        COUNSEL,
        ApprovalDecision.APPROVED,
        None,
    )
    entry = session.exec(select(AuditEvent)).one()
    assert (entry.actor, entry.action, entry.subject) == (COUNSEL, "approval.approved", "INC-0042/update-1")
    assert entry.details == {"role": "legal", "reason": None, "content_hash": HASH, "identity": "asserted"}
    assert audit.verify(session=session).entries == 1


@pytest.mark.parametrize(
    ("decision", "action"),
    [
        (ApprovalDecision.APPROVED, "approval.approved"),
        (ApprovalDecision.REJECTED, "approval.rejected"),
        (ApprovalDecision.EDITED, "approval.edited"),
    ],
)
def test_each_decision_has_its_audit_action(
    session: Session, incident: Incident, decision: ApprovalDecision, action: str
) -> None:
    add_update(session, incident)
    second = add_update(session, incident)

    decide(session, incident, second, "dpo", decision, reason="the count is 8 300")

    entry = session.exec(select(AuditEvent)).one()
    assert (entry.action, entry.subject, entry.actor) == (action, "INC-0042/update-2", DPO)
    assert entry.details == {
        "role": "dpo",
        "reason": "the count is 8 300",
        "content_hash": HASH,
        "identity": "asserted",
    }
    assert session.exec(select(Approval.decision)).one() is decision


@pytest.mark.parametrize("decision", list(ApprovalDecision))
def test_approvals_are_recorded_as_asserted(
    session: Session, incident: Incident, update: Update, decision: ApprovalDecision
) -> None:
    """Anyone who types a listed address passes ``--by``: the audit log must not claim it was them."""
    decide(session, incident, update, "dpo", decision, approver=DPO, reason="checked")
    session.commit()

    entry = session.exec(select(AuditEvent)).one()
    assert entry.details["identity"] == "asserted"
    assert entry.actor == DPO  # the plain address, as readers of the log expect it
    assert audit.verify(session=session).entries == 1  # the hash chain covers the identity too


def test_an_empty_reason_is_stored_as_none(session: Session, incident: Incident, update: Update) -> None:
    row = decide(session, incident, update, "legal", ApprovalDecision.REJECTED, reason="")

    assert row.reason is None
    assert session.exec(select(AuditEvent.details)).one()["reason"] is None


def test_decisions_are_listed_in_the_order_made(session: Session, incident: Incident, update: Update) -> None:
    assert update.id is not None
    decide(session, incident, update, "dpo")
    decide(session, incident, update, "legal", ApprovalDecision.EDITED)
    decide(session, incident, update, "dpo")

    made = approvals.decisions(session=session, update_id=update.id)

    assert [(d.role, d.decision) for d in made] == [
        ("dpo", ApprovalDecision.APPROVED),
        ("legal", ApprovalDecision.EDITED),
        ("dpo", ApprovalDecision.APPROVED),
    ]
    actions = session.exec(select(AuditEvent.action).order_by(col(AuditEvent.id))).all()
    assert actions == ["approval.approved", "approval.edited", "approval.approved"]


# ── regulatory deadlines ─────────────────────────────────────────────────────────────────────────


def add_deadline(
    session: Session, incident: Incident, stage: str, due: timedelta, state: DeadlineState
) -> None:
    assert incident.id is not None
    session.add(
        Deadline(
            incident_id=incident.id,
            regime="gdpr-art33",
            stage=stage,
            recipient="BfDI",
            starts_at=T0,
            due_at=T0 + due,
            state=state,
        )
    )
    session.flush()


def test_no_deadline_means_none(session: Session, incident: Incident) -> None:
    assert incident.id is not None
    assert approvals.earliest_open_deadline(session=session, incident_id=incident.id) is None


def test_the_earliest_open_or_at_risk_deadline_counts(session: Session, incident: Incident) -> None:
    assert incident.id is not None
    add_deadline(session, incident, "met", timedelta(hours=1), DeadlineState.MET)
    add_deadline(session, incident, "waived", timedelta(hours=2), DeadlineState.WAIVED)
    add_deadline(session, incident, "missed", timedelta(hours=3), DeadlineState.MISSED)
    add_deadline(session, incident, "final", timedelta(hours=72), DeadlineState.OPEN)
    add_deadline(session, incident, "early", timedelta(hours=30), DeadlineState.AT_RISK)
    other = add_incident(session, "INC-0099")
    add_deadline(session, other, "other", timedelta(minutes=10), DeadlineState.OPEN)

    due = approvals.earliest_open_deadline(session=session, incident_id=incident.id)

    assert due == T0 + timedelta(hours=30)
    assert due is not None and due.utcoffset() == timedelta(0)


def test_closed_deadlines_only_mean_none(session: Session, incident: Incident) -> None:
    assert incident.id is not None
    add_deadline(session, incident, "met", timedelta(hours=1), DeadlineState.MET)
    add_deadline(session, incident, "waived", timedelta(hours=2), DeadlineState.WAIVED)

    assert approvals.earliest_open_deadline(session=session, incident_id=incident.id) is None


# ── the window to answer in ──────────────────────────────────────────────────────────────────────


def test_the_safety_constants() -> None:
    assert (timedelta(hours=2), timedelta(minutes=15)) == (REGULATOR_MARGIN, MIN_WINDOW)


def test_without_a_deadline_the_window_is_the_steps_timeout(breach: Playbook) -> None:
    legal = breach.approvals[0]

    assert approvals.window(legal, requested_at=T0, regulatory_due=None) == Window(
        "legal",
        escalate_at=T0 + timedelta(hours=1),
        expires_at=T0 + timedelta(hours=2),
        capped_by_deadline=False,
    )


def test_a_short_timeout_escalates_half_way() -> None:
    comms = playbook("outage").approvals[0]

    assert approvals.window(comms, requested_at=T0, regulatory_due=None) == Window(
        "comms-lead", T0 + timedelta(minutes=7, seconds=30), T0 + timedelta(minutes=15), False
    )


def test_a_distant_deadline_leaves_the_timeout(breach: Playbook) -> None:
    window = approvals.window(breach.approvals[0], requested_at=T0, regulatory_due=T0 + timedelta(hours=72))

    assert (window.expires_at, window.capped_by_deadline) == (T0 + timedelta(hours=2), False)


def test_a_deadline_exactly_at_timeout_plus_margin_does_not_cap(breach: Playbook) -> None:
    window = approvals.window(breach.approvals[0], requested_at=T0, regulatory_due=T0 + timedelta(hours=4))

    assert (window.expires_at, window.capped_by_deadline) == (T0 + timedelta(hours=2), False)


def test_a_near_deadline_caps_the_window_to_leave_the_margin(breach: Playbook) -> None:
    window = approvals.window(breach.approvals[1], requested_at=T0, regulatory_due=T0 + timedelta(hours=3))

    assert window == Window("dpo", T0 + timedelta(minutes=30), T0 + timedelta(hours=1), True)


@pytest.mark.parametrize(
    "due", [T0 + timedelta(hours=2, minutes=10), T0 + timedelta(hours=2), T0 - timedelta(hours=1)]
)
def test_the_window_is_never_shorter_than_the_minimum(breach: Playbook, due: datetime) -> None:
    window = approvals.window(breach.approvals[0], requested_at=T0, regulatory_due=due)

    assert window == Window("legal", T0 + timedelta(minutes=7, seconds=30), T0 + timedelta(minutes=15), True)
