"""The store's tables: one SQLModel family per entity (``XBase / XCreate / X(table=True) / XPublic``).

Conventions every table follows:

* **Time** is a :class:`UTCDateTime` column: aware datetimes in, aware UTC datetimes out, on SQLite
  (which has no time zones) as on PostgreSQL (``timestamptz``). A naive datetime is refused. Fields
  are :data:`UTCTimestamp`, so validated input is already in UTC before it reaches the database.
* **Closed vocabularies** (the StrEnums of :mod:`clarion.kinds`) are stored as their *values* in a
  ``VARCHAR(32)``: no native PostgreSQL enum and no CHECK constraint, so a new member needs no migration.
  SQLAlchemy validates on the way in (an unknown string raises ``LookupError``) and returns members.
* **Structured content** (the four parts of an update, facts, carried facts, audit details) is ``JSON``
  (not JSONB: PostgreSQL keeps the text as written). Nullable JSON columns store Python ``None`` as SQL
  ``NULL`` ("not known yet"), never as the JSON literal ``null``.
* **Constraint names** follow :data:`NAMING_CONVENTION`, so migrations can name what they alter.
* There are no ORM relationships yet: store functions query explicitly.

This module deliberately has no ``from __future__ import annotations``: SQLModel resolves
``Relationship`` annotations such as ``list["Update"]`` at class creation and fails on postponed
(string) annotations, so adding a relationship later would break in a confusing way.
"""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import AfterValidator, AwareDatetime, field_validator
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

from clarion.kinds import (
    ApprovalDecision,
    Channel,
    ConsentState,
    DeadlineState,
    DeliveryState,
    IncidentStatus,
    UpdateKind,
    UpdateState,
    check_time_zone,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION

ENUM_LENGTH = 32
HASH_LENGTH = 64  # hex sha256

LocalizedPart = dict[str, dict[str, str | None]]
"""One of the four parts of an update: ``{locale: {"text": str | None, "short": str | None}}``."""


def utcnow() -> datetime:
    """Now, aware, in UTC: the default of every timestamp column."""
    return datetime.now(UTC)


UTCTimestamp = Annotated[AwareDatetime, AfterValidator(lambda value: value.astimezone(UTC))]
"""An aware datetime, converted to UTC when validated (``XCreate`` and ``X.model_validate``)."""


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """An aware timestamp: stored in UTC, always read back as an aware UTC datetime.

    SQLite keeps no offset, so the value is converted to UTC before it is written and marked UTC when
    it is read. A naive datetime is ambiguous (whose wall clock?) and is refused with ``ValueError``.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected an aware datetime, got {type(value).__name__}: {value!r}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"naive datetime {value.isoformat()} refused: give it a time zone, e.g. datetime.now(UTC)"
            )
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _enum(kind: type[StrEnum]) -> sa.Enum:
    return sa.Enum(
        kind,
        native_enum=False,
        create_constraint=False,
        length=ENUM_LENGTH,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


def _json(*, nullable: bool = False) -> sa.JSON:
    return sa.JSON(none_as_null=nullable)


# ── incidents ─────────────────────────────────────────────────────────────────────────────────────


class IncidentBase(SQLModel):
    playbook: str
    severity: str
    title: str
    status: IncidentStatus = Field(default=IncidentStatus.INVESTIGATING, sa_type=_enum(IncidentStatus))
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


class IncidentPublic(IncidentBase):
    id: int
    reference: str
    declared_at: UTCTimestamp
    resolved_at: UTCTimestamp | None


# ── updates: the single source of truth of every message ─────────────────────────────────────────


class UpdateBase(SQLModel):
    kind: UpdateKind = Field(default=UpdateKind.UPDATE, sa_type=_enum(UpdateKind))
    status: IncidentStatus = Field(sa_type=_enum(IncidentStatus))
    apology: LocalizedPart = Field(sa_type=_json(), min_length=1, description="Never empty.")
    cause: LocalizedPart | None = Field(default=None, sa_type=_json(nullable=True))
    fix: LocalizedPart | None = Field(default=None, sa_type=_json(nullable=True))
    prevention: LocalizedPart | None = Field(default=None, sa_type=_json(nullable=True))
    facts: dict[str, Any] = Field(
        default_factory=dict, sa_type=_json(), description="Impact, contact, links…"
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
    state: UpdateState = Field(default=UpdateState.DRAFT, sa_type=_enum(UpdateState))
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
    channel: Channel = Field(sa_type=_enum(Channel))
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
        default_factory=dict, sa_type=_json(), description="Reference, status, next update (ISO), link."
    )
    created_at: UTCTimestamp = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Approval(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    update_id: int = Field(foreign_key="incident_update.id", index=True)
    role: str
    approver: str
    decision: ApprovalDecision = Field(sa_type=_enum(ApprovalDecision))
    reason: str | None = None
    decided_at: UTCTimestamp = Field(default_factory=utcnow, sa_type=UTCDateTime)


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
    channel: Channel = Field(sa_type=_enum(Channel))
    state: ConsentState = Field(sa_type=_enum(ConsentState))
    changed_at: UTCTimestamp = Field(default_factory=utcnow, sa_type=UTCDateTime)
    source: str = Field(description='"import", "sms-stop", "unsubscribe"…')


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
    channel: Channel = Field(sa_type=_enum(Channel))
    idempotency_key: str = Field(unique=True)
    state: DeliveryState = Field(default=DeliveryState.PENDING, sa_type=_enum(DeliveryState))
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
    state: DeadlineState = Field(default=DeadlineState.OPEN, sa_type=_enum(DeadlineState))
    met_at: UTCTimestamp | None = Field(default=None, sa_type=UTCDateTime)
    submitted_by: str | None = None
    submission_reference: str | None = None
    chained_from_id: int | None = Field(default=None, foreign_key="deadline.id")
    last_threshold: int = Field(default=0, description="Highest escalation threshold notified, in percent.")
    override_reason: str | None = None


# ── surveys ───────────────────────────────────────────────────────────────────────────────────────


class SurveyInvite(SQLModel, table=True):
    __tablename__ = "survey_invite"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    recipient_id: int = Field(foreign_key="recipient.id", index=True)
    channel: Channel = Field(sa_type=_enum(Channel))
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
    tags: list[str] = Field(default_factory=list, sa_type=_json())
    created_at: UTCTimestamp = Field(default_factory=utcnow, sa_type=UTCDateTime)


# ── audit: append-only, hash-chained (see clarion.audit) ─────────────────────────────────────────


class AuditEvent(SQLModel, table=True):
    """One line of the audit log. ``id`` is the chain order; UPDATE and DELETE are refused by triggers."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: UTCTimestamp = Field(sa_type=UTCDateTime)
    actor: str
    action: str = Field(description='e.g. "update.approved"')
    subject: str = Field(index=True, description='e.g. "INC-0042/update/3"')
    details: dict[str, Any] = Field(default_factory=dict, sa_type=_json())
    prev_hash: str = Field(unique=True, max_length=HASH_LENGTH, description="UNIQUE: the chain cannot fork.")
    hash: str = Field(unique=True, max_length=HASH_LENGTH)
