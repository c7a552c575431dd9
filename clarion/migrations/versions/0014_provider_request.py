"""The ledger by provider request: one row per SendGrid request, claimed and recorded as a unit.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

``provider_request``: a request of up to 1000 recipients of one rendition, formed when the audience
is staged (see :mod:`clarion.outbox.requests`). ``delivery.request_id`` names the request a row goes
out in; such a row is claimed, sent and recorded with its request, never alone, so the two claim
indexes of pending rows now hold only the rows claimed one by one (``request_id IS NULL``). Rows
staged before this revision have no request and go out as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PENDING = "state = 'pending'"
_ALONE = "state = 'pending' AND request_id IS NULL"


def upgrade() -> None:
    op.create_table(
        "provider_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("update_id", sa.Integer(), nullable=False),
        sa.Column("rendition_id", sa.Integer(), nullable=False),
        sa.Column("audience", sa.String(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("in_doubt", sa.Boolean(), nullable=False),
        sa.Column("uncertain_sends", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("provider_id", sa.String(), nullable=True),
        sa.Column("error_detail", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["update_id"], ["incident_update.id"], name=op.f("fk_provider_request_update_id_incident_update")
        ),
        sa.ForeignKeyConstraint(
            ["rendition_id"], ["rendition.id"], name=op.f("fk_provider_request_rendition_id_rendition")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_request")),
    )
    op.create_index(op.f("ix_provider_request_update_id"), "provider_request", ["update_id"])
    op.create_index(
        "ix_provider_request_due",
        "provider_request",
        ["channel", "next_attempt_at", "id"],
        sqlite_where=sa.text(_PENDING),
        postgresql_where=sa.text(_PENDING),
    )
    op.create_index(
        "ix_provider_request_claimed",
        "provider_request",
        ["claimed_at"],
        sqlite_where=sa.text("state = 'claimed'"),
        postgresql_where=sa.text("state = 'claimed'"),
    )
    with op.batch_alter_table("delivery") as batch:
        batch.add_column(sa.Column("request_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_delivery_request_id_provider_request"), "provider_request", ["request_id"], ["id"]
        )
    _claim_indexes(_ALONE)
    op.create_index(
        "ix_delivery_request",
        "delivery",
        ["request_id"],
        sqlite_where=sa.text("request_id IS NOT NULL"),
        postgresql_where=sa.text("request_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_delivery_request", table_name="delivery")
    _claim_indexes(_PENDING)
    with op.batch_alter_table("delivery") as batch:
        batch.drop_constraint(op.f("fk_delivery_request_id_provider_request"), type_="foreignkey")
        batch.drop_column("request_id")
    op.drop_index("ix_provider_request_claimed", table_name="provider_request")
    op.drop_index("ix_provider_request_due", table_name="provider_request")
    op.drop_index(op.f("ix_provider_request_update_id"), table_name="provider_request")
    op.drop_table("provider_request")


def _claim_indexes(where: str) -> None:
    """The two indexes a one-by-one claim reads, over the rows ``where`` selects."""
    op.drop_index("ix_delivery_pending", table_name="delivery")
    op.drop_index("ix_delivery_pending_rendition", table_name="delivery")
    op.create_index(
        "ix_delivery_pending",
        "delivery",
        ["channel", "id"],
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )
    op.create_index(
        "ix_delivery_pending_rendition",
        "delivery",
        ["channel", "rendition_id", "id"],
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )
