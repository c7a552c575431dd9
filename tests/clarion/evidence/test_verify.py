"""Verifying a pack offline: it passes whole, and names the first thing an edit broke, even when the
editor fixed the manifest up so that only the deeper checks can see it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clarion.errors import EvidenceTampered, EvidenceUnreadable
from clarion.evidence.manifest import FILES, MANIFEST
from clarion.evidence.verify import verify_pack
from tests.clarion.evidence.conftest import Export, edit_line, members, resealed, rewrite


@pytest.fixture
def pack(export: Export) -> Path:
    return export().path


def tampered(pack: Path, contents: dict[str, bytes]) -> EvidenceTampered:
    with pytest.raises(EvidenceTampered) as caught:
        verify_pack(rewrite(pack, pack.with_name("tampered.zip"), contents))
    return caught.value


def flip(data: bytes) -> bytes:
    """One byte in the middle of ``data``, its lowest bit flipped."""
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]


def test_a_whole_pack_verifies(pack: Path) -> None:
    report = verify_pack(pack)

    assert report.files == 9 and report.deliveries > 0 and report.audit_entries > 0
    assert report.withheld == 0 and not report.pseudonymised


def test_a_pack_rewritten_unchanged_still_verifies(pack: Path) -> None:
    copy = rewrite(pack, pack.with_name("copy.zip"), members(pack))

    assert verify_pack(copy).manifest_sha256 == verify_pack(pack).manifest_sha256


@pytest.mark.parametrize("name", [*FILES, MANIFEST])
def test_one_flipped_byte_is_named_in_any_member(pack: Path, name: str) -> None:
    contents = members(pack)
    contents[name] = flip(contents[name])

    assert tampered(pack, contents).member == name


def test_a_removed_delivery_line_is_named(pack: Path) -> None:
    contents = members(pack)
    contents["deliveries.jsonl"] = b"".join(contents["deliveries.jsonl"].splitlines(keepends=True)[1:])

    assert str(tampered(pack, contents)) == "deliveries.jsonl: SHA-256 differs from the manifest"


def test_a_removed_delivery_line_is_found_with_the_manifest_fixed_up(pack: Path) -> None:
    contents = members(pack)
    shorter = b"".join(contents["deliveries.jsonl"].splitlines(keepends=True)[1:])

    error = tampered(pack, resealed(contents, "deliveries.jsonl", shorter))
    assert error.member == "deliveries.jsonl"
    assert "update 1 has" in error.reason and "updates.jsonl says" in error.reason


def test_an_edited_rendition_is_found_by_its_own_hash(pack: Path) -> None:
    contents = members(pack)
    edited = edit_line(contents["renditions.jsonl"], 2, lambda r: r.update(body="Nothing happened."))

    error = tampered(pack, resealed(contents, "renditions.jsonl", edited))
    assert (error.member, error.line) == ("renditions.jsonl", 3)
    assert error.reason.endswith("text does not match its SHA-256")


def test_an_edited_audit_entry_is_found_by_the_chain(pack: Path) -> None:
    contents = members(pack)
    edited = edit_line(contents["audit.jsonl"], 0, lambda e: e.update(actor="somebody-else@example.com"))

    error = tampered(pack, resealed(contents, "audit.jsonl", edited))
    assert (error.member, error.line) == ("audit.jsonl", 1)
    assert "hash does not match its content" in error.reason


def test_a_removed_audit_stub_breaks_the_links(pack: Path) -> None:
    contents = members(pack)
    entries = contents["audit.jsonl"].splitlines(keepends=True)
    stub = next(i for i, line in enumerate(entries) if b'"subject"' not in line)
    shorter = b"".join(entries[:stub] + entries[stub + 1 :])

    error = tampered(pack, resealed(contents, "audit.jsonl", shorter))
    assert error.line == stub + 1 and "does not follow the line before it" in error.reason


def test_a_delivery_moved_to_another_rendition_is_named(pack: Path) -> None:
    contents = members(pack)
    edited = edit_line(contents["deliveries.jsonl"], 0, lambda d: d.update(rendition_id=999_999))

    error = tampered(pack, resealed(contents, "deliveries.jsonl", edited))
    assert (error.line, error.member) == (1, "deliveries.jsonl")
    assert "names rendition 999999" in error.reason


def test_a_malformed_event_is_named(pack: Path) -> None:
    contents = members(pack)

    def drop_time(delivery: dict[str, object]) -> None:
        events = delivery["events"]
        assert isinstance(events, list) and events
        events[0]["received_at"] = "yesterday"

    edited = edit_line(contents["deliveries.jsonl"], 0, drop_time)
    error = tampered(pack, resealed(contents, "deliveries.jsonl", edited))
    assert error.line == 1 and "event 1: received_at" in error.reason


def test_a_member_that_is_not_json_is_named_not_a_traceback(pack: Path) -> None:
    contents = members(pack)

    error = tampered(pack, resealed(contents, "approvals.jsonl", b"not json at all\n"))
    assert (error.member, error.line) == ("approvals.jsonl", 1) and error.reason.startswith("not JSON")


def test_an_added_or_missing_member_is_named(pack: Path) -> None:
    contents = members(pack)
    assert tampered(pack, {**contents, "extra.txt": b"hello"}).member == "extra.txt"
    del contents["commitments.jsonl"]
    assert str(tampered(pack, contents)) == (
        "commitments.jsonl: is listed in the manifest but missing from the ZIP"
    )


def test_the_recorded_manifest_sum_must_match(pack: Path) -> None:
    with pytest.raises(EvidenceTampered, match="recorded at export") as caught:
        verify_pack(pack, expected_manifest="0" * 64)
    assert caught.value.member == MANIFEST
    assert verify_pack(pack, expected_manifest=verify_pack(pack).manifest_sha256).files == 9


def test_what_is_not_a_pack_is_said_plainly(tmp_path: Path, pack: Path) -> None:
    (tmp_path / "notes.zip").write_text("just text")
    with pytest.raises(EvidenceUnreadable, match="not a ZIP file"):
        verify_pack(tmp_path / "notes.zip")
    with pytest.raises(EvidenceUnreadable, match="no such file"):
        verify_pack(tmp_path / "missing.zip")
    contents = members(pack)
    del contents[MANIFEST]
    with pytest.raises(EvidenceUnreadable, match=r"no manifest\.json"):
        verify_pack(rewrite(pack, tmp_path / "bare.zip", contents))
    manifest = json.loads(members(pack)[MANIFEST])
    manifest["format"] = "someone-else/2"
    with pytest.raises(EvidenceUnreadable, match="not a pack this clarion reads"):
        verify_pack(
            rewrite(pack, tmp_path / "other.zip", {**contents, MANIFEST: json.dumps(manifest).encode()})
        )
