"""Hardening: anchor in-doubt lookups, one message per address, a way back for a failed first update.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

``delivery.first_attempt_at`` is when a row was first claimed. A crash or a timeout leaves a row in
doubt, and the lookup that asks the provider whether an earlier attempt arrived must search from the
first attempt that may have reached it: searching from the latest claim let the copy an earlier
attempt delivered fall out of the window, and every re-claim after a crash moved it forward.

``delivery.address_key`` is a digest of the channel's normalised address. A unique partial index
allows one message per address and channel in an update, however many recipient ids share it
(rows that are not sent, such as suppressed ones, carry no key).

``provider_event.copy_id`` names which of our requests a provider event is about (SendGrid's
X-Message-Id), so the ledger can count the copies a provider really received.

``incident.declared_facts`` keeps the facts of the declaration, so a first update that failed before
it was drafted can be drafted again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ADDRESSED = sa.text("address_key IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.add_column(sa.Column("first_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("address_key", sa.String(), nullable=True))
    op.create_index(
        "ux_delivery_update_address",
        "delivery",
        ["update_id", "channel", "address_key"],
        unique=True,
        sqlite_where=ADDRESSED,
        postgresql_where=ADDRESSED,
    )
    with op.batch_alter_table("provider_event") as batch:
        batch.add_column(sa.Column("copy_id", sa.String(), nullable=True))
    with op.batch_alter_table("incident") as batch:
        batch.add_column(sa.Column("declared_facts", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incident") as batch:
        batch.drop_column("declared_facts")
    with op.batch_alter_table("provider_event") as batch:
        batch.drop_column("copy_id")
    op.drop_index("ux_delivery_update_address", table_name="delivery")
    with op.batch_alter_table("delivery") as batch:
        batch.drop_column("address_key")
        batch.drop_column("first_attempt_at")
