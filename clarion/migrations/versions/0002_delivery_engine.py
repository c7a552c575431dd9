"""Delivery engine: in-doubt attempts, provider statuses, webhook dedupe, and the banner.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

``delivery`` learns which audience a message went to, whether its last attempt may already have
reached the provider (``in_doubt``: ask before resending), how many resends were made blind
(``uncertain_sends``), and the provider's last status. ``provider_event`` remembers webhook events
already applied. ``banner`` holds the in-app message per incident, audience and locale.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.add_column(sa.Column("audience", sa.String(), nullable=True))
        batch.add_column(sa.Column("in_doubt", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("uncertain_sends", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("provider_status", sa.String(), nullable=True))
        batch.add_column(sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f("ix_delivery_state_claimed_at"), "delivery", ["state", "claimed_at"])

    op.create_table(
        "provider_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("event_key", sa.String(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"], ["delivery.id"], name=op.f("fk_provider_event_delivery_id_delivery")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_event")),
        sa.UniqueConstraint("provider", "event_key", name=op.f("uq_provider_event_provider_event_key")),
    )
    op.create_index(op.f("ix_provider_event_delivery_id"), "provider_event", ["delivery_id"])

    op.create_table(
        "banner",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("update_id", sa.Integer(), nullable=False),
        sa.Column("audience", sa.String(), nullable=False),
        sa.Column("locale", sa.String(), nullable=False),
        sa.Column("severity", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("link", sa.String(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incident.id"], name=op.f("fk_banner_incident_id_incident")
        ),
        sa.ForeignKeyConstraint(
            ["update_id"], ["incident_update.id"], name=op.f("fk_banner_update_id_incident_update")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_banner")),
        sa.UniqueConstraint(
            "incident_id", "audience", "locale", name=op.f("uq_banner_incident_id_audience_locale")
        ),
    )
    op.create_index(op.f("ix_banner_incident_id"), "banner", ["incident_id"])
    op.create_index(
        "ix_banner_showing",
        "banner",
        ["updated_at"],
        sqlite_where=sa.text("cleared_at IS NULL"),
        postgresql_where=sa.text("cleared_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("banner")
    op.drop_table("provider_event")
    op.drop_index(op.f("ix_delivery_state_claimed_at"), table_name="delivery")
    with op.batch_alter_table("delivery") as batch:
        for column in ("accepted_at", "provider_status", "uncertain_sends", "in_doubt", "audience"):
            batch.drop_column(column)
