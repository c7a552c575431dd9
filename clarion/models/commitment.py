"""Prevention commitments: what we promised to change after an incident, who owns it and by when.

A commitment is named in an update's facts (``commitments:``) and stored per incident under its own
key (``C1``), UNIQUE per incident. Its public text is per locale. ``state`` only moves forward
(planned → in progress → shipped or dropped) through :mod:`clarion.commitments.changes`, each change
in the audit log; ``note`` is the public account of a final state (what we built, why we dropped it).
The reminder and the escalation of its owner are each staged once (``reminded_at``, ``escalated_at``).
"""

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from clarion.kinds import CommitmentState
from clarion.models.columns import UTCDateTime, UTCTimestamp, enum_column, json_column, utcnow

# ── commitments ───────────────────────────────────────────────────────────────────────────────────


class Commitment(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("incident_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    key: str = Field(max_length=16, description='Its id within the incident: "C1".')
    texts: dict[str, str] = Field(
        default_factory=dict, sa_type=json_column(), description="The public promise, per locale."
    )
    owner: str = Field(max_length=254, description="A responder id of the people file, or an email address.")
    due_on: dt.date = Field(description="The day it is due (the end of that day, UTC).")
    state: CommitmentState = Field(default=CommitmentState.PLANNED, sa_type=enum_column(CommitmentState))
    note: str | None = Field(
        default=None, sa_type=sa.Text, description="Public: what we built, or why we dropped it."
    )
    changed_at: UTCTimestamp | None = Field(
        default=None, sa_type=UTCDateTime, description="When it reached its final state."
    )
    changed_by: str | None = None
    asked: bool = Field(
        default=False, description="Survey answers asked for what it promises (told in the follow-up)."
    )
    followup_update: int | None = Field(
        default=None, description='The number of the "you asked, we built it" update, once staged.'
    )
    reminded_at: UTCTimestamp | None = Field(default=None, sa_type=UTCDateTime)
    escalated_at: UTCTimestamp | None = Field(default=None, sa_type=UTCDateTime)
    created_at: UTCTimestamp = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: UTCTimestamp = Field(
        default_factory=utcnow, sa_type=UTCDateTime, sa_column_kwargs={"onupdate": utcnow}
    )
