"""Follow-up surveys: one survey per incident, what invitations and answers keep, and follow-ups.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

``survey`` is an incident's survey (one per incident): the resolution it follows, when its links
expire, whether its reminder went out. ``survey_invite`` gains its language and reminder time, and
one invitation per recipient and incident (UNIQUE), so a survey run that runs twice invites nobody
twice. ``survey_response`` gains what the trust-signal tagger found (polarity and cues beside the
signals in ``tags``), whether the writer asked for a person and allowed quoting, its language, and
when the retention purge removed its text. ``survey_followup`` is a request for a person, open until
someone closes it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "survey",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("resolution", sa.Integer(), nullable=False),
        sa.Column("opened_at", _WHEN, nullable=False),
        sa.Column("closes_at", _WHEN, nullable=False),
        sa.Column("invited", sa.Integer(), nullable=False),
        sa.Column("reminded_at", _WHEN, nullable=True),
        sa.Column("closed_at", _WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incident.id"], name=op.f("fk_survey_incident_id_incident")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey")),
        sa.UniqueConstraint("incident_id", name=op.f("uq_survey_incident_id")),
    )
    with op.batch_alter_table("survey_invite") as batch:
        batch.add_column(sa.Column("locale", sa.String(), nullable=False, server_default="en"))
        batch.add_column(sa.Column("reminded_at", _WHEN, nullable=True))
        batch.create_unique_constraint(
            op.f("uq_survey_invite_incident_id_recipient_id"), ["incident_id", "recipient_id"]
        )
    with op.batch_alter_table("survey_response") as batch:
        batch.add_column(sa.Column("polarity", sa.String(), nullable=True))
        batch.add_column(sa.Column("cues", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("wants_contact", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("contact_channel", sa.String(), nullable=True))
        batch.add_column(sa.Column("quote_allowed", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("locale", sa.String(), nullable=False, server_default="en"))
        batch.add_column(sa.Column("purged_at", _WHEN, nullable=True))
    op.create_table(
        "survey_followup",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("response_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=True),
        sa.Column("opened_at", _WHEN, nullable=False),
        sa.Column("closed_at", _WHEN, nullable=True),
        sa.Column("closed_by", sa.String(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incident.id"], name=op.f("fk_survey_followup_incident_id_incident")
        ),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["survey_response.id"],
            name=op.f("fk_survey_followup_response_id_survey_response"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_followup")),
        sa.UniqueConstraint("response_id", name=op.f("uq_survey_followup_response_id")),
    )
    op.create_index(op.f("ix_survey_followup_incident_id"), "survey_followup", ["incident_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_survey_followup_incident_id"), table_name="survey_followup")
    op.drop_table("survey_followup")
    with op.batch_alter_table("survey_response") as batch:
        for column in ("purged_at", "locale", "quote_allowed", "contact_channel", "wants_contact", "cues"):
            batch.drop_column(column)
        batch.drop_column("polarity")
    with op.batch_alter_table("survey_invite") as batch:
        batch.drop_constraint(op.f("uq_survey_invite_incident_id_recipient_id"), type_="unique")
        batch.drop_column("reminded_at")
        batch.drop_column("locale")
    op.drop_table("survey")
