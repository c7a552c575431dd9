"""Reaching a human: an answer that asks for a person opens a follow-up until someone closes it.

An answer asks for a person when its writer ticked the box, or when its free text asks for it (the
tagger's ``contact``, with the words that did it as the reason). :func:`open_followup` then records a
:class:`~clarion.models.SurveyFollowup` and stages a notice to the playbook's support contact
(``survey.support``; the incident's contact email when the playbook names none), in the caller's
transaction with the answer, so the team hears of every request exactly once. The notice names the
incident and the follow-up's number, not the person (:mod:`clarion.surveys.notices`).

``clarion followups [--open]`` lists them with their age (:func:`followups`); ``clarion followups done
ID --note …`` closes one (:func:`close_followup`), with an audit entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from clarion import audit
from clarion.errors import InputError, Problem
from clarion.kinds import Channel
from clarion.models import Incident, SurveyFollowup, SurveyInvite, SurveyResponse
from clarion.outbox.notices import RenderNotice, stage_notice
from clarion.playbook import SurveyPolicy
from clarion.surveys.notices import FOLLOWUP

MAX_NOTE = 2_000


def support_addresses(policy: SurveyPolicy, contact_email: str | None) -> list[tuple[Channel, str]]:
    """Where a request for a person is sent: the playbook's support contact, else the incident's email."""
    support = policy.support
    if support is None:
        return [(Channel.EMAIL, contact_email)] if contact_email else []
    found: list[tuple[Channel, str]] = []
    if support.email:
        found.append((Channel.EMAIL, support.email))
    if support.sms:
        found.append((Channel.SMS, support.sms))
    return found


def _reason(response: SurveyResponse) -> str:
    contact_cues = [c for c in response.cues if c.get("tag") == "contact"]
    if contact_cues:
        return "text: " + str(contact_cues[0].get("cue", ""))[:80]
    return "asked"


def open_followup(
    *,
    session: Session,
    incident: Incident,
    invite: SurveyInvite,
    response: SurveyResponse,
    support: list[tuple[Channel, str]],
    check: RenderNotice | None,
    now: datetime,
) -> SurveyFollowup | None:
    """Record the follow-up ``response`` asks for and tell support (flushed, not committed); None when
    the answer asks for nobody."""
    if not response.wants_contact:
        return None
    assert incident.id is not None and response.id is not None
    followup = SurveyFollowup(
        incident_id=incident.id,
        response_id=response.id,
        reason=_reason(response),
        channel=response.contact_channel or invite.channel.value,
        opened_at=now,
    )
    session.add(followup)
    session.flush()
    assert followup.id is not None
    for channel, address in support:
        stage_notice(
            session=session,
            kind=FOLLOWUP,
            channel=channel,
            locale="en",
            address=address,
            about=f"survey-followup:{followup.id}",
            params={"followup": followup.id, "reference": incident.reference, "channel": followup.channel},
            check=check,
        )
    audit.append(
        session=session,
        actor="clarion",
        action="survey.followup-opened",
        subject=f"{incident.reference}/followup-{followup.id}",
        details={"reason": followup.reason.split(":")[0], "told": [c.value for c, _ in support]},
    )
    return followup


@dataclass(frozen=True)
class FollowupRow:
    """A follow-up as the list shows it: who to contact how, and why."""

    id: int
    reference: str
    opened_at: datetime
    closed_at: datetime | None
    reason: str
    channel: str | None
    address: str | None
    informed: int
    trust: int
    text: str | None
    note: str | None


def followups(
    *, session: Session, only_open: bool = False, reference: str | None = None
) -> list[FollowupRow]:
    """Follow-ups, oldest first (open ones only with ``only_open``; one incident's with ``reference``)."""
    from clarion.models import Recipient

    statement = (
        select(SurveyFollowup, Incident.reference, SurveyResponse, Recipient)
        .join(Incident, col(Incident.id) == SurveyFollowup.incident_id)
        .join(SurveyResponse, col(SurveyResponse.id) == SurveyFollowup.response_id)
        .join(SurveyInvite, col(SurveyInvite.id) == SurveyResponse.invite_id)
        .join(Recipient, col(Recipient.id) == SurveyInvite.recipient_id)
        .order_by(col(SurveyFollowup.opened_at), col(SurveyFollowup.id))
    )
    if only_open:
        statement = statement.where(col(SurveyFollowup.closed_at).is_(None))
    if reference is not None:
        statement = statement.where(Incident.reference == reference)
    rows = []
    for followup, ref, response, recipient in session.exec(statement):
        assert followup.id is not None
        by_phone = followup.channel in ("sms", "phone")
        rows.append(
            FollowupRow(
                id=followup.id,
                reference=ref,
                opened_at=followup.opened_at,
                closed_at=followup.closed_at,
                reason=followup.reason,
                channel=followup.channel,
                address=(recipient.phone_e164 or recipient.email)
                if by_phone
                else (recipient.email or recipient.phone_e164),
                informed=response.informed_score,
                trust=response.trust_score,
                text=response.free_text,
                note=followup.note,
            )
        )
    return rows


def close_followup(
    *, session: Session, followup_id: int, note: str, by: str, now: datetime
) -> SurveyFollowup:
    """Close follow-up ``followup_id`` with what was done (flushed, not committed)."""
    note = note.strip()
    if not note or len(note) > MAX_NOTE:
        raise InputError([Problem("--note", None, "", f"say what was done, in 1 to {MAX_NOTE} characters")])
    followup = session.get(SurveyFollowup, followup_id)
    if followup is None:
        raise InputError([Problem("ID", None, "", f"there is no follow-up {followup_id}")])
    if followup.closed_at is not None:
        raise InputError(
            [
                Problem(
                    "ID",
                    None,
                    "",
                    f"follow-up {followup_id} was closed already, {followup.closed_at:%Y-%m-%d %H:%M} UTC",
                )
            ]
        )
    followup.closed_at, followup.closed_by, followup.note = now, by, note
    session.add(followup)
    session.flush()
    audit.append(
        session=session,
        actor=by,
        action="survey.followup-closed",
        subject=f"followup-{followup_id}",
        details={},
    )
    return followup
