"""Fallback for must-reach audiences, and provider events kept until their message is recorded.

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-07

``delivery`` gains ``fallback_after`` (seconds: a must-reach audience's message not delivered this
long after acceptance, or bounced or failed, goes again on the other channel), ``fell_back_at`` (when
that was decided, once) and ``fallback_of`` (the delivery a fallback message replaces), with a partial
index of the must-reach rows the provider had whose fallback is not decided yet: the every-minute sweep
reads only those.

``held_event``: a provider event that came before the worker recorded its message's outcome (a Twilio
status callback before its SID is stored, any event while the row is still claimed), kept as read and
applied when the outcome is recorded (see :mod:`clarion.outbox.held`).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = sa.DateTime(timezone=True)
_WATCHED = sa.text(
    "state IN ('accepted', 'bounced', 'failed') AND fallback_after IS NOT NULL AND fell_back_at IS NULL"
)


def upgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.add_column(sa.Column("fallback_after", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("fell_back_at", _WHEN, nullable=True))
        batch.add_column(sa.Column("fallback_of", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_delivery_fallback_of_delivery"), "delivery", ["fallback_of"], ["id"]
        )
        batch.create_index(op.f("ix_delivery_fallback_of"), ["fallback_of"])
    op.create_index(
        "ix_delivery_fallback_watch",
        "delivery",
        ["state", "fallback_after", "accepted_at"],
        sqlite_where=_WATCHED,
        postgresql_where=_WATCHED,
    )
    op.create_table(
        "held_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("ref", sa.String(length=200), nullable=False),
        sa.Column("by_provider_id", sa.Boolean(), nullable=False),
        sa.Column("change", sa.JSON(), nullable=False),
        sa.Column("received_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_held_event")),
    )
    op.create_index("ix_held_event_ref", "held_event", ["provider", "ref"])


def downgrade() -> None:
    op.drop_index("ix_held_event_ref", table_name="held_event")
    op.drop_table("held_event")
    op.drop_index("ix_delivery_fallback_watch", table_name="delivery")
    with op.batch_alter_table("delivery") as batch:
        batch.drop_index(op.f("ix_delivery_fallback_of"))
        batch.drop_constraint(op.f("fk_delivery_fallback_of_delivery"), type_="foreignkey")
        batch.drop_column("fallback_of")
        batch.drop_column("fell_back_at")
        batch.drop_column("fallback_after")
