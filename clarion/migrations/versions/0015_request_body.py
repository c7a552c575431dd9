"""A provider request's body, built once when its audience is staged and sent by every attempt.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

``provider_request.body``: the request's JSON as it goes to the provider, built when the request is
sealed (see :mod:`clarion.outbox.prepared`), kept while the request may be attempted again, and
cleared once it is done (it holds its recipients' addresses). ``body_rows``: how many pending rows
it was built for; a claim that finds another number (a row left the request) rebuilds it from the
rows. Requests staged before this revision have no body and are built at their claim, as before.

``ix_delivery_notice_id`` and ``ix_delivery_fallback_of`` hold only the rows that have the column
(a notice's, a fallback's): an update's messages have neither, and on PostgreSQL every recorded
outcome wrote their empty entries again.

``ix_delivery_held``: the messages still held to a morning (quiet hours), by update and recipient,
for a newer update to supersede (:mod:`clarion.outbox.superseded`).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_HELD = "state = 'pending' AND held_until IS NOT NULL"
_PARTIAL = {"notice_id": "notice_id IS NOT NULL", "fallback_of": "fallback_of IS NOT NULL"}


def upgrade() -> None:
    with op.batch_alter_table("provider_request") as batch:
        batch.add_column(sa.Column("body", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("body_rows", sa.Integer(), nullable=True))
    for column, where in _PARTIAL.items():
        op.drop_index(f"ix_delivery_{column}", table_name="delivery")
        op.create_index(
            f"ix_delivery_{column}",
            "delivery",
            [column],
            sqlite_where=sa.text(where),
            postgresql_where=sa.text(where),
        )
    op.create_index(
        "ix_delivery_held",
        "delivery",
        ["update_id", "recipient_id"],
        sqlite_where=sa.text(_HELD),
        postgresql_where=sa.text(_HELD),
    )


def downgrade() -> None:
    op.drop_index("ix_delivery_held", table_name="delivery")
    for column in _PARTIAL:
        op.drop_index(f"ix_delivery_{column}", table_name="delivery")
        op.create_index(f"ix_delivery_{column}", "delivery", [column])
    with op.batch_alter_table("provider_request") as batch:
        batch.drop_column("body_rows")
        batch.drop_column("body")
