"""Checking an evidence pack offline: no store, only the ZIP and this module.

:func:`verify_pack` raises at the **first** thing that does not hold, naming the member and the line:

1. the file is a ZIP with a ``manifest.json`` of this format, whose content matches its own digest;
2. the members are exactly those the manifest lists (none missing, none added, none twice);
3. each member's SHA-256, size and number of records are what the manifest says;
4. each member is JSON lines of objects, and agrees with itself and the others: every rendition's
   text hashes to its recorded SHA-256; every delivery names a rendition of its own update (or is a
   notice about the incident), its provider events are well formed, and each update has as many
   delivery lines as ``updates.jsonl`` says; approvals name updates of the pack;
5. the audit slice is one unbroken run of the hash chain, every full entry's hash recomputed
   (:func:`clarion.evidence.audit_slice.check_slice`), and it holds what the manifest says.

What it proves: the pack is internally whole, and the audit entries shown are the ones the chain
held. What it cannot: that this is the pack that was exported (anyone can rebuild every sum; compare
the manifest's SHA-256 with the one recorded at export, ``expected_manifest``), that nothing was left
out of the store's own record before export, or that a message reached a person beyond what the
provider reported.
"""

from __future__ import annotations

import hashlib
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from clarion.errors import EvidenceTampered, EvidenceUnreadable, display_path
from clarion.evidence.audit_slice import check_slice
from clarion.evidence.manifest import (
    APPROVALS,
    AUDIT,
    COMMITMENTS,
    DEADLINES,
    DELIVERIES,
    FILES,
    INCIDENT,
    MANIFEST,
    MAX_MANIFEST_BYTES,
    RENDITIONS,
    UPDATES,
    FileSum,
    Manifest,
    parse_manifest,
    parsed_lines,
    sha256_hex,
)
from clarion.evidence.records import text_sha256
from clarion.kinds import DeliveryState

EVENT_FIELDS = frozenset({"provider", "state", "provider_status", "occurred_at", "received_at", "copy_id"})
_STATES = frozenset(state.value for state in DeliveryState)
_BLOCK = 1 << 20
_AFTER_UPDATES = 1 << 62  # notices come after every update in deliveries.jsonl


@dataclass(frozen=True)
class Verified:
    """What an intact pack holds."""

    reference: str
    files: int
    deliveries: int
    audit_entries: int
    withheld: int
    pseudonymised: bool
    manifest_sha256: str
    head_hash: str


def verify_pack(path: Path, *, expected_manifest: str | None = None) -> Verified:
    """Check the pack at ``path``; :class:`EvidenceTampered` or :class:`EvidenceUnreadable` at the
    first thing that does not hold. ``expected_manifest``: the manifest's SHA-256 recorded at export."""
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise EvidenceUnreadable(f"{display_path(path)}: no such file") from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise EvidenceUnreadable(f"{display_path(path)}: not a ZIP file ({exc})") from None
    with archive:
        manifest, digest = _manifest(archive, path)
        if expected_manifest is not None and digest != expected_manifest.lower():
            raise EvidenceTampered(
                MANIFEST, f"its SHA-256 is {digest}, not the {expected_manifest} recorded at export"
            )
        _members(archive, manifest)
        for name in FILES:
            _sums(archive, name, manifest.files[name])
        return _contents(archive, manifest, digest)


def _manifest(archive: zipfile.ZipFile, path: Path) -> tuple[Manifest, str]:
    try:
        info = archive.getinfo(MANIFEST)
    except KeyError:
        raise EvidenceUnreadable(
            f"{display_path(path)}: no {MANIFEST}: not a clarion evidence pack"
        ) from None
    if info.file_size > MAX_MANIFEST_BYTES:
        raise EvidenceTampered(MANIFEST, f"larger than {MAX_MANIFEST_BYTES >> 20} MiB")
    data = _read_member(archive, MANIFEST)
    return parse_manifest(data), sha256_hex(data)


def _read_member(archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        return archive.read(name)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise EvidenceTampered(name, f"cannot be read from the ZIP ({exc})") from None


def _members(archive: zipfile.ZipFile, manifest: Manifest) -> None:
    seen: set[str] = set()
    for name in archive.namelist():
        if name in seen:
            raise EvidenceTampered(name, "is in the ZIP twice")
        seen.add(name)
        if name != MANIFEST and name not in manifest.files:
            raise EvidenceTampered(name, "is in the ZIP but not in the manifest")
    for name in FILES:
        if name not in manifest.files:
            raise EvidenceTampered(MANIFEST, f"does not list {name}")
        if name not in seen:
            raise EvidenceTampered(name, "is listed in the manifest but missing from the ZIP")
    for name in manifest.files:
        if name not in FILES:
            raise EvidenceTampered(MANIFEST, f"lists {name}, which is no member of a pack")


def _sums(archive: zipfile.ZipFile, name: str, expected: FileSum) -> None:
    digest, size, records = hashlib.sha256(), 0, 0
    try:
        with archive.open(name) as member:
            while block := member.read(_BLOCK):
                digest.update(block)
                size += len(block)
                records += block.count(b"\n")
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise EvidenceTampered(name, f"cannot be read from the ZIP ({exc})") from None
    if digest.hexdigest() != expected.sha256:
        raise EvidenceTampered(name, "SHA-256 differs from the manifest")
    if size != expected.bytes:
        raise EvidenceTampered(name, f"{size} bytes, the manifest says {expected.bytes}")
    if records != expected.records:
        raise EvidenceTampered(name, f"{records} records, the manifest says {expected.records}")


# ── what the members say ──────────────────────────────────────────────────────────────────────────


@contextmanager
def _opened(archive: zipfile.ZipFile, name: str) -> Iterator[Iterator[tuple[int, dict[str, Any]]]]:
    """The records of member ``name``, numbered from 1; the member is closed when the block ends,
    however it ends."""
    with archive.open(name) as member:
        yield parsed_lines(member, name)


def _int(record: dict[str, Any], key: str, name: str, line: int, *, optional: bool = False) -> Any:
    value = record.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise EvidenceTampered(name, f"{key}: not a number", line=line)
    return value


def _time(value: object, name: str, line: int, key: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise EvidenceTampered(name, f"{key}: not an ISO 8601 time with a zone", line=line)


def _contents(archive: zipfile.ZipFile, manifest: Manifest, digest: str) -> Verified:
    reference = manifest.reference
    with _opened(archive, INCIDENT) as records:
        incident = list(records)
    if len(incident) != 1 or incident[0][1].get("reference") != reference:
        raise EvidenceTampered(INCIDENT, f"is not the one incident {reference} the manifest names")
    with _opened(archive, UPDATES) as records:
        updates = _updates(records)
    with _opened(archive, RENDITIONS) as records:
        renditions = _renditions(records, updates)
    with _opened(archive, DELIVERIES) as records:
        delivered = _deliveries(records, reference, renditions)
    for number, expected in updates.items():
        if delivered.get(number, 0) != expected:
            raise EvidenceTampered(
                DELIVERIES, f"update {number} has {delivered.get(number, 0)} lines, {UPDATES} says {expected}"
            )
    with _opened(archive, APPROVALS) as records:
        for line, record in records:
            if _int(record, "update", APPROVALS, line) not in updates:
                raise EvidenceTampered(APPROVALS, "names no update of the pack", line=line)
            _time(record.get("decided_at"), APPROVALS, line, "decided_at")
    for name in (DEADLINES, COMMITMENTS):
        with _opened(archive, name) as records:
            for line, record in records:
                _int(record, "id", name, line)
    with _opened(archive, AUDIT) as records:
        summary = check_slice(records, reference=reference)
    counted = summary.as_dict()
    for key in ("first_id", "last_id", "entries", "full", "stubs", "withheld"):
        if counted[key] != manifest.audit.get(key):
            raise EvidenceTampered(
                AUDIT, f"{key} is {counted[key]}, the manifest says {manifest.audit.get(key)}"
            )
    return Verified(
        reference=reference,
        files=len(FILES) + 1,
        deliveries=manifest.files[DELIVERIES].records,
        audit_entries=summary.entries,
        withheld=summary.withheld,
        pseudonymised=manifest.pseudonymised,
        manifest_sha256=digest,
        head_hash=str(manifest.audit.get("head_hash")),
    )


Records = Iterator[tuple[int, dict[str, Any]]]


def _updates(records: Records) -> dict[int, int]:
    """Each update's number and the number of its delivery lines."""
    updates: dict[int, int] = {}
    for line, record in records:
        number = _int(record, "number", UPDATES, line)
        if number in updates:
            raise EvidenceTampered(UPDATES, f"update {number} appears twice", line=line)
        updates[number] = _int(record, "deliveries", UPDATES, line)
    return updates


def _renditions(records: Records, updates: dict[int, int]) -> dict[int, int]:
    """Each rendition's id and its update's number, once its text matches its SHA-256."""
    renditions: dict[int, int] = {}
    for line, record in records:
        rendition_id = _int(record, "id", RENDITIONS, line)
        if _int(record, "update", RENDITIONS, line) not in updates:
            raise EvidenceTampered(
                RENDITIONS, f"rendition {rendition_id} names no update of the pack", line=line
            )
        if record.get("sha256") != text_sha256(record):
            raise EvidenceTampered(
                RENDITIONS, f"rendition {rendition_id}'s text does not match its SHA-256", line=line
            )
        renditions[rendition_id] = record["update"]
    return renditions


def _deliveries(records: Records, reference: str, renditions: dict[int, int]) -> dict[int, int]:
    """Check every delivery line; the number of lines of each update."""
    counted: dict[int, int] = {}
    previous = (0, 0)
    for line, record in records:
        delivery_id = _int(record, "id", DELIVERIES, line)
        number = _int(record, "update", DELIVERIES, line, optional=True)
        if number is not None:
            rendition = _int(record, "rendition_id", DELIVERIES, line)
            if renditions.get(rendition) != number:
                raise EvidenceTampered(
                    DELIVERIES,
                    f"delivery {delivery_id} names rendition {rendition}, "
                    f"which is not one of update {number} in {RENDITIONS}",
                    line=line,
                )
            counted[number] = counted.get(number, 0) + 1
        else:
            notice = record.get("notice")
            if not (isinstance(notice, dict) and str(notice.get("about", "")).startswith(f"{reference}/")):
                raise EvidenceTampered(
                    DELIVERIES,
                    f"delivery {delivery_id} is neither an update's nor a notice about {reference}",
                    line=line,
                )
        place = (_AFTER_UPDATES if number is None else number, delivery_id)
        if place <= previous:
            raise EvidenceTampered(
                DELIVERIES, f"delivery {delivery_id} is out of order or repeated", line=line
            )
        previous = place
        if record.get("state") not in _STATES:
            raise EvidenceTampered(DELIVERIES, f"delivery {delivery_id}: unknown state", line=line)
        _events(record.get("events"), delivery_id, line)
    return counted


def _events(events: object, delivery_id: int, line: int) -> None:
    if not isinstance(events, list):
        raise EvidenceTampered(DELIVERIES, f"delivery {delivery_id}: events is not a list", line=line)
    for index, event in enumerate(events, start=1):
        where = f"delivery {delivery_id} event {index}"
        if not isinstance(event, dict) or set(event) != EVENT_FIELDS:
            raise EvidenceTampered(
                DELIVERIES, f"{where}: not an event ({', '.join(sorted(EVENT_FIELDS))})", line=line
            )
        if event["state"] is not None and event["state"] not in _STATES:
            raise EvidenceTampered(DELIVERIES, f"{where}: unknown state {event['state']!r}", line=line)
        if not isinstance(event["provider"], str):
            raise EvidenceTampered(DELIVERIES, f"{where}: provider is not a name", line=line)
        for key in ("provider_status", "copy_id"):
            if event[key] is not None and not isinstance(event[key], str):
                raise EvidenceTampered(DELIVERIES, f"{where}: {key} is not text", line=line)
        _time(event["received_at"], DELIVERIES, line, f"{where}: received_at")
        _time(event["occurred_at"], DELIVERIES, line, f"{where}: occurred_at", optional=True)
