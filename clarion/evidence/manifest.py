"""The pack's shape: its members, how a record is written, and the manifest that lists them.

Every member but the manifest is JSON lines: one record per line, each a JSON object with sorted
keys, no insignificant white space, UTF-8, ``\\n`` after every record (``incident.json`` is one such
line). A record's times are ISO 8601 in UTC with microseconds, as the audit log hashes them.

:class:`MemberWriter` writes records straight into a ZIP member while hashing and counting them, so
no member is ever held in memory. The manifest lists, for every other member, its SHA-256, its size in
bytes and its number of records, and carries a ``digest`` of its own content (everything but that
field, as canonical JSON): an edit of the manifest itself that leaves it valid JSON is named as such
instead of passing for a change of the member whose sum it touched. Anyone can recompute every sum
of a pack, that digest included: only the manifest's SHA-256 recorded elsewhere at export time (the
CLI prints it; the audit entry ``evidence.exported`` keeps it) shows a pack is the one exported.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any
from zipfile import ZipFile

from clarion.errors import EvidenceTampered, EvidenceUnreadable

FORMAT = "clarion-evidence/1"
MANIFEST = "manifest.json"
INCIDENT = "incident.json"
UPDATES = "updates.jsonl"
RENDITIONS = "renditions.jsonl"
DELIVERIES = "deliveries.jsonl"
APPROVALS = "approvals.jsonl"
DEADLINES = "deadlines.jsonl"
COMMITMENTS = "commitments.jsonl"
AUDIT = "audit.jsonl"
FILES = (INCIDENT, UPDATES, RENDITIONS, DELIVERIES, APPROVALS, DEADLINES, COMMITMENTS, AUDIT)
"""Every member the manifest lists, in the order verification reads them."""
MAX_MANIFEST_BYTES = 1 << 20
_FLUSH_BYTES = 1 << 16
_SHA256 = re.compile(r"[0-9a-f]{64}")


def iso(moment: datetime | None) -> str | None:
    """A time as every record writes it (and as :func:`clarion.audit.canonical_json` hashes it)."""
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="microseconds")


def record_line(record: Mapping[str, Any]) -> bytes:
    """One record as its line: canonical JSON and a newline."""
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parsed_lines(member: Iterable[bytes], name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """The records of a member as (line number from 1, object); :class:`EvidenceTampered` naming
    the first line that is not a JSON object."""
    for number, data in enumerate(member, start=1):
        try:
            record = json.loads(data)
        except ValueError as exc:
            raise EvidenceTampered(name, f"not JSON: {exc}", line=number) from None
        if not isinstance(record, dict):
            raise EvidenceTampered(name, "not a JSON object", line=number)
        yield number, record


@dataclass(frozen=True)
class FileSum:
    """What the manifest says of one member."""

    sha256: str
    bytes: int
    records: int

    def as_dict(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "bytes": self.bytes, "records": self.records}


class MemberWriter:
    """Records written into one ZIP member as they come, hashed and counted on the way; use it in a
    ``with`` block and :meth:`close` it for its sum."""

    def __init__(self, archive: ZipFile, name: str) -> None:
        self.name = name
        self._file: IO[bytes] = archive.open(name, "w", force_zip64=True)
        self._hash = hashlib.sha256()
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self.size = 0
        self.records = 0

    def write(self, record: Mapping[str, Any]) -> None:
        data = record_line(record)
        self._pending.append(data)
        self._pending_bytes += len(data)
        self.records += 1
        if self._pending_bytes >= _FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        chunk = b"".join(self._pending)
        self._pending.clear()
        self._pending_bytes = 0
        self._hash.update(chunk)
        self._file.write(chunk)
        self.size += len(chunk)

    def close(self) -> FileSum:
        self._flush()
        self._file.close()
        return FileSum(self._hash.hexdigest(), self.size, self.records)

    def __enter__(self) -> MemberWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        """On an error, let go of the member (the ZIP cannot close while a member is open; the
        error, not that, is what the caller must see)."""
        if kind is not None and not self._file.closed:
            self._file.close()


# ── the manifest ──────────────────────────────────────────────────────────────────────────────────


@dataclass
class Manifest:
    """The manifest's content. ``audit`` describes the audit slice (first and last entry, how many in
    full, as stubs and withheld, and the log's head at export time); ``notes`` say in words what the
    pack leaves out."""

    clarion_version: str
    reference: str
    exported_at: str
    pseudonymised: bool
    files: dict[str, FileSum]
    audit: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    format: str = FORMAT

    def content(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "clarion_version": self.clarion_version,
            "reference": self.reference,
            "exported_at": self.exported_at,
            "pseudonymised": self.pseudonymised,
            "files": {name: self.files[name].as_dict() for name in FILES if name in self.files},
            "audit": self.audit,
            "notes": self.notes,
        }

    def to_bytes(self) -> bytes:
        """The manifest as written: readable (indented), with its own digest last."""
        content = self.content()
        content["digest"] = own_digest(content)
        return (json.dumps(content, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def own_digest(content: Mapping[str, Any]) -> str:
    """The SHA-256 of the manifest's content without its ``digest`` field, as canonical JSON."""
    rest = {key: value for key, value in content.items() if key != "digest"}
    return sha256_hex(record_line(rest))


