"""Quiet-hours holds in the ledger, and provider rates shared by every worker.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07

``delivery`` gains ``held_until`` and ``hold_reason``: a personal message staged during the
recipient's quiet hours is due at their morning, and the ledger says so (see
:mod:`clarion.outbox.quiet_hours`). Older rows keep NULL there (never held).

``provider_rate``: one row per provider, the token bucket every worker takes its requests from
(:mod:`clarion.outbox.shared_rate`), and until when a 429 closed the provider for all of them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.add_column(sa.Column("held_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("hold_reason", sa.String(), nullable=True))
    op.create_table(
        "provider_rate",
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("refilled_at", sa.Float(), nullable=False),
        sa.Column("closed_until", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("provider", name=op.f("pk_provider_rate")),
    )


def downgrade() -> None:
    op.drop_table("provider_rate")
    with op.batch_alter_table("delivery") as batch:
        batch.drop_column("hold_reason")
        batch.drop_column("held_until")
