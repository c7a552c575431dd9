"""What surveys keep about people, for how long, and a person's requests to see it or have it erased.

**Retention.** Free text is personal data: people write names, order numbers, what happened to them.
:func:`purge_expired` clears it once an answer is older than its incident's playbook's
``survey.retention``: the text, the cues (words of the text) and the permission to quote go, and so
does the note of a closed follow-up of a purged answer (what support wrote about the person). The
scores, the signals and the polarity stay: they identify nobody, and the report's figures and the
status page's ratio do not move. A purge that runs again purges nothing twice.

**Access.** :func:`export_recipient` gathers everything surveys hold about one recipient, as JSON.

**Erasure.** :func:`forget_recipient` deletes their invitations, answers and follow-ups. The outbox
keeps its rows, as the ledger of what was sent when, but the survey notices addressed to them lose
the address and the values their templates needed (a pending one is suppressed: it can no longer be
sent), and a provider's error text, which may quote the address, goes too. The survey's count of
invitations stays: it is history, and the report's response rate stays honest.

Every purge and every erasure leaves one audit entry with counts only, never an address or a text.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from clarion import audit
from clarion.errors import InputError, Problem
from clarion.kinds import DeliveryState
from clarion.models import (
    Delivery,
    Incident,
    Notice,
    Recipient,
    SurveyFollowup,
    SurveyInvite,
    SurveyResponse,
)

ERASED = "erased"
"""What an erased notice's address reads."""
_INVITE_ABOUT = "survey-invite:"


def purge_expired(*, session: Session, now: datetime, retention_for: Callable[[str], timedelta]) -> int:
    """Clear the free text of every answer older than its playbook's retention (flushed, not
    committed); returns how many answers were purged now."""
    playbooks = session.exec(
        select(Incident.playbook)
        .join(SurveyInvite, col(SurveyInvite.incident_id) == Incident.id)
        .join(SurveyResponse, col(SurveyResponse.invite_id) == SurveyInvite.id)
        .where(col(SurveyResponse.purged_at).is_(None))
        .distinct()
    ).all()
    purged = 0
    for playbook in sorted(playbooks):
        of_playbook = (
            select(SurveyInvite.id)
            .join(Incident, col(Incident.id) == SurveyInvite.incident_id)
            .where(Incident.playbook == playbook)
        )
        done = session.exec(
            sa.update(SurveyResponse)
            .where(
                col(SurveyResponse.purged_at).is_(None),
                col(SurveyResponse.created_at) < now - retention_for(playbook),
                col(SurveyResponse.invite_id).in_(of_playbook),
            )
            .values(free_text=None, cues=[], quote_allowed=False, purged_at=now)
            .execution_options(synchronize_session="fetch")
        )
        purged += done.rowcount
    notes = session.exec(
        sa.update(SurveyFollowup)
        .where(
            col(SurveyFollowup.closed_at).is_not(None),
            col(SurveyFollowup.note).is_not(None),
            col(SurveyFollowup.response_id).in_(
                select(SurveyResponse.id).where(col(SurveyResponse.purged_at).is_not(None))
            ),
        )
        .values(note=None)
        .execution_options(synchronize_session="fetch")
    )
    session.flush()
    audit.append(
        session=session,
        actor="clarion",
        action="survey.purged",
        subject="surveys",
        details={"answers": purged, "notes": notes.rowcount},
    )
    return purged


