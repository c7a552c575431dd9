"""Recipients, audience membership and per-channel consent."""

import sqlalchemy as sa
from pydantic import field_validator
from sqlmodel import Field, SQLModel

from clarion.kinds import Channel, ConsentState, check_time_zone
from clarion.models.columns import UTCDateTime, UTCTimestamp, channel_column, enum_column, utcnow

# ── audiences ─────────────────────────────────────────────────────────────────────────────────────


class RecipientBase(SQLModel):
    external_id: str = Field(unique=True, description="The customer's id in the source system.")
    email: str | None = None
    phone_e164: str | None = None
    locale: str = "en"
    time_zone: str | None = Field(default=None, description="IANA zone; the incident's when unknown.")

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return None if value is None else check_time_zone(value)

    @field_validator("phone_e164")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        if value is not None and not (
            value.startswith("+") and value[1:].isdigit() and 2 <= len(value) <= 16
        ):
            raise ValueError(f"not an E.164 number (+ and up to 15 digits): {value!r}")
        return value


class RecipientCreate(RecipientBase):
    pass


class Recipient(RecipientBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    created_at: UTCTimestamp = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AudienceMembership(SQLModel, table=True):
    __tablename__ = "audience_membership"
    __table_args__ = (sa.UniqueConstraint("audience", "recipient_id"),)

    id: int | None = Field(default=None, primary_key=True)
    audience: str
    recipient_id: int = Field(foreign_key="recipient.id", index=True)


class ChannelConsent(SQLModel, table=True):
    __tablename__ = "channel_consent"
    __table_args__ = (sa.UniqueConstraint("recipient_id", "channel"),)

    id: int | None = Field(default=None, primary_key=True)
    recipient_id: int = Field(foreign_key="recipient.id")
    channel: Channel = Field(sa_type=channel_column())
    state: ConsentState = Field(sa_type=enum_column(ConsentState))
    changed_at: UTCTimestamp = Field(default_factory=utcnow, sa_type=UTCDateTime)
    source: str = Field(description='"import", "sms-stop", "unsubscribe"…')
