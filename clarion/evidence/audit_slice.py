"""The part of the audit log a pack carries, and its check: the incident's entries, on the hash chain.

``audit.jsonl`` runs from the incident's first audit entry to its last (an entry is the incident's
when its subject is the reference, or starts with the reference and a slash). Each of the incident's
entries is written in full (``id``, ``at``, ``actor``, ``action``, ``subject``, ``details``,
``prev_hash``, ``hash``); every entry in between that concerns something else is a **stub**, ``{id,
prev_hash, hash}``, its content withheld. In a pseudonymised pack an entry of the incident whose content
names someone is a stub too, marked ``"withheld": "personal data"``: its words cannot change without
breaking its hash.

:func:`check_slice` proves, offline, that the slice is one unbroken run of the chain: each line's
``prev_hash`` is the line before's ``hash``, stubs included, and each full entry's hash is
:func:`clarion.audit.entry_hash` of its content. It cannot prove that the slice's first entry follows
the genesis of the log, nor that nothing came after the last: the manifest's ``head_hash`` (the
log's head when the pack was made) is for comparing with ``clarion audit verify`` on the store, or
with a head recorded elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from clarion.audit import GENESIS_HASH, entry_hash
from clarion.errors import EvidenceTampered
from clarion.evidence.manifest import AUDIT, MemberWriter, iso
from clarion.evidence.pseudonyms import Pseudonyms
from clarion.models import AuditEvent
from clarion.models.columns import table_of

CHUNK = 1000
WITHHELD = "personal data"
FULL_FIELDS = frozenset({"id", "at", "actor", "action", "subject", "details", "prev_hash", "hash"})
STUB_FIELDS = frozenset({"id", "prev_hash", "hash"})
_HASH = re.compile(r"[0-9a-f]{64}")
_a = table_of(AuditEvent)


def concerns(subject: str, reference: str) -> bool:
    """Whether an audit entry's subject is the incident or one of its parts."""
    return subject == reference or subject.startswith(f"{reference}/")


@dataclass
class SliceSummary:
    """What a slice holds. ``first_id``/``last_id`` are None when the incident has no entry."""

    first_id: int | None = None
    last_id: int | None = None
    entries: int = 0
    full: int = 0
    stubs: int = 0
    withheld: int = 0
    head_id: int | None = None
    head_hash: str = GENESIS_HASH

    def as_dict(self) -> dict[str, Any]:
        return {
            "first_id": self.first_id,
            "last_id": self.last_id,
            "entries": self.entries,
            "full": self.full,
            "stubs": self.stubs,
            "withheld": self.withheld,
            "head_id": self.head_id,
            "head_hash": self.head_hash,
        }


# ── writing ───────────────────────────────────────────────────────────────────────────────────────


def write_slice(
    connection: sa.Connection, writer: MemberWriter, *, reference: str, names: Pseudonyms
) -> SliceSummary:
    """Write the incident's slice of the log into ``writer``, a chunk of entries at a time."""
    prefix = f"{reference}/"
    mine = sa.or_(_a.c.subject == reference, sa.func.substr(_a.c.subject, 1, len(prefix)) == prefix)
    first, last = connection.execute(sa.select(sa.func.min(_a.c.id), sa.func.max(_a.c.id)).where(mine)).one()
    summary = SliceSummary(first_id=first, last_id=last)
    head = connection.execute(sa.select(_a.c.id, _a.c.hash).order_by(_a.c.id.desc()).limit(1)).first()
    if head is not None:
        summary.head_id, summary.head_hash = head.id, head.hash
    if first is None:
        return summary
    after = first - 1
    while True:
        rows = list(
            connection.execute(
                sa.select(_a).where(_a.c.id > after, _a.c.id <= last).order_by(_a.c.id).limit(CHUNK)
            )
        )
        if not rows:
            return summary
        for row in rows:
            writer.write(_line(row, reference, names, summary))
        after = rows[-1].id


