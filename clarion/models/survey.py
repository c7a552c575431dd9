"""Follow-up surveys after resolution: one survey per incident, its invitations, answers and follow-ups.

A :class:`Survey` is opened once per incident (UNIQUE ``incident_id``) when its ``send-survey`` run
first invites; a second run finds it and invites nobody twice (UNIQUE ``incident_id, recipient_id``
on :class:`SurveyInvite`). An invitation's link is signed per invitation and only its SHA-256 is
stored. An answer (:class:`SurveyResponse`) is recorded once per invitation (UNIQUE ``invite_id``,
and ``responded_at`` set by an UPDATE guarded by ``responded_at IS NULL``). An answer that asks for
a person opens a :class:`SurveyFollowup`. Free text is personal data: the retention purge clears it
(``purged_at``) and keeps the scores and the signals, which identify nobody.
"""

from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from clarion.kinds import Channel
from clarion.models.columns import (
    HASH_LENGTH,
    UTCDateTime,
    UTCTimestamp,
    channel_column,
    json_column,
    utcnow,
)

# ── surveys ───────────────────────────────────────────────────────────────────────────────────────


class Survey(SQLModel, table=True):
    """An incident's survey: when it was sent, when it closes, whether the reminder went out."""

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", unique=True)
    resolution: int = Field(description="The number of the resolving update it follows.")
    opened_at: UTCTimestamp = Field(default_factory=utcnow, sa_type=UTCDateTime)
    closes_at: UTCTimestamp = Field(sa_type=UTCDateTime, description="When its links expire.")
    invited: int = Field(default=0, description="Invitations staged.")
    reminded_at: UTCTimestamp | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: UTCTimestamp | None = Field(default=None, sa_type=UTCDateTime)


class SurveyInvite(SQLModel, table=True):
    __tablename__ = "survey_invite"
    __table_args__ = (sa.UniqueConstraint("incident_id", "recipient_id"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    recipient_id: int = Field(foreign_key="recipient.id", index=True)
    channel: Channel = Field(sa_type=channel_column())
    locale: str = Field(default="en", description="The language of the invitation and of the page.")
    token_hash: str = Field(
        unique=True, max_length=HASH_LENGTH, description="Only a hash of the signed token."
    )
    sent_at: UTCTimestamp | None = Field(
        default=None, sa_type=UTCDateTime, description="When the invitation was staged in the outbox."
    )
    expires_at: UTCTimestamp = Field(sa_type=UTCDateTime)
    reminded_at: UTCTimestamp | None = Field(default=None, sa_type=UTCDateTime)
    responded_at: UTCTimestamp | None = Field(default=None, sa_type=UTCDateTime)


class SurveyResponse(SQLModel, table=True):
    __tablename__ = "survey_response"
    __table_args__ = (
        sa.CheckConstraint("informed_score BETWEEN 1 AND 5", name="informed_score_range"),
        sa.CheckConstraint("trust_score BETWEEN 1 AND 5", name="trust_score_range"),
        sa.CheckConstraint("nps IS NULL OR nps BETWEEN 0 AND 10", name="nps_range"),
    )

    id: int | None = Field(default=None, primary_key=True)
    invite_id: int = Field(foreign_key="survey_invite.id", unique=True)
    informed_score: int = Field(ge=1, le=5, description="How well were you kept informed (1–5).")
    trust_score: int = Field(ge=1, le=5, description="Do you trust us to handle this (1–5).")
    nps: int | None = Field(default=None, ge=0, le=10)
    free_text: str | None = Field(default=None, sa_type=sa.Text)
    tags: list[str] = Field(
        default_factory=list, sa_type=json_column(), description="The trust signals found in the free text."
    )
    polarity: str | None = Field(default=None, description="positive, negative, mixed or neutral.")
    cues: list[dict[str, Any]] = Field(
        default_factory=list, sa_type=json_column(), description="What produced each tag (words of the text)."
    )
    wants_contact: bool = Field(default=False, description="Asked for a person (the box, or the text).")
    contact_channel: str | None = Field(default=None, description="How they would like to be contacted.")
    quote_allowed: bool = Field(default=False, description="The writer allowed quoting the text in reports.")
    locale: str = "en"
    purged_at: UTCTimestamp | None = Field(
        default=None, sa_type=UTCDateTime, description="When the free text was removed (retention)."
    )
    created_at: UTCTimestamp = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SurveyFollowup(SQLModel, table=True):
    """A person asked for a person: open until someone from support says it is done."""

    __tablename__ = "survey_followup"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    response_id: int = Field(foreign_key="survey_response.id", unique=True)
    reason: str = Field(description='"asked" (the box), or "text: <cue>" when the free text asked.')
    channel: str | None = Field(default=None, description="The channel they prefer.")
    opened_at: UTCTimestamp = Field(default_factory=utcnow, sa_type=UTCDateTime)
    closed_at: UTCTimestamp | None = Field(default=None, sa_type=UTCDateTime)
    closed_by: str | None = None
    note: str | None = Field(default=None, sa_type=sa.Text)
