"""What a prepared request body was built with, so a worker that would build another one does.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07

``provider_request.body_made_with``: the digest of what shaped the body besides its rows (the sender
address and name, the unsubscribe links' base, the SDK's rendering; see
:func:`clarion.outbox.prepared.made_with`). Staging and the workers may run in different processes
with different settings: a worker whose own digest differs builds the request from its rows, as it
does a request staged without a body. Bodies built before this revision have none, and are built
again from their rows at their claim.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("provider_request") as batch:
        batch.add_column(sa.Column("body_made_with", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("provider_request") as batch:
        batch.drop_column("body_made_with")
