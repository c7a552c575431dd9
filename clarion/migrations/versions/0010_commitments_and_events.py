"""Prevention commitments, and provider events that keep what they said and when.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06

``commitment``: what an incident's prevention part promised, per incident under its own key (``C1``),
with its owner, due day and state (see :mod:`clarion.models.commitment`).

``provider_event`` gains ``state``, ``provider_status`` and ``occurred_at``: an applied event used to
keep only its key, so a delivery's history (accepted at …, delivered at …) could not be shown to a
regulator; the evidence pack lists every event with its time. Older rows keep NULL there.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "commitment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=16), nullable=False),
        sa.Column("texts", sa.JSON(), nullable=False),
        sa.Column("owner", sa.String(length=254), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("changed_at", _WHEN, nullable=True),
        sa.Column("changed_by", sa.String(), nullable=True),
        sa.Column("asked", sa.Boolean(), nullable=False),
        sa.Column("followup_update", sa.Integer(), nullable=True),
        sa.Column("reminded_at", _WHEN, nullable=True),
        sa.Column("escalated_at", _WHEN, nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incident.id"], name=op.f("fk_commitment_incident_id_incident")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commitment")),
        sa.UniqueConstraint("incident_id", "key", name=op.f("uq_commitment_incident_id_key")),
    )
    op.create_index(op.f("ix_commitment_incident_id"), "commitment", ["incident_id"])
    with op.batch_alter_table("provider_event") as batch:
        batch.add_column(sa.Column("state", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("provider_status", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("occurred_at", _WHEN, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("provider_event") as batch:
        batch.drop_column("occurred_at")
        batch.drop_column("provider_status")
        batch.drop_column("state")
    op.drop_index(op.f("ix_commitment_incident_id"), table_name="commitment")
    op.drop_table("commitment")
