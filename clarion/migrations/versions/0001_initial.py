"""Initial schema: every table of the product, and the append-only audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Generated with autogenerate against ``clarion.models``, then edited by hand: tables in reading order,
indexes created directly (no batch), and the triggers that make ``audit_event`` append-only, which
autogenerate cannot see. ``tests/clarion/test_migrations.py`` proves the tables match the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# UPDATE and DELETE on the audit log are refused by the database itself, so a bug (or a hasty
# operator) cannot rewrite history through the application's connection. Someone who can drop the
# trigger can still edit rows: clarion.audit.verify() detects that through the hash chain.
# Both refusals surface as IntegrityError (SQLite: RAISE(ABORT); PostgreSQL: SQLSTATE 23001).
SQLITE_TRIGGERS = (
    """
    CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
    BEGIN
        SELECT RAISE(ABORT, 'audit_event is append-only: UPDATE refused');
    END
    """,
    """
    CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
    BEGIN
        SELECT RAISE(ABORT, 'audit_event is append-only: DELETE refused');
    END
    """,
)
POSTGRESQL_TRIGGERS = (
    """
    CREATE FUNCTION audit_event_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP
            USING ERRCODE = 'restrict_violation';
    END
    $$
    """,
    """
    CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_event_refuse_change()
    """,
    """
    CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_refuse_change()
    """,
)
SQLITE_DROP = ("DROP TRIGGER audit_event_no_delete", "DROP TRIGGER audit_event_no_update")
POSTGRESQL_DROP = (
    "DROP TRIGGER audit_event_no_truncate ON audit_event",
    "DROP TRIGGER audit_event_append_only ON audit_event",
    "DROP FUNCTION audit_event_refuse_change()",
)


def _statements(*, sqlite: Sequence[str], postgresql: Sequence[str]) -> Sequence[str]:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        return sqlite
    if dialect == "postgresql":
        return postgresql
    raise NotImplementedError(f"clarion's store supports SQLite and PostgreSQL, not {dialect}")


def upgrade() -> None:
    op.create_table(
        "incident",
        sa.Column("playbook", sa.String(), nullable=False),
        sa.Column("severity", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("aware_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("commander", sa.String(), nullable=True),
        sa.Column("public_time_zone", sa.String(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(), nullable=False),
        sa.Column("declared_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident")),
        sa.UniqueConstraint("reference", name=op.f("uq_incident_reference")),
    )

    op.create_table(
        "incident_update",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("apology", sa.JSON(), nullable=False),
        sa.Column("cause", sa.JSON(), nullable=True),
        sa.Column("fix", sa.JSON(), nullable=True),
        sa.Column("prevention", sa.JSON(), nullable=True),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("next_update_by", sa.DateTime(timezone=True), nullable=False),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incident.id"], name=op.f("fk_incident_update_incident_id_incident")
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"],
            ["incident_update.id"],
            name=op.f("fk_incident_update_supersedes_id_incident_update"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_update")),
        sa.UniqueConstraint("incident_id", "number", name=op.f("uq_incident_update_incident_id_number")),
    )

    op.create_table(
        "rendition",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("update_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("locale", sa.String(), nullable=False),
        sa.Column("time_zone", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("limit", sa.Integer(), nullable=True),
        sa.Column("measure", sa.String(), nullable=False),
        sa.Column("sms_segments", sa.Integer(), nullable=True),
        sa.Column("sms_encoding", sa.String(), nullable=True),
        sa.Column("carried", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["update_id"], ["incident_update.id"], name=op.f("fk_rendition_update_id_incident_update")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rendition")),
        sa.UniqueConstraint(
            "update_id",
            "channel",
            "locale",
            "time_zone",
            name=op.f("uq_rendition_update_id_channel_locale_time_zone"),
        ),
    )

    op.create_table(
        "approval",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("update_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("approver", sa.String(), nullable=False),
        sa.Column("decision", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["update_id"], ["incident_update.id"], name=op.f("fk_approval_update_id_incident_update")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval")),
    )
    op.create_index(op.f("ix_approval_update_id"), "approval", ["update_id"])

    op.create_table(
        "recipient",
        sa.Column("external_id", sa.String(), nullable=False),
        sa.Column("email", sa.String(), nullable=True),
        sa.Column("phone_e164", sa.String(), nullable=True),
        sa.Column("locale", sa.String(), nullable=False),
        sa.Column("time_zone", sa.String(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recipient")),
        sa.UniqueConstraint("external_id", name=op.f("uq_recipient_external_id")),
    )

    op.create_table(
        "audience_membership",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("audience", sa.String(), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["recipient_id"], ["recipient.id"], name=op.f("fk_audience_membership_recipient_id_recipient")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audience_membership")),
        sa.UniqueConstraint(
            "audience", "recipient_id", name=op.f("uq_audience_membership_audience_recipient_id")
        ),
    )
    op.create_index(op.f("ix_audience_membership_recipient_id"), "audience_membership", ["recipient_id"])

    op.create_table(
        "channel_consent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["recipient_id"], ["recipient.id"], name=op.f("fk_channel_consent_recipient_id_recipient")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_consent")),
        sa.UniqueConstraint("recipient_id", "channel", name=op.f("uq_channel_consent_recipient_id_channel")),
    )

    op.create_table(
        "delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("update_id", sa.Integer(), nullable=False),
        sa.Column("rendition_id", sa.Integer(), nullable=True),
        sa.Column("recipient_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("idempotency_key", sa.String(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("provider_id", sa.String(), nullable=True),
        sa.Column("error_code", sa.String(), nullable=True),
        sa.Column("error_detail", sa.Text(), nullable=True),
        sa.Column("mandatory_reason", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["recipient_id"], ["recipient.id"], name=op.f("fk_delivery_recipient_id_recipient")
        ),
        sa.ForeignKeyConstraint(
            ["rendition_id"], ["rendition.id"], name=op.f("fk_delivery_rendition_id_rendition")
        ),
        sa.ForeignKeyConstraint(
            ["update_id"], ["incident_update.id"], name=op.f("fk_delivery_update_id_incident_update")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_delivery_idempotency_key")),
    )
    op.create_index(op.f("ix_delivery_channel_state"), "delivery", ["channel", "state"])
    op.create_index(op.f("ix_delivery_provider_id"), "delivery", ["provider_id"])
    op.create_index(op.f("ix_delivery_state_next_attempt_at"), "delivery", ["state", "next_attempt_at"])
    op.create_index(op.f("ix_delivery_update_id"), "delivery", ["update_id"])

    op.create_table(
        "deadline",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("regime", sa.String(), nullable=False),
        sa.Column("stage", sa.String(), nullable=False),
        sa.Column("recipient", sa.String(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("met_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("submitted_by", sa.String(), nullable=True),
        sa.Column("submission_reference", sa.String(), nullable=True),
        sa.Column("chained_from_id", sa.Integer(), nullable=True),
        sa.Column("last_threshold", sa.Integer(), nullable=False),
        sa.Column("override_reason", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["chained_from_id"], ["deadline.id"], name=op.f("fk_deadline_chained_from_id_deadline")
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incident.id"], name=op.f("fk_deadline_incident_id_incident")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deadline")),
        sa.UniqueConstraint(
            "incident_id", "regime", "stage", name=op.f("uq_deadline_incident_id_regime_stage")
        ),
    )

    op.create_table(
        "survey_invite",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incident.id"], name=op.f("fk_survey_invite_incident_id_incident")
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"], ["recipient.id"], name=op.f("fk_survey_invite_recipient_id_recipient")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_invite")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_survey_invite_token_hash")),
    )
    op.create_index(op.f("ix_survey_invite_incident_id"), "survey_invite", ["incident_id"])
    op.create_index(op.f("ix_survey_invite_recipient_id"), "survey_invite", ["recipient_id"])

    op.create_table(
        "survey_response",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invite_id", sa.Integer(), nullable=False),
        sa.Column("informed_score", sa.Integer(), nullable=False),
        sa.Column("trust_score", sa.Integer(), nullable=False),
        sa.Column("nps", sa.Integer(), nullable=True),
        sa.Column("free_text", sa.Text(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "informed_score BETWEEN 1 AND 5", name=op.f("ck_survey_response_informed_score_range")
        ),
        sa.CheckConstraint("nps IS NULL OR nps BETWEEN 0 AND 10", name=op.f("ck_survey_response_nps_range")),
        sa.CheckConstraint("trust_score BETWEEN 1 AND 5", name=op.f("ck_survey_response_trust_score_range")),
        sa.ForeignKeyConstraint(
            ["invite_id"], ["survey_invite.id"], name=op.f("fk_survey_response_invite_id_survey_invite")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_response")),
        sa.UniqueConstraint("invite_id", name=op.f("uq_survey_response_invite_id")),
    )

    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_event_hash")),
        sa.UniqueConstraint("prev_hash", name=op.f("uq_audit_event_prev_hash")),
    )
    op.create_index(op.f("ix_audit_event_subject"), "audit_event", ["subject"])

    for statement in _statements(sqlite=SQLITE_TRIGGERS, postgresql=POSTGRESQL_TRIGGERS):
        op.execute(statement)


def downgrade() -> None:
    for statement in _statements(sqlite=SQLITE_DROP, postgresql=POSTGRESQL_DROP):
        op.execute(statement)
    op.drop_table("audit_event")
    op.drop_table("survey_response")
    op.drop_table("survey_invite")
    op.drop_table("deadline")
    op.drop_table("delivery")
    op.drop_table("channel_consent")
    op.drop_table("audience_membership")
    op.drop_table("recipient")
    op.drop_table("approval")
    op.drop_table("rendition")
    op.drop_table("incident_update")
    op.drop_table("incident")
