"""Regulatory clocks: the regimes an incident runs, the events that start them, submissions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05

``incident`` learns which regimes it runs (the playbook's and those its declared jurisdictions add)
and when the events that start some clocks happened (a materiality determination, a classification as
major). ``deadline`` keeps every submission of its notice (an updated DORA intermediate report moves
the final report's deadline), the reasons given for a late one, the due time computed before a manual
override, and the version of the regime data it was computed from.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incident") as batch:
        batch.add_column(sa.Column("regimes", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
        batch.add_column(sa.Column("clock_events", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
    with op.batch_alter_table("deadline") as batch:
        batch.add_column(sa.Column("submissions", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
        batch.add_column(sa.Column("delay_reason", sa.String(), nullable=True))
        batch.add_column(sa.Column("computed_due_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("regime_version", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("deadline") as batch:
        for name in ("regime_version", "computed_due_at", "delay_reason", "submissions"):
            batch.drop_column(name)
    with op.batch_alter_table("incident") as batch:
        batch.drop_column("clock_events")
        batch.drop_column("regimes")
