"""One record per row of the incident's small tables: the incident, its updates, renditions,
approvals, regulatory stages and commitments, as the pack writes them.

A rendition's record carries its exact text as stored (subject, body, HTML, thread replies) and
:func:`text_sha256`, the SHA-256 of that text as canonical JSON, so a reader can check that the words
shown are the words recorded, with nothing but this module's one function. Values that name people
go through :class:`~clarion.evidence.pseudonyms.Pseudonyms`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from clarion.evidence.manifest import iso, record_line, sha256_hex
from clarion.evidence.pseudonyms import Pseudonyms
from clarion.kinds import DeadlineState
from clarion.models import Approval, Commitment, Deadline, Incident, Rendition, Update

TEXT_FIELDS = ("subject", "body", "html", "thread")
"""What a rendition says: the fields :func:`text_sha256` covers."""


def text_sha256(record: Mapping[str, Any]) -> str:
    """The SHA-256 of a rendition's text: its :data:`TEXT_FIELDS` as canonical JSON (one line)."""
    return sha256_hex(record_line({name: record.get(name) for name in TEXT_FIELDS}))


def incident_record(incident: Incident, names: Pseudonyms) -> dict[str, Any]:
    names.remember(incident.commander)
    return {
        "reference": incident.reference,
        "title": incident.title,
        "playbook": incident.playbook,
        "severity": incident.severity,
        "status": incident.status.value,
        "commander": names.person(incident.commander),
        "public_time_zone": incident.public_time_zone,
        "regimes": list(incident.regimes),
        "clock_events": dict(incident.clock_events),
        "started_at": iso(incident.started_at),
        "aware_at": iso(incident.aware_at),
        "declared_at": iso(incident.declared_at),
        "resolved_at": iso(incident.resolved_at),
    }


def update_record(
    update: Update, *, supersedes: int | None, approvals_needed: Sequence[str] | None, deliveries: int
) -> dict[str, Any]:
    """``approvals_needed``: the roles the playbook asks of an update of this kind (None: unknown);
    ``deliveries``: how many lines of ``deliveries.jsonl`` are this update's."""
    return {
        "number": update.number,
        "kind": update.kind.value,
        "state": update.state.value,
        "status": update.status.value,
        "created_at": iso(update.created_at),
        "published_at": iso(update.published_at),
        "next_update_by": iso(update.next_update_by),
        "content_hash": update.content_hash,
        "supersedes": supersedes,
        "approvals_needed": None if approvals_needed is None else list(approvals_needed),
        "deliveries": deliveries,
        "apology": update.apology,
        "cause": update.cause,
        "fix": update.fix,
        "prevention": update.prevention,
        "facts": update.facts,
    }


def rendition_record(rendition: Rendition, update_number: int) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": rendition.id,
        "update": update_number,
        "channel": rendition.channel.value,
        "locale": rendition.locale,
        "time_zone": rendition.time_zone,
        "subject": rendition.subject,
        "body": rendition.body,
        "html": rendition.html,
        "thread": None if rendition.thread is None else list(rendition.thread),
        "length": rendition.length,
        "limit": rendition.limit,
        "measure": rendition.measure,
        "sms_segments": rendition.sms_segments,
        "sms_encoding": rendition.sms_encoding,
        "carried": rendition.carried,
        "created_at": iso(rendition.created_at),
    }
    record["sha256"] = text_sha256(record)
    return record


def approval_record(approval: Approval, update_number: int, names: Pseudonyms) -> dict[str, Any]:
    names.remember(approval.approver)
    return {
        "id": approval.id,
        "update": update_number,
        "role": approval.role,
        "approver": names.person(approval.approver),
        "decision": approval.decision.value,
        "reason": names.text(approval.reason),
        "decided_at": iso(approval.decided_at),
    }


def deadline_record(row: Deadline, names: Pseudonyms) -> dict[str, Any]:
    names.remember(row.submitted_by, *(str(s.get("by") or "") for s in row.submissions))
    return {
        "id": row.id,
        "regime": row.regime,
        "regime_version": row.regime_version,
        "stage": row.stage,
        "recipient": row.recipient,
        "state": row.state.value,
        "starts_at": iso(row.starts_at),
        "due_at": iso(row.due_at),
        "computed_due_at": iso(row.computed_due_at),
        "overridden": row.computed_due_at is not None and row.due_at != row.computed_due_at,
        "override_reason": names.text(row.override_reason),
        "waived": row.state is DeadlineState.WAIVED,
        "met_at": iso(row.met_at),
        "submitted_by": names.person(row.submitted_by),
        "submission_reference": row.submission_reference,
        "submissions": [
            {**submission, "by": names.person(submission.get("by"))} for submission in row.submissions
        ],
        "delay_reason": names.text(row.delay_reason),
        "chained_from": row.chained_from_id,
        "last_threshold": row.last_threshold,
    }


def commitment_record(row: Commitment, names: Pseudonyms) -> dict[str, Any]:
    names.remember(row.owner, row.changed_by)
    return {
        "id": row.id,
        "key": row.key,
        "texts": row.texts,
        "owner": names.person(row.owner),
        "due_on": row.due_on.isoformat(),
        "state": row.state.value,
        "note": row.note,
        "changed_at": iso(row.changed_at),
        "changed_by": names.person(row.changed_by),
        "asked": row.asked,
        "followup_update": row.followup_update,
        "created_at": iso(row.created_at),
    }
