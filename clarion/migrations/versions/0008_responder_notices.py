"""Notices to the people inside are sent once: ``notice.dedupe_key``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

A reminder, an approval request or a deadline warning to a responder is staged by a flow run that
Prefect may retry, and by two runs at once; the notice's dedupe key (a digest of the incident, the
kind, what it is about, the person and the channel) is UNIQUE, so the second attempt finds the first
and adds nothing. Notices that need no such key (a subscriber's confirmation link) leave it empty.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notice") as batch:
        batch.add_column(sa.Column("dedupe_key", sa.String(length=64), nullable=True))
        batch.create_unique_constraint(op.f("uq_notice_dedupe_key"), ["dedupe_key"])


def downgrade() -> None:
    with op.batch_alter_table("notice") as batch:
        batch.drop_constraint(op.f("uq_notice_dedupe_key"), type_="unique")
        batch.drop_column("dedupe_key")
