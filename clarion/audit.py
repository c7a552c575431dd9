"""The audit log: who approved and sent what, when, as an append-only hash chain.

Every entry stores ``prev_hash`` (the hash of the entry before it, or :data:`GENESIS_HASH` for the
first) and ``hash = sha256(prev_hash + canonical JSON of the entry)``, where the canonical JSON holds
the fields that do not depend on the database: ``at`` (ISO 8601, UTC, microseconds), ``actor``,
``action``, ``subject`` and ``details``, with sorted keys and no insignificant white space. The ``id``
is only the chain's order; gaps in it (a rolled-back insert) mean nothing.

What the chain proves, when :func:`verify` passes:

* no entry was **edited** after it was written (its hash would no longer match its content);
* no entry was **removed or reordered** between the first and the last (the next entry's
  ``prev_hash`` would no longer link to the entry now before it), and the first entry is the first;
* the log never **forked**: ``prev_hash`` is UNIQUE, so two concurrent appenders cannot both extend
  the same head (the loser retries on the new head; on PostgreSQL appenders also queue on an advisory
  lock, on SQLite every transaction already holds the write lock from its first statement).

What it does not prove:

* that the **newest entries** are all there: cutting off the tail leaves a shorter chain that still
  verifies. Only a head hash recorded elsewhere (a ticket, a signed report, a timestamping service)
  can show it: record :attr:`VerifyReport.head_hash` and pass it back as ``verify(anchor=...)``;
* that nobody **rewrote the chain** from some entry onward, recomputing every later hash; again only an
  anchor recorded before the rewrite shows it. The database triggers (UPDATE, DELETE and TRUNCATE are
  refused) stop the application's connection, not someone who can drop them;
* that ``actor`` is who really acted: it is what clarion was told.

Details are copied through JSON when appended (tuples become lists, keys become strings), so what is
stored, what is hashed and what the caller keeps are never the same mutable object.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from clarion.errors import AuditChainBroken, StoreError
from clarion.models import AuditEvent, utcnow

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first entry."""

APPEND_ATTEMPTS = 5
_PG_LOCK_KEY = 0x636C_6172_696F_6E41  # "clarionA": one advisory lock for every audit appender


@dataclass(frozen=True)
class VerifyReport:
    """What :func:`verify` checked: the number of entries and the head to record as an anchor."""

    entries: int
    head_id: int | None
    head_hash: str


def canonical_json(*, at: datetime, actor: str, action: str, subject: str, details: Mapping[str, Any]) -> str:
    """The exact text an entry's hash covers."""
    content = {
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "subject": subject,
        "details": details,
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def entry_hash(
    *, prev_hash: str, at: datetime, actor: str, action: str, subject: str, details: Mapping[str, Any]
) -> str:
    """``sha256(prev_hash + canonical JSON)``, hex."""
    text = prev_hash + canonical_json(at=at, actor=actor, action=action, subject=subject, details=details)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _json_copy(details: Mapping[str, Any], action: str) -> dict[str, Any]:
    try:
        copied: dict[str, Any] = json.loads(json.dumps(dict(details), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"audit details of {action!r} must be plain JSON: {exc}") from exc
    return copied


def head_hash(*, session: Session) -> str:
    """The hash of the newest entry (:data:`GENESIS_HASH` when the log is empty)."""
    newest = session.exec(select(AuditEvent.hash).order_by(col(AuditEvent.id).desc()).limit(1)).first()
    return newest if newest is not None else GENESIS_HASH


def append(
    *, session: Session, actor: str, action: str, subject: str, details: Mapping[str, Any] | None = None
) -> AuditEvent:
    """Append one entry after the current head, inside the caller's transaction.

    The entry is flushed, not committed. On PostgreSQL the transaction holds the audit advisory lock
    until it ends, so keep transactions that append short.
    """
    frozen = json.dumps(_json_copy(details or {}, action))
    for _attempt in range(APPEND_ATTEMPTS):
        if session.get_bind().dialect.name == "postgresql":
            session.exec(select(func.pg_advisory_xact_lock(_PG_LOCK_KEY))).one()
        prev_hash = head_hash(session=session)
        at = utcnow()
        event_details: dict[str, Any] = json.loads(frozen)
        digest = entry_hash(
            prev_hash=prev_hash, at=at, actor=actor, action=action, subject=subject, details=event_details
        )
        event = AuditEvent(
            at=at,
            actor=actor,
            action=action,
            subject=subject,
            details=event_details,
            prev_hash=prev_hash,
            hash=digest,
        )
        try:
            with session.begin_nested():
                session.add(event)
        except IntegrityError:
            continue  # another appender extended this head first: read the new head and retry
        return event
    raise StoreError(f"audit append of {action!r} on {subject!r} lost the race {APPEND_ATTEMPTS} times")


def verify(*, session: Session, anchor: str | None = None) -> VerifyReport:
    """Check the whole chain, oldest first; raise :class:`AuditChainBroken` at the first bad entry.

    ``anchor`` is a head hash recorded earlier: when given, it must still be in the chain, which
    detects a truncated tail. Rows are read as plain values, not through the session's identity map,
    so the check sees what the database holds.
    """
    columns = sa.inspect(AuditEvent).local_table.c
    statement = (
        sa.select(
            columns.id,
            columns.at,
            columns.actor,
            columns.action,
            columns.subject,
            columns.details,
            columns.prev_hash,
            columns.hash,
        )
        .order_by(columns.id)
        .execution_options(yield_per=1000)
    )
    session.flush()
    expected_prev, head_id, entries = GENESIS_HASH, None, 0
    anchor_seen = anchor is None or anchor == GENESIS_HASH
    with session.connection().execute(statement) as rows:  # closes a server-side cursor early too
        for entry_id, at, actor, action, subject, details, prev_hash, stored_hash in rows:
            if prev_hash != expected_prev:
                raise AuditChainBroken(
                    entry_id,
                    f"prev link mismatch: it follows {prev_hash[:12]}…, but the entry before it is "
                    f"{expected_prev[:12]}… (an entry was removed, reordered or rewritten)",
                )
            recomputed = entry_hash(
                prev_hash=prev_hash, at=at, actor=actor, action=action, subject=subject, details=details
            )
            if recomputed != stored_hash:
                raise AuditChainBroken(
                    entry_id, "hash mismatch: its content was changed after it was written"
                )
            anchor_seen = anchor_seen or stored_hash == anchor
            expected_prev, head_id, entries = stored_hash, entry_id, entries + 1
    if anchor is not None and not anchor_seen:
        raise AuditChainBroken(
            head_id or 0,
            f"the recorded head {anchor[:12]}… is not in the chain: "
            "newer entries were cut off, or the chain was rewritten",
        )
    return VerifyReport(entries=entries, head_id=head_id, head_hash=expected_prev)
