"""Approvals: who must approve an update before it goes out, by when, and what they decided.

A playbook lists approval steps (a role, its approvers, a backup, a timeout, the update kinds it
applies to). Every decision is an :class:`~clarion.models.Approval` row and an audit-log entry. An
edit changes the draft, so it counts as its author's approval of the new text and voids the
approvals given before it: every other role must look again.

The time allowed is the step's timeout, but never beyond the earliest open regulatory deadline
less :data:`REGULATOR_MARGIN` (the notice still has to be sent after the approval); it is never
shorter than :data:`MIN_WINDOW`. Half-way through, an unanswered role escalates to its backup.

Who answered is **asserted, not verified**: ``clarion approve --by`` and the Prefect UI's form take
the address a person types, and anyone who types a listed approver's address passes the check. Until
answers carry a proof of identity, every decision's audit entry records ``"identity": "asserted"``
(its ``actor`` stays the plain address) and the timeline reads "approved by … (asserted)".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlmodel import Session, col, select

from clarion import audit
from clarion.kinds import ApprovalDecision, DeadlineState, UpdateKind
from clarion.models import Approval, Deadline, Incident, Update
from clarion.playbook import ApprovalStep, Playbook

ASSERTED = "asserted"
"""How an approver's identity is known today: they said so (``--by``, the UI form); nothing proves it."""
REGULATOR_MARGIN = timedelta(hours=2)
MIN_WINDOW = timedelta(minutes=15)


def required_steps(playbook: Playbook, kind: UpdateKind) -> list[ApprovalStep]:
    """The approval steps an update of ``kind`` needs (none for a holding statement by default)."""
    return [step for step in playbook.approvals if kind in step.required_for]


def decisions(*, session: Session, update_id: int) -> list[Approval]:
    statement = select(Approval).where(Approval.update_id == update_id).order_by(col(Approval.id))
    return list(session.exec(statement).all())


def pending_roles(*, session: Session, update: Update, playbook: Playbook) -> list[str]:
    """Roles whose approval of the current text is still missing (empty once it may go out)."""
    assert update.id is not None
    made = decisions(session=session, update_id=update.id)
    last_edit = max((i for i, d in enumerate(made) if d.decision is ApprovalDecision.EDITED), default=-1)
    given = {
        d.role
        for d in made[max(last_edit, 0) :]
        if d.decision in (ApprovalDecision.APPROVED, ApprovalDecision.EDITED)
    }
    return [s.role for s in required_steps(playbook, update.kind) if s.role not in given]


def rejection(*, session: Session, update_id: int) -> Approval | None:
    """The rejection that stopped this update, if any."""
    return next(
        (
            d
            for d in decisions(session=session, update_id=update_id)
            if d.decision is ApprovalDecision.REJECTED
        ),
        None,
    )


class Verdict(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    EDIT = "edit"
    REFUSED = "refused"
    """The answer cannot be taken: :attr:`Decision.problem` says why; the approval stays open."""


REASON_NEEDED = "a rejection needs a reason: say what must change"


@dataclass(frozen=True)
class Decision:
    """What one answer to a pending approval comes to."""

    verdict: Verdict
    role: str
    approver: str
    """As the playbook spells it (the answer may differ in case), or as given when refused."""
    reason: str = ""
    problem: str | None = None


def allowed(step: ApprovalStep) -> list[str]:
    """Who may answer for a step: its approvers, then its backup."""
    return [*step.approvers, *([step.backup] if step.backup else [])]


def as_listed(step: ApprovalStep, approver: str) -> str | None:
    """``approver`` as the step lists it (case aside), or None when the step does not list them."""
    wanted = approver.strip().casefold()
    return next((a for a in allowed(step) if a.casefold() == wanted), None)


def decide(
    playbook: Playbook,
    pending: Sequence[str],
    *,
    role: str,
    approver: str,
    approved: bool,
    reason: str = "",
    edited: bool = False,
) -> Decision:
    """The one place the rules of an answer live: the role must exist and still be pending, the
    approver must be listed for it (or be its backup), an edit counts as approving the new text, and
    a rejection needs a reason. Pure: nothing is read or written."""
    step = next((s for s in playbook.approvals if s.role == role), None)
    if step is None:
        known = ", ".join(s.role for s in playbook.approvals) or "none"
        problem = f"playbook {playbook.name} has no approval role {role!r} (roles: {known})"
        return Decision(Verdict.REFUSED, role, approver, problem=problem)
    if role not in pending:
        problem = f"{role} has already approved this draft" if pending else "no approval is pending"
        return Decision(Verdict.REFUSED, role, approver, problem=problem)
    listed = as_listed(step, approver)
    if listed is None:
        who = approver or "an unnamed approver"
        problem = f"{who} may not answer for {role} (allowed: {', '.join(allowed(step))})"
        return Decision(Verdict.REFUSED, role, approver, problem=problem)
    if edited:
        return Decision(Verdict.EDIT, role, listed, reason.strip())
    if approved:
        return Decision(Verdict.APPROVE, role, listed, reason.strip())
    if not reason.strip():
        return Decision(Verdict.REFUSED, role, listed, problem=REASON_NEEDED)
    return Decision(Verdict.REJECT, role, listed, reason.strip())


def check_answer(playbook: Playbook, pending: Sequence[str], role: str, approver: str) -> str | None:
    """Why this answer (an approval) cannot be accepted, or None when it can."""
    return decide(playbook, pending, role=role, approver=approver, approved=True).problem


def record_decision(
    *,
    session: Session,
    incident: Incident,
    update: Update,
    role: str,
    approver: str,
    decision: ApprovalDecision,
    reason: str | None = None,
) -> Approval:
    """Store one decision and write it to the audit log, in the caller's transaction.

    The audit entry's ``actor`` is ``approver`` as given and its details say ``"identity":
    "asserted"``: clarion was told who answered, it did not check.
    """
    assert update.id is not None
    row = Approval(
        update_id=update.id, role=role, approver=approver, decision=decision, reason=reason or None
    )
    session.add(row)
    audit.append(
        session=session,
        actor=approver,
        action=f"approval.{decision.value}",
        subject=f"{incident.reference}/update-{update.number}",
        details={
            "role": role,
            "reason": reason or None,
            "content_hash": update.content_hash,
            "identity": ASSERTED,
        },
    )
    session.flush()
    return row


def earliest_open_deadline(*, session: Session, incident_id: int) -> datetime | None:
    """The due time of the incident's earliest regulatory deadline still open or at risk."""
    statement = (
        select(Deadline.due_at)
        .where(Deadline.incident_id == incident_id)
        .where(col(Deadline.state).in_([DeadlineState.OPEN, DeadlineState.AT_RISK]))
        .order_by(col(Deadline.due_at))
        .limit(1)
    )
    return session.exec(statement).first()


@dataclass(frozen=True)
class Window:
    """When one role's approval escalates to its backup, and when the request expires."""

    role: str
    escalate_at: datetime
    expires_at: datetime
    capped_by_deadline: bool


def window(step: ApprovalStep, *, requested_at: datetime, regulatory_due: datetime | None) -> Window:
    """The time one role has to answer (see the module's docstring)."""
    expires = requested_at + step.timeout
    capped = False
    if regulatory_due is not None and regulatory_due - REGULATOR_MARGIN < expires:
        expires, capped = regulatory_due - REGULATOR_MARGIN, True
    expires = max(expires, requested_at + MIN_WINDOW)
    return Window(step.role, requested_at + (expires - requested_at) / 2, expires, capped)
