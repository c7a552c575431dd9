"""Regulatory deadlines started from an incident's awareness time."""

from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from clarion.kinds import DeadlineState
from clarion.models.columns import UTCDateTime, UTCTimestamp, enum_column, json_column

# ── regulatory deadlines ──────────────────────────────────────────────────────────────────────────


class Deadline(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("incident_id", "regime", "stage"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id")
    regime: str = Field(description='e.g. "gdpr-art33"')
    stage: str
    recipient: str = Field(description="The authority to notify.")
    starts_at: UTCTimestamp = Field(sa_type=UTCDateTime)
    due_at: UTCTimestamp = Field(sa_type=UTCDateTime)
    state: DeadlineState = Field(default=DeadlineState.OPEN, sa_type=enum_column(DeadlineState))
    met_at: UTCTimestamp | None = Field(default=None, sa_type=UTCDateTime)
    submitted_by: str | None = None
    submission_reference: str | None = None
    chained_from_id: int | None = Field(default=None, foreign_key="deadline.id")
    last_threshold: int = Field(default=0, description="Highest escalation threshold notified, in percent.")
    override_reason: str | None = None
    submissions: list[dict[str, Any]] = Field(
        default_factory=list,
        sa_type=json_column(),
        description='Every submission of the notice, oldest first: {"at", "by", "reference"}.',
    )
    delay_reason: str | None = Field(default=None, description="Why a late notice was late.")
    computed_due_at: UTCTimestamp | None = Field(
        default=None, sa_type=UTCDateTime, description="The regime's due time, kept when overridden."
    )
    regime_version: int = Field(default=1, description="Version of the regime data the clock came from.")