def _line(row: sa.Row[Any], reference: str, names: Pseudonyms, summary: SliceSummary) -> dict[str, Any]:
    summary.entries += 1
    stub: dict[str, Any] = {"id": row.id, "prev_hash": row.prev_hash, "hash": row.hash}
    if not concerns(row.subject, reference):
        summary.stubs += 1
        return stub
    if names.on and names.names_someone(row.actor, row.action, row.subject, row.details):
        summary.withheld += 1
        return {**stub, "withheld": WITHHELD}
    summary.full += 1
    return {
        **stub,
        "at": iso(row.at),
        "actor": row.actor,
        "action": row.action,
        "subject": row.subject,
        "details": row.details,
    }


# ── checking ──────────────────────────────────────────────────────────────────────────────────────


def check_slice(records: Iterator[tuple[int, dict[str, Any]]], *, reference: str) -> SliceSummary:
    """Check the slice's records (:func:`~clarion.evidence.manifest.parsed_lines`) in order;
    :class:`EvidenceTampered` naming the first line that does not hold. Returns what it counted,
    for the caller to compare with the manifest."""
    summary = SliceSummary()
    previous_hash: str | None = None
    previous_id = 0
    for number, record in records:
        entry = _entry(record, number)
        entry_id = entry["id"]
        if not isinstance(entry_id, int) or isinstance(entry_id, bool) or entry_id <= previous_id:
            raise EvidenceTampered(AUDIT, f"id {entry_id!r} does not follow {previous_id}", line=number)
        for key in ("prev_hash", "hash"):
            if not (isinstance(entry[key], str) and _HASH.fullmatch(entry[key])):
                raise EvidenceTampered(AUDIT, f"entry {entry_id}: {key} is not 64 hex digits", line=number)
        if previous_hash is not None and entry["prev_hash"] != previous_hash:
            raise EvidenceTampered(
                AUDIT,
                f"entry {entry_id} does not follow the line before it: its prev_hash is not that entry's "
                "hash (an entry was removed, added or reordered)",
                line=number,
            )
        _check_content(entry, number, reference, summary)
        summary.first_id = summary.first_id if summary.first_id is not None else entry_id
        summary.last_id, summary.entries = entry_id, summary.entries + 1
        previous_hash, previous_id = entry["hash"], entry_id
    return summary


def _entry(entry: dict[str, Any], number: int) -> dict[str, Any]:
    keys = set(entry)
    if keys not in (FULL_FIELDS, STUB_FIELDS, STUB_FIELDS | {"withheld"}):
        raise EvidenceTampered(
            AUDIT, f"neither a full entry nor a stub (fields: {', '.join(sorted(keys))})", line=number
        )
    return entry


def _check_content(entry: dict[str, Any], number: int, reference: str, summary: SliceSummary) -> None:
    entry_id = entry["id"]
    if "withheld" in entry:
        if entry["withheld"] != WITHHELD:
            raise EvidenceTampered(AUDIT, f"entry {entry_id}: withheld for an unknown reason", line=number)
        summary.withheld += 1
        return
    if "at" not in entry:
        summary.stubs += 1
        return
    actor, action, subject, details = entry["actor"], entry["action"], entry["subject"], entry["details"]
    if not (all(isinstance(v, str) for v in (actor, action, subject)) and isinstance(details, dict)):
        raise EvidenceTampered(AUDIT, f"entry {entry_id}: a field has the wrong type", line=number)
    if not concerns(subject, reference):
        raise EvidenceTampered(
            AUDIT, f"entry {entry_id} is shown in full but concerns {subject!r}, not {reference}", line=number
        )
    try:
        at = datetime.fromisoformat(entry["at"])
    except (TypeError, ValueError):
        raise EvidenceTampered(AUDIT, f"entry {entry_id}: at is not an ISO 8601 time", line=number) from None
    if at.tzinfo is None:
        raise EvidenceTampered(AUDIT, f"entry {entry_id}: at has no time zone", line=number)
    recomputed = entry_hash(
        prev_hash=entry["prev_hash"], at=at, actor=actor, action=action, subject=subject, details=details
    )
    if recomputed != entry["hash"]:
        raise EvidenceTampered(AUDIT, f"entry {entry_id}'s hash does not match its content", line=number)
    summary.full += 1
