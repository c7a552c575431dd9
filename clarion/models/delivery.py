"""The outbox: one Delivery row per intended message, written before any network call."""

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from clarion.kinds import Channel, DeliveryState
from clarion.models.columns import UTCDateTime, UTCTimestamp, enum_column, utcnow

# ── delivery: the outbox ──────────────────────────────────────────────────────────────────────────


class Delivery(SQLModel, table=True):
    """One intended message, written before any network call; workers claim, send and record."""

    __table_args__ = (
        sa.Index(None, "state", "next_attempt_at"),
        sa.Index(None, "channel", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    update_id: int = Field(foreign_key="incident_update.id", index=True)
    rendition_id: int | None = Field(default=None, foreign_key="rendition.id")
    recipient_id: int | None = Field(
        default=None, foreign_key="recipient.id", description="None on broadcast channels."
    )
    channel: Channel = Field(sa_type=enum_column(Channel))
    idempotency_key: str = Field(unique=True)
    state: DeliveryState = Field(default=DeliveryState.PENDING, sa_type=enum_column(DeliveryState))
    attempts: int = 0
    claimed_by: str | None = None
    claimed_at: UTCTimestamp | None = Field(default=None, sa_type=UTCDateTime)
    next_attempt_at: UTCTimestamp | None = Field(default=None, sa_type=UTCDateTime)
    provider_id: str | None = Field(default=None, index=True)
    error_code: str | None = None
    error_detail: str | None = Field(default=None, sa_type=sa.Text)
    mandatory_reason: str | None = Field(default=None, description="Why an unsubscribe was bypassed.")
    created_at: UTCTimestamp = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: UTCTimestamp = Field(
        default_factory=utcnow, sa_type=UTCDateTime, sa_column_kwargs={"onupdate": utcnow}
    )
