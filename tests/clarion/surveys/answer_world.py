"""Surveys with known invitations, answers and follow-ups, written straight into a migrated store.

``SurveyRows(engine, incident)`` asks people and records what they answered, as the survey's run
and form would have left it, so the report, the privacy requests, the status page and the commands
can be checked figure by figure::

    rows = SurveyRows(engine, incident)
    rows.open_survey(invited=3)
    rows.ask("cust-1", email="ada@example.com")
    rows.answer("cust-1", informed=5, trust=4, text="Thanks!", tags=["appreciation"], polarity="positive")
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from clarion import store
from clarion.kinds import Channel, IncidentStatus
from clarion.models import (
    Incident,
    IncidentCreate,
    Recipient,
    Survey,
    SurveyFollowup,
    SurveyInvite,
    SurveyResponse,
)
from clarion.outbox.notices import stage_notice

T0 = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
CLOSES = timedelta(days=14)


def resolved_incident(
    engine: sa.Engine, *, title: str = "Checkout was failing", playbook: str = "outage", at: datetime = T0
) -> Incident:
    """A resolved incident (no update: the report and the privacy requests need none)."""
    with store.session_scope(engine) as session:
        incident = store.create_incident(
            session=session,
            incident_in=IncidentCreate(playbook=playbook, severity="sev2", title=title, aware_at=at),
        )
        incident.status, incident.resolved_at = IncidentStatus.RESOLVED, at + timedelta(hours=2)
        session.add(incident)
        session.flush()
        session.expunge(incident)
    return incident


@dataclass
class SurveyRows:
    engine: sa.Engine
    incident: Incident
    opened_at: datetime = T0 + timedelta(days=2)
    invites: dict[str, int] = field(default_factory=dict)
    """external id → invitation id."""
    responses: dict[str, int] = field(default_factory=dict)
    """external id → answer id."""

    @property
    def incident_id(self) -> int:
        assert self.incident.id is not None
        return self.incident.id

    def open_survey(self, *, invited: int) -> None:
        with store.session_scope(self.engine) as session:
            session.add(
                Survey(
                    incident_id=self.incident_id,
                    resolution=2,
                    opened_at=self.opened_at,
                    closes_at=self.opened_at + CLOSES,
                    invited=invited,
                )
            )

    def ask(
        self,
        name: str,
        *,
        channel: Channel = Channel.EMAIL,
        email: str | None = None,
        phone: str | None = None,
    ) -> int:
        """Invite ``name`` (a recipient made on first use) and stage the invitation's notice."""
        with store.session_scope(self.engine) as session:
            recipient = session.exec(select(Recipient).where(Recipient.external_id == name)).first()
            if recipient is None:
                recipient = Recipient(external_id=name, email=email, phone_e164=phone)
                session.add(recipient)
                session.flush()
            assert recipient.id is not None and self.incident.id is not None
            invite = SurveyInvite(
                incident_id=self.incident.id,
                recipient_id=recipient.id,
                channel=channel,
                token_hash=hashlib.sha256(f"{self.incident.id}/{name}".encode()).hexdigest(),
                sent_at=self.opened_at,
                expires_at=self.opened_at + CLOSES,
            )
            session.add(invite)
            session.flush()
            assert invite.id is not None
            address = (
                (email or recipient.email) if channel is Channel.EMAIL else (phone or recipient.phone_e164)
            )
            stage_notice(
                session=session,
                kind="survey-invite",
                channel=channel,
                locale="en",
                address=address or "nobody@example.com",
                about=f"survey-invite:{invite.id}",
                params={
                    "invite": invite.id,
                    "reference": self.incident.reference,
                    "title": self.incident.title,
                },
            )
            self.invites[name] = invite.id
            return invite.id

    def answer(
        self,
        name: str,
        *,
        informed: int,
        trust: int,
        nps: int | None = None,
        text: str | None = None,
        tags: Sequence[str] = (),
        polarity: str | None = None,
        quote: bool = False,
        contact: bool = False,
        after: timedelta = timedelta(hours=1),
    ) -> int:
        """What ``name`` answered, ``after`` the survey opened (asked first when not yet)."""
        if name not in self.invites:
            self.ask(name, email=f"{name}@example.com")
        at = self.opened_at + after
        with store.session_scope(self.engine) as session:
            invite = session.get(SurveyInvite, self.invites[name])
            assert invite is not None and invite.id is not None
            invite.responded_at = at
            response = SurveyResponse(
                invite_id=invite.id,
                informed_score=informed,
                trust_score=trust,
                nps=nps,
                free_text=text,
                tags=list(tags),
                polarity=polarity,
                cues=[{"tag": t, "cue": (text or "")[:5], "start": 0, "end": 5} for t in tags],
                wants_contact=contact,
                contact_channel="phone" if contact else None,
                quote_allowed=quote,
                created_at=at,
            )
            session.add_all([invite, response])
            session.flush()
            assert response.id is not None
            self.responses[name] = response.id
            return response.id

    def followup(self, name: str, *, closed_note: str | None = None) -> int:
        """A follow-up of ``name``'s answer; closed with ``closed_note`` when given."""
        with store.session_scope(self.engine) as session:
            followup = SurveyFollowup(
                incident_id=self.incident_id,
                response_id=self.responses[name],
                reason="asked",
                channel="phone",
                opened_at=self.opened_at + timedelta(hours=2),
                closed_at=self.opened_at + timedelta(days=1) if closed_note else None,
                closed_by="sam@acme.example" if closed_note else None,
                note=closed_note,
            )
            session.add(followup)
            session.flush()
            assert followup.id is not None
            return followup.id

    def mark_purged(self, name: str, at: datetime, *, keep_text: bool = False) -> None:
        """As the retention purge leaves an answer (``keep_text``: a row the purge half-did)."""
        with Session(self.engine) as session:
            response = session.get(SurveyResponse, self.responses[name])
            assert response is not None
            response.purged_at = at
            if not keep_text:
                response.free_text, response.cues, response.quote_allowed = None, [], False
            session.add(response)
            session.commit()
