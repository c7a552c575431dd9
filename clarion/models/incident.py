"""Incidents, their updates (the single source of truth of every message), renditions, approvals."""

from typing import Any

import sqlalchemy as sa
from pydantic import field_validator
from sqlmodel import Field, SQLModel

from clarion.kinds import ApprovalDecision, Channel, IncidentStatus, UpdateKind, UpdateState, check_time_zone
from clarion.models.columns import (
    HASH_LENGTH,
    LocalizedPart,
    UTCDateTime,
    UTCTimestamp,
    channel_column,
    enum_column,
    json_column,
    utcnow,
)

# ── incidents ─────────────────────────────────────────────────────────────────────────────────────


class IncidentBase(SQLModel):
    playbook: str
    severity: str
    title: str
    status: IncidentStatus = Field(default=IncidentStatus.INVESTIGATING, sa_type=enum_column(IncidentStatus))
    aware_at: UTCTimestamp = Field(
        sa_type=UTCDateTime, description="When we became aware: starts the clocks."
    )
    started_at: UTCTimestamp | None = Field(default=None, sa_type=UTCDateTime)
    commander: str | None = None
    public_time_zone: str = Field(default="UTC", description="IANA zone for broadcast channels.")

    @field_validator("public_time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return check_time_zone(value)


class IncidentCreate(IncidentBase):
    reference: str | None = Field(default=None, description='e.g. "INC-0042"; generated when left out.')


class Incident(IncidentBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(unique=True)
    declared_at: UTCTimestamp = Field(default_factory=utcnow, sa_type=UTCDateTime)
    resolved_at: UTCTimestamp | None = Field(default=None, sa_type=UTCDateTime)
    regimes: list[str] = Field(
        default_factory=list, sa_type=json_column(), description="Regulatory regimes whose clocks run."
    )
    clock_events: dict[str, str] = Field(
        default_factory=dict,
        sa_type=json_column(),
        description='Events that start clocks, as ISO times: {"materiality-determined": "…"}.',
    )
    declared_facts: dict[str, Any] | None = Field(
        default=None,
        sa_type=json_column(nullable=True),
        description="The facts given at declaration: a first update that failed is drafted again from them.",
    )


class IncidentPublic(IncidentBase):
    id: int
    reference: str
    declared_at: UTCTimestamp
    resolved_at: UTCTimestamp | None


# ── updates: the single source of truth of every message ─────────────────────────────────────────


class UpdateBase(SQLModel):
    kind: UpdateKind = Field(default=UpdateKind.UPDATE, sa_type=enum_column(UpdateKind))
    status: IncidentStatus = Field(sa_type=enum_column(IncidentStatus))
    apology: LocalizedPart = Field(sa_type=json_column(), min_length=1, description="Never empty.")
    cause: LocalizedPart | None = Field(default=None, sa_type=json_column(nullable=True))
    fix: LocalizedPart | None = Field(default=None, sa_type=json_column(nullable=True))
    prevention: LocalizedPart | None = Field(default=None, sa_type=json_column(nullable=True))
    facts: dict[str, Any] = Field(
        default_factory=dict, sa_type=json_column(), description="Impact, contact, links…"
    )
    next_update_by: UTCTimestamp = Field(sa_type=UTCDateTime, description="The promise every message makes.")
    supersedes_id: int | None = Field(
        default=None, foreign_key="incident_update.id", description="The update a correction replaces."
    )


class UpdateCreate(UpdateBase):
    pass


class Update(UpdateBase, table=True):
    __tablename__ = "incident_update"
    __table_args__ = (sa.UniqueConstraint("incident_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id")
    number: int
    state: UpdateState = Field(default=UpdateState.DRAFT, sa_type=enum_column(UpdateState))
    created_at: UTCTimestamp = Field(default_factory=utcnow, sa_type=UTCDateTime)
    published_at: UTCTimestamp | None = Field(default=None, sa_type=UTCDateTime)
    content_hash: str | None = Field(
        default=None, max_length=HASH_LENGTH, description="sha256 of the canonical content, set on publish."
    )


class UpdatePublic(UpdateBase):
    id: int
    incident_id: int
    number: int
    state: UpdateState
    created_at: UTCTimestamp
    published_at: UTCTimestamp | None
    content_hash: str | None


class Rendition(SQLModel, table=True):
    """One update rendered for one channel, locale and time zone (personal channels vary per recipient)."""

    __table_args__ = (sa.UniqueConstraint("update_id", "channel", "locale", "time_zone"),)

    id: int | None = Field(default=None, primary_key=True)
    update_id: int = Field(foreign_key="incident_update.id")
    channel: Channel = Field(sa_type=channel_column())
    locale: str
    time_zone: str
    subject: str | None = None
    body: str = Field(sa_type=sa.Text)
    html: str | None = Field(default=None, sa_type=sa.Text)
    length: int
    limit: int | None = None
    measure: str = Field(description='What "length" counts: "graphemes", "characters", "septets"…')
    sms_segments: int | None = None
    sms_encoding: str | None = None
    carried: dict[str, Any] = Field(
        default_factory=dict, sa_type=json_column(), description="Reference, status, next update (ISO), link."
    )
    thread: list[str] | None = Field(
        default=None,
        sa_type=json_column(nullable=True),
        description="Replies to the body, in order, when the channel posts the story as a thread.",
    )
    created_at: UTCTimestamp = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Approval(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    update_id: int = Field(foreign_key="incident_update.id", index=True)
    role: str
    approver: str
    decision: ApprovalDecision = Field(sa_type=enum_column(ApprovalDecision))
    reason: str | None = None
    decided_at: UTCTimestamp = Field(default_factory=utcnow, sa_type=UTCDateTime)
