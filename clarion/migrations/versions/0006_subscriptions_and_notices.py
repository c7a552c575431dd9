"""Status page subscriptions, and notices: outbox messages that are not updates.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10

``notice`` holds a message that is not an update (a subscription's confirmation link, an SMS code):
its kind, channel, language, address and the parameters its templates need. ``delivery`` carries
either an update or a notice: ``update_id`` becomes nullable, ``notice_id`` is added, and a CHECK
says exactly one of them is set.

``subscriber`` is one address on one channel with the components it chose; ``subscription_confirmation``
what a request asked for until its address confirms it (single use, expiring, wrong codes counted);
``rate_hit`` the requests counted by the subscribe form's sliding-window limits, shared by every process.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ONE_OF = "(update_id IS NULL) <> (notice_id IS NULL)"


def upgrade() -> None:
    op.create_table(
        "notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("locale", sa.String(), nullable=False),
        sa.Column("address", sa.String(), nullable=False),
        sa.Column("about", sa.String(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice")),
    )
    op.create_index(op.f("ix_notice_about"), "notice", ["about"])
    with op.batch_alter_table("delivery") as batch:
        batch.alter_column("update_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("notice_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_delivery_notice_id_notice"), "notice", ["notice_id"], ["id"])
        batch.create_check_constraint(op.f("ck_delivery_update_or_notice"), sa.text(ONE_OF))
    op.create_index(op.f("ix_delivery_notice_id"), "delivery", ["notice_id"])

    op.create_table(
        "subscriber",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(), nullable=False),
        sa.Column("address_key", sa.String(), nullable=False),
        sa.Column("components", sa.JSON(), nullable=False),
        sa.Column("locale", sa.String(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("ended_by", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriber")),
        sa.UniqueConstraint("channel", "address_key", name=op.f("uq_subscriber_channel_address_key")),
    )
    op.create_table(
        "subscription_confirmation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("components", sa.JSON(), nullable=False),
        sa.Column("locale", sa.String(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscriber.id"],
            name=op.f("fk_subscription_confirmation_subscriber_id_subscriber"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_confirmation")),
    )
    op.create_index(
        op.f("ix_subscription_confirmation_subscriber_id"), "subscription_confirmation", ["subscriber_id"]
    )
    op.create_table(
        "rate_hit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.String(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_hit")),
    )
    op.create_index("ix_rate_hit_bucket_key_at", "rate_hit", ["bucket", "key", "at"])
    op.create_index(op.f("ix_rate_hit_at"), "rate_hit", ["at"])


def downgrade() -> None:
    op.drop_table("rate_hit")
    op.drop_table("subscription_confirmation")
    op.drop_table("subscriber")
    # notices' deliveries have no update to belong to: they go, with the provider events about them
    delivery, events = (
        sa.table("delivery", sa.column("id"), sa.column("notice_id")),
        sa.table("provider_event", sa.column("delivery_id")),
    )
    notices = sa.select(delivery.c.id).where(delivery.c.notice_id.is_not(None))
    op.execute(events.delete().where(events.c.delivery_id.in_(notices)))
    op.execute(delivery.delete().where(delivery.c.notice_id.is_not(None)))
    op.drop_index(op.f("ix_delivery_notice_id"), table_name="delivery")
    with op.batch_alter_table("delivery") as batch:
        batch.drop_constraint(op.f("ck_delivery_update_or_notice"), type_="check")
        batch.drop_constraint(op.f("fk_delivery_notice_id_notice"), type_="foreignkey")
        batch.drop_column("notice_id")
        batch.alter_column("update_id", existing_type=sa.Integer(), nullable=False)
    op.drop_table("notice")
