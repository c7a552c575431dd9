"""Writing an incident's evidence pack: every member streamed into a ZIP, then the manifest, then
the file moved into place whole, then the export written to the audit log.

The store is read in one read-only transaction (on PostgreSQL ``REPEATABLE READ``; on SQLite a
read transaction sees one snapshot of the WAL), so the pack is one moment of the store even while
webhooks keep arriving. The ZIP is written to a temporary file beside ``out`` and linked or renamed
into place only when complete: an interrupted export leaves nothing at ``out``, and an existing file
is never replaced unless ``force`` says so. The ``evidence.exported`` audit entry (subject
``INC-0042/evidence``) keeps the manifest's SHA-256, so the pack a regulator holds can be matched
with the one that was made.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from clarion import __version__, audit, store
from clarion.errors import InputError, Problem, display_path
from clarion.evidence import deliveries
from clarion.evidence.audit_slice import write_slice
from clarion.evidence.manifest import (
    APPROVALS,
    AUDIT,
    COMMITMENTS,
    DEADLINES,
    DELIVERIES,
    INCIDENT,
    MANIFEST,
    RENDITIONS,
    UPDATES,
    FileSum,
    Manifest,
    MemberWriter,
    iso,
    sha256_hex,
)
from clarion.evidence.pseudonyms import Pseudonyms
from clarion.evidence.records import (
    approval_record,
    commitment_record,
    deadline_record,
    incident_record,
    rendition_record,
    update_record,
)
from clarion.incidents.approvals import required_steps
from clarion.kinds import UpdateKind
from clarion.models import Approval, Commitment, Deadline, Incident, Rendition, Update, utcnow
from clarion.playbook import load_playbook, resolve_playbook

REFERENCE = re.compile(r"INC-\d{4,}")
ACTION = "evidence.exported"

RolesFor = Callable[[UpdateKind], Sequence[str]]
"""The approval roles an update of a kind needs (from the incident's playbook)."""
Progress = Callable[[int, int], None]
"""Called with (deliveries written, deliveries in all) after each chunk."""


@dataclass(frozen=True)
class Exported:
    path: Path
    manifest_sha256: str
    counts: dict[str, int]
    withheld: int


def export_pack(
    *,
    engine: sa.Engine,
    reference: str,
    out: Path,
    names: Pseudonyms,
    actor: str,
    force: bool = False,
    playbooks_dir: Path | None = None,
    progress: Progress | None = None,
) -> Exported:
    """Write the pack of ``reference`` to ``out`` and record the export in the audit log.

    :class:`InputError` for a malformed reference or an ``out`` that exists (without ``force``) or
    cannot be written, :class:`~clarion.errors.NotFound` for an unknown incident; in every case
    nothing is written and nothing appended. The incident's playbook, read from ``playbooks_dir``,
    says which approvals each update needed (as the playbook says it now; unknown without it)."""
    check_reference(reference)
    _check_out(out, force=force)
    snapshot = engine.execution_options(isolation_level="REPEATABLE READ") if _is_pg(engine) else engine
    with store.reading(snapshot) as connection, Session(bind=connection) as session:
        incident = store.get_incident(session=session, reference=reference)
        roles_for = _roles_for(playbooks_dir, incident.playbook)
        temporary = _temporary(out)
        try:
            with zipfile.ZipFile(
                temporary, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6
            ) as archive:
                manifest = _write(session, connection, archive, incident, names, roles_for, progress)
                manifest_bytes = manifest.to_bytes()
                archive.writestr(MANIFEST, manifest_bytes)
            _sync(temporary)
            _into_place(temporary, out, force=force)
        except OSError as exc:  # the disk filled up, the folder went away
            raise _refused(out, f"cannot be written: {exc.strerror or exc}") from None
        finally:
            temporary.unlink(missing_ok=True)
    digest = sha256_hex(manifest_bytes)
    counts = {name: manifest.files[name].records for name in manifest.files}
    withheld = int(manifest.audit["withheld"])
    with store.session_scope(engine) as writing:
        audit.append(
            session=writing,
            actor=actor,
            action=ACTION,
            subject=f"{reference}/evidence",
            details={
                "manifest_sha256": digest,
                "counts": counts,
                "pseudonymised": names.on,
                "audit_withheld": withheld,
            },
        )
    return Exported(out, digest, counts, withheld)


def check_reference(reference: str) -> str:
    """``reference`` when it is one (``INC-0042``); InputError otherwise."""
    if not REFERENCE.fullmatch(reference):
        raise InputError(
            [Problem("reference", None, "", f"{reference!r} is not INC- and four digits (INC-0042)")]
        )
    return reference


def _is_pg(engine: sa.Engine) -> bool:
    return engine.dialect.name == "postgresql"


def _roles_for(playbooks_dir: Path | None, name: str) -> RolesFor | None:
    """What :func:`~clarion.incidents.approvals.required_steps` says for the playbook ``name``, or
    None when it cannot be read (renamed, removed, now invalid)."""
    if playbooks_dir is None:
        return None
    try:
        book = load_playbook(resolve_playbook(name, playbooks_dir))
    except InputError:
        return None
    return lambda kind: [step.role for step in required_steps(book, kind)]


def _write(
    session: Session,
    connection: sa.Connection,
    archive: zipfile.ZipFile,
    incident: Incident,
    names: Pseudonyms,
    roles_for: RolesFor | None,
    progress: Progress | None,
) -> Manifest:
    assert incident.id is not None
    files: dict[str, FileSum] = {}
    updates = list(
        session.exec(select(Update).where(Update.incident_id == incident.id).order_by(col(Update.number)))
    )
    number = {u.id: u.number for u in updates if u.id is not None}
    files[INCIDENT] = _write_all(archive, INCIDENT, [incident_record(incident, names)])
    renditions = session.exec(
        select(Rendition).where(col(Rendition.update_id).in_(list(number))).order_by(col(Rendition.id))
    )
    files[RENDITIONS] = _write_all(
        archive, RENDITIONS, (rendition_record(r, number[r.update_id]) for r in renditions)
    )

    counted = deliveries.DeliveryCount()
    total = deliveries.count(connection, list(number), incident.reference)
    with MemberWriter(archive, DELIVERIES) as writer:
        for chunk in deliveries.records(
            connection, updates=number, reference=incident.reference, names=names, counted=counted
        ):
            for line in chunk:
                writer.write(line)
            if progress is not None:
                progress(writer.records, total)
        files[DELIVERIES] = writer.close()

    files[UPDATES] = _write_all(
        archive,
        UPDATES,
        (
            update_record(
                u,
                supersedes=number.get(u.supersedes_id) if u.supersedes_id is not None else None,
                approvals_needed=None if roles_for is None else roles_for(u.kind),
                deliveries=counted.by_update.get(u.id or 0, 0),
            )
            for u in updates
        ),
    )
    approvals = session.exec(
        select(Approval).where(col(Approval.update_id).in_(list(number))).order_by(col(Approval.id))
    )
    files[APPROVALS] = _write_all(
        archive, APPROVALS, (approval_record(a, number[a.update_id], names) for a in approvals)
    )
    stages = session.exec(
        select(Deadline).where(Deadline.incident_id == incident.id).order_by(col(Deadline.id))
    )
    files[DEADLINES] = _write_all(archive, DEADLINES, (deadline_record(d, names) for d in stages))
    commitments = session.exec(
        select(Commitment).where(Commitment.incident_id == incident.id).order_by(col(Commitment.id))
    )
    files[COMMITMENTS] = _write_all(archive, COMMITMENTS, (commitment_record(c, names) for c in commitments))

    with MemberWriter(archive, AUDIT) as writer:
        summary = write_slice(connection, writer, reference=incident.reference, names=names)
        files[AUDIT] = writer.close()
    return Manifest(
        clarion_version=__version__,
        reference=incident.reference,
        exported_at=iso(utcnow()) or "",
        pseudonymised=names.on,
        files=files,
        audit=summary.as_dict(),
        notes=_notes(names, summary.withheld, roles_for is not None),
    )


def _write_all(archive: zipfile.ZipFile, name: str, records: Any) -> FileSum:
    with MemberWriter(archive, name) as writer:
        for record in records:
            writer.write(record)
        return writer.close()


def _notes(names: Pseudonyms, withheld: int, roles_known: bool) -> list[str]:
    notes = [
        "deliveries.jsonl: each recipient's address is the one the store holds now; address_as_sent "
        "says whether it is still the address the message went to",
        "deliveries.jsonl: notices about the incident (to the people inside) are included without their "
        "text, which is rendered when sent and never stored; survey invitations are not included",
    ]
    if not roles_known:
        notes.append("updates.jsonl: approvals_needed is unknown (the incident's playbook could not be read)")
    if names.on:
        notes.append(
            "pseudonymised: addresses, numbers, external ids and the names of people are keyed hashes "
            f"(p:…); {withheld} audit entries of the incident name someone and are stubs (withheld)"
        )
    return notes


# ── the file ──────────────────────────────────────────────────────────────────────────────────────


def _refused(out: Path, message: str) -> InputError:
    return InputError([Problem(display_path(out), None, "--out", message)])


def _check_out(out: Path, *, force: bool) -> None:
    if out.is_dir():
        raise _refused(out, "is a folder: name the file to write")
    if out.exists() and not force:
        raise _refused(out, "exists already: choose another name, or --force to replace it")
    folder = out.parent
    if not folder.is_dir():
        raise _refused(out, f"its folder {display_path(folder)} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise _refused(out, f"its folder {display_path(folder)} is not writable")


def _temporary(out: Path) -> Path:
    try:
        handle, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
    except OSError as exc:
        raise _refused(out, f"cannot write beside it: {exc.strerror or exc}") from None
    os.close(handle)
    return Path(name)


def _sync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _into_place(temporary: Path, out: Path, *, force: bool) -> None:
    """``temporary`` becomes ``out`` whole; without ``force`` only if ``out`` still does not exist."""
    if force:
        temporary.replace(out)
        return
    try:
        os.link(temporary, out)
    except FileExistsError:
        raise _refused(out, "was created while the pack was written: nothing replaced") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        if out.exists():  # a file system without hard links: check, then rename
            raise _refused(out, "was created while the pack was written: nothing replaced") from None
        temporary.replace(out)