def parse_manifest(data: bytes) -> Manifest:
    """The manifest of a pack; :class:`EvidenceUnreadable` for another format, and
    :class:`EvidenceTampered` naming what is wrong with one of this format."""
    try:
        content = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise EvidenceTampered(MANIFEST, f"not JSON: {exc}") from None
    if not isinstance(content, dict):
        raise EvidenceTampered(MANIFEST, "not a JSON object")
    if content.get("format") != FORMAT:
        raise EvidenceUnreadable(
            f"{MANIFEST}: format {content.get('format')!r} is not {FORMAT!r}: not a pack this clarion reads"
        )
    if content.get("digest") != own_digest(content):
        raise EvidenceTampered(MANIFEST, "its content does not match its own digest (it was edited)")
    files = content.get("files")
    if not isinstance(files, dict):
        raise EvidenceTampered(MANIFEST, "files: not an object")
    return Manifest(
        clarion_version=_text(content, "clarion_version"),
        reference=_text(content, "reference"),
        exported_at=_text(content, "exported_at"),
        pseudonymised=_flag(content, "pseudonymised"),
        files={str(name): _file_sum(name, value) for name, value in files.items()},
        audit=_object(content, "audit"),
        notes=[str(note) for note in content.get("notes") or []],
    )


def _text(content: Mapping[str, Any], key: str) -> str:
    value = content.get(key)
    if not isinstance(value, str):
        raise EvidenceTampered(MANIFEST, f"{key}: not a string")
    return value


def _flag(content: Mapping[str, Any], key: str) -> bool:
    value = content.get(key)
    if not isinstance(value, bool):
        raise EvidenceTampered(MANIFEST, f"{key}: not true or false")
    return value


def _object(content: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = content.get(key)
    if not isinstance(value, dict):
        raise EvidenceTampered(MANIFEST, f"{key}: not an object")
    return value


def _file_sum(name: object, value: object) -> FileSum:
    if not isinstance(value, dict):
        raise EvidenceTampered(MANIFEST, f"files.{name}: not an object")
    sha, size, records = value.get("sha256"), value.get("bytes"), value.get("records")
    if not (isinstance(sha, str) and _SHA256.fullmatch(sha)):
        raise EvidenceTampered(MANIFEST, f"files.{name}.sha256: not 64 hex digits")
    for key, number in (("bytes", size), ("records", records)):
        if not isinstance(number, int) or isinstance(number, bool) or number < 0:
            raise EvidenceTampered(MANIFEST, f"files.{name}.{key}: not a count")
    assert isinstance(size, int) and isinstance(records, int)
    return FileSum(sha, size, records)
