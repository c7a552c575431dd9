"""Follow-up surveys after resolution: invites (signed per recipient) and responses."""

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from clarion.kinds import Channel
from clarion.models.columns import HASH_LENGTH, UTCDateTime, UTCTimestamp, enum_column, json_column, utcnow

# ── surveys ───────────────────────────────────────────────────────────────────────────────────────


class SurveyInvite(SQLModel, table=True):
    __tablename__ = "survey_invite"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    recipient_id: int = Field(foreign_key="recipient.id", index=True)
    channel: Channel = Field(sa_type=enum_column(Channel))
    token_hash: str = Field(
        unique=True, max_length=HASH_LENGTH, description="Only a hash of the signed token."
    )
    sent_at: UTCTimestamp | None = Field(default=None, sa_type=UTCDateTime)
    expires_at: UTCTimestamp = Field(sa_type=UTCDateTime)
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
    tags: list[str] = Field(default_factory=list, sa_type=json_column())
    created_at: UTCTimestamp = Field(default_factory=utcnow, sa_type=UTCDateTime)