def _recipient(session: Session, external_id: str) -> Recipient:
    recipient = session.exec(select(Recipient).where(Recipient.external_id == external_id)).first()
    if recipient is None:
        raise InputError([Problem("ID", None, "", f"no recipient {external_id!r}")])
    return recipient


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def export_recipient(*, session: Session, external_id: str) -> dict[str, Any]:
    """Everything surveys hold about the recipient ``external_id`` (an access request), JSON-ready."""
    recipient = _recipient(session, external_id)
    rows = session.exec(
        select(SurveyInvite, Incident.reference)
        .join(Incident, col(Incident.id) == SurveyInvite.incident_id)
        .where(SurveyInvite.recipient_id == recipient.id)
        .order_by(col(SurveyInvite.id))
    ).all()
    invites = {invite.id: reference for invite, reference in rows}
    responses = session.exec(
        select(SurveyResponse)
        .where(col(SurveyResponse.invite_id).in_(list(invites)))
        .order_by(col(SurveyResponse.id))
    ).all()
    followups = session.exec(
        select(SurveyFollowup)
        .where(col(SurveyFollowup.response_id).in_([r.id for r in responses]))
        .order_by(col(SurveyFollowup.id))
    ).all()
    notices = session.exec(
        select(Notice, Delivery.state)
        .join(Delivery, col(Delivery.notice_id) == Notice.id, isouter=True)
        .where(col(Notice.about).in_([f"{_INVITE_ABOUT}{i}" for i in invites]))
        .order_by(col(Notice.id))
    ).all()
    about_invite = {r.id: invites[r.invite_id] for r in responses}
    return {
        "recipient": {"id": recipient.id, "external_id": recipient.external_id},
        "invitations": [
            {
                "incident": reference,
                "channel": invite.channel.value,
                "locale": invite.locale,
                "sent_at": _iso(invite.sent_at),
                "expires_at": _iso(invite.expires_at),
                "reminded_at": _iso(invite.reminded_at),
                "responded_at": _iso(invite.responded_at),
            }
            for invite, reference in rows
        ],
        "answers": [
            {
                "incident": about_invite[r.id],
                "informed": r.informed_score,
                "trust": r.trust_score,
                "nps": r.nps,
                "text": r.free_text,
                "signals": list(r.tags),
                "polarity": r.polarity,
                "cues": list(r.cues),
                "wants_contact": r.wants_contact,
                "contact_channel": r.contact_channel,
                "quote_allowed": r.quote_allowed,
                "locale": r.locale,
                "created_at": _iso(r.created_at),
                "text_purged_at": _iso(r.purged_at),
            }
            for r in responses
        ],
        "followups": [
            {
                "incident": about_invite[f.response_id],
                "reason": f.reason,
                "channel": f.channel,
                "opened_at": _iso(f.opened_at),
                "closed_at": _iso(f.closed_at),
                "closed_by": f.closed_by,
                "note": f.note,
            }
            for f in followups
        ],
        "notices": [
            {
                "incident": invites[int(notice.about.removeprefix(_INVITE_ABOUT))],
                "kind": notice.kind,
                "channel": notice.channel.value,
                "address": notice.address,
                "created_at": _iso(notice.created_at),
                "delivery": str(state) if state is not None else None,
            }
            for notice, state in notices
        ],
    }


def forget_recipient(
    *, session: Session, external_id: str, now: datetime, by: str = "clarion"
) -> dict[str, int]:
    """Erase what surveys hold about the recipient ``external_id`` (flushed, not committed); returns
    how many rows of each kind were deleted or scrubbed."""
    recipient = _recipient(session, external_id)
    invites = list(session.exec(select(SurveyInvite.id).where(SurveyInvite.recipient_id == recipient.id)))
    responses = list(
        session.exec(select(SurveyResponse.id).where(col(SurveyResponse.invite_id).in_(invites)))
    )
    notices = list(
        session.exec(select(Notice.id).where(col(Notice.about).in_([f"{_INVITE_ABOUT}{i}" for i in invites])))
    )
    deliveries = col(Delivery.notice_id).in_(notices)
    suppressed = session.exec(
        sa.update(Delivery)
        .where(deliveries, col(Delivery.state) == DeliveryState.PENDING)
        .values(state=DeliveryState.SUPPRESSED, error_code=ERASED, next_attempt_at=None, updated_at=now)
        .execution_options(synchronize_session="fetch")
    ).rowcount
    session.exec(
        sa.update(Delivery)
        .where(deliveries, col(Delivery.error_detail).is_not(None))
        .values(error_detail=None)
        .execution_options(synchronize_session="fetch")
    )
    scrubbed = session.exec(
        sa.update(Notice)
        .where(col(Notice.id).in_(notices))
        .values(address=ERASED, params={})
        .execution_options(synchronize_session="fetch")
    ).rowcount
    counts = {
        "followups": _delete(session, SurveyFollowup, col(SurveyFollowup.response_id).in_(responses)),
        "answers": _delete(session, SurveyResponse, col(SurveyResponse.id).in_(responses)),
        "invitations": _delete(session, SurveyInvite, col(SurveyInvite.id).in_(invites)),
        "notices": scrubbed,
        "suppressed": suppressed,
    }
    session.flush()
    audit.append(
        session=session,
        actor=by,
        action="survey.recipient-erased",
        subject=f"recipient:{recipient.id}",
        details=dict(counts),
    )
    return counts


def _delete(session: Session, model: type[Any], where: sa.ColumnElement[bool]) -> int:
    done = session.exec(sa.delete(model).where(where).execution_options(synchronize_session="fetch"))
    return int(done.rowcount)
