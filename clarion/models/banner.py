"""The in-app banner: the message an audience's apps show while an incident is open."""

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from clarion.models.columns import UTCDateTime, UTCTimestamp, utcnow

# ── banner: one active message per incident, audience and locale ──────────────────────────────────


class Banner(SQLModel, table=True):
    """Published by the banner channel; each publish bumps ``revision`` so clients re-show it."""

    __table_args__ = (
        sa.UniqueConstraint("incident_id", "audience", "locale"),
        # The feed asks only for banners still showing; cleared ones pile up and must not be scanned.
        sa.Index(
            "ix_banner_showing",
            "updated_at",
            sqlite_where=sa.text("cleared_at IS NULL"),
            postgresql_where=sa.text("cleared_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    update_id: int = Field(foreign_key="incident_update.id")
    audience: str
    locale: str
    severity: str
    status: str = Field(description="The incident status the banner told.")
    text: str = Field(sa_type=sa.Text)
    link: str | None = None
    revision: int = 1
    starts_at: UTCTimestamp = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: UTCTimestamp | None = Field(default=None, sa_type=UTCDateTime)
    cleared_at: UTCTimestamp | None = Field(
        default=None, sa_type=UTCDateTime, description="Set when the incident resolves."
    )
    updated_at: UTCTimestamp = Field(default_factory=utcnow, sa_type=UTCDateTime)
