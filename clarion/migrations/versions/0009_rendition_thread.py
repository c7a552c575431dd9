"""A rendition may be a thread: ``rendition.thread`` holds the replies to its body.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

On Mastodon and Bluesky a story that does not fit one post is posted as a thread: the body points to
the status page for the parts it leaves out, and each reply tells one of them. The replies are part
of what was rendered, approved and sent, so they are stored with the rendition (a JSON list of
texts, in order; empty for every other rendition).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("rendition") as batch:
        batch.add_column(sa.Column("thread", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rendition") as batch:
        batch.drop_column("thread")
