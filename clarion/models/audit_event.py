"""The audit log's rows; the chain itself is kept by :mod:`clarion.audit`."""

from typing import Any

from sqlmodel import Field, SQLModel

from clarion.models.columns import HASH_LENGTH, UTCDateTime, UTCTimestamp, json_column

# ── audit: append-only, hash-chained (see clarion.audit) ─────────────────────────────────────────


class AuditEvent(SQLModel, table=True):
    """One line of the audit log. ``id`` is the chain order; UPDATE and DELETE are refused by triggers."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: UTCTimestamp = Field(sa_type=UTCDateTime)
    actor: str
    action: str = Field(description='e.g. "update.approved"')
    subject: str = Field(index=True, description='e.g. "INC-0042/update/3"')
    details: dict[str, Any] = Field(default_factory=dict, sa_type=json_column())
    prev_hash: str = Field(unique=True, max_length=HASH_LENGTH, description="UNIQUE: the chain cannot fork.")
    hash: str = Field(unique=True, max_length=HASH_LENGTH)
