"""Exporting a pack: what it holds, that it verifies, and that a refused or interrupted export leaves
nothing behind, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from clarion import audit
from clarion.errors import InputError, NotFound
from clarion.evidence import deliveries
from clarion.evidence.export import ACTION, export_pack
from clarion.evidence.manifest import FILES, MANIFEST, sha256_hex
from clarion.evidence.pseudonyms import Pseudonyms
from clarion.evidence.records import text_sha256
from clarion.evidence.verify import verify_pack
from clarion.kinds import DeliveryState
from clarion.models import AuditEvent, Delivery, ProviderEvent, Rendition
from clarion.settings import Settings
from tests.clarion.evidence.conftest import Export, members
from tests.clarion.evidence.world import OTHER, REFERENCE, World, build
from tests.helpers import PLAYBOOKS


def lines(data: bytes) -> list[dict[str, object]]:
    return [json.loads(line) for line in data.splitlines()]


def audit_entries(engine: sa.Engine) -> list[AuditEvent]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEvent).order_by(col(AuditEvent.id))))


def test_the_pack_holds_whom_we_told_what_and_when(
    sqlite_engine: sa.Engine, world: World, export: Export, tmp_path: Path
) -> None:
    done = export()
    pack = members(done.path)

    assert sorted(pack) == sorted([*FILES, MANIFEST])
    assert done.manifest_sha256 == sha256_hex(pack[MANIFEST])
    (incident,) = lines(pack["incident.json"])
    assert incident["reference"] == REFERENCE and incident["playbook"] == "data-breach"
    (update,) = lines(pack["updates.jsonl"])
    assert update["state"] == "published" and update["approvals_needed"] == ["legal", "dpo"]
    with Session(sqlite_engine) as session:
        stored = {r.id: r for r in session.exec(select(Rendition))}
        in_store = session.exec(select(Delivery).where(Delivery.update_id == world.update_id)).all()
        events = session.exec(select(ProviderEvent)).all()
    renditions = lines(pack["renditions.jsonl"])
    assert {r["id"] for r in renditions} == set(stored)
    for rendition in renditions:
        assert rendition["body"] == stored[rendition["id"]].body  # type: ignore[index]
        assert rendition["thread"] == stored[rendition["id"]].thread  # type: ignore[index]
        assert rendition["sha256"] == text_sha256(rendition)
    sent = lines(pack["deliveries.jsonl"])
    of_update = [d for d in sent if d["update"] == 1]
    assert len(of_update) == len(in_store) == update["deliveries"]
    assert sum(len(d["events"]) for d in sent) == len(events)  # type: ignore[arg-type,misc]
    bounced = next(d for d in sent if d["state"] == DeliveryState.BOUNCED)
    assert [e["provider_status"] for e in bounced["events"]] == ["processed", "bounce"]  # type: ignore[attr-defined]
    assert all(e["occurred_at"] and e["received_at"] for e in bounced["events"])  # type: ignore[attr-defined]
    address = bounced["recipient"]["address"]  # type: ignore[index]
    assert re.fullmatch(r"person\.\d+@customers\.example", address)  # the person's own address
    assert f"<{address}>" in bounced["error_detail"]  # type: ignore[operator]
    notices = [d for d in sent if d["notice"] is not None]
    assert notices and all(d["notice"]["about"] == f"{REFERENCE}/update-1" for d in notices)  # type: ignore[index]
    assert {a["role"] for a in lines(pack["approvals.jsonl"])} == {"legal", "dpo"}
    stages = {(d["regime"], d["stage"]): d for d in lines(pack["deadlines.jsonl"])}
    assert stages["gdpr-art33", "initial"]["submissions"][0]["reference"] == "SA-2026-123"  # type: ignore[index]
    assert stages["gdpr-art34", "data-subjects"]["overridden"] is True
    assert [c["key"] for c in lines(pack["commitments.jsonl"])] == ["C1"]


def test_the_audit_slice_shows_the_incident_and_only_stubs_of_the_rest(
    sqlite_engine: sa.Engine, world: World, export: Export
) -> None:
    before = audit_entries(sqlite_engine)
    done = export()
    slice_ = lines(members(done.path)["audit.jsonl"])

    mine = [e.id or 0 for e in before if e.subject == REFERENCE or e.subject.startswith(f"{REFERENCE}/")]
    assert [e["id"] for e in slice_] == list(range(mine[0], mine[-1] + 1))
    full = [e for e in slice_ if "subject" in e]
    assert [e["id"] for e in full] == mine
    stubs = [e for e in slice_ if "subject" not in e]
    assert stubs and all(set(e) == {"id", "prev_hash", "hash"} for e in stubs)
    other = {e.id for e in before if e.subject.startswith((OTHER, "recipient:"))}
    assert other and other <= {e["id"] for e in stubs}
    manifest = json.loads(members(done.path)[MANIFEST])
    assert manifest["audit"]["head_hash"] == before[-1].hash


def test_the_export_is_recorded_and_the_pack_verifies(sqlite_engine: sa.Engine, export: Export) -> None:
    done = export()

    report = verify_pack(done.path)
    assert report.manifest_sha256 == done.manifest_sha256 and report.files == 9
    last = audit_entries(sqlite_engine)[-1]
    assert (last.action, last.subject, last.actor) == (ACTION, f"{REFERENCE}/evidence", "auditor")
    assert last.details["manifest_sha256"] == done.manifest_sha256
    assert last.details["counts"]["deliveries.jsonl"] == report.deliveries
    assert last.details["pseudonymised"] is False
    with Session(sqlite_engine) as session:
        audit.verify(session=session)


def test_small_chunks_write_the_same_deliveries(export: Export, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = members(export("whole.zip").path)["deliveries.jsonl"]
    monkeypatch.setattr(deliveries, "CHUNK", 5)

    assert members(export("chunked.zip").path)["deliveries.jsonl"] == whole


def test_an_unknown_incident_writes_nothing_and_records_nothing(
    sqlite_engine: sa.Engine, world: World, tmp_path: Path
) -> None:
    before = len(audit_entries(sqlite_engine))
    folder = tmp_path / "out"
    folder.mkdir()
    for reference, error in (("INC-0099", NotFound), ("INC42", InputError)):
        with pytest.raises(error):
            export_pack(
                engine=sqlite_engine, reference=reference, out=folder / "x.zip", names=Pseudonyms(), actor="a"
            )
    assert list(folder.iterdir()) == []
    assert len(audit_entries(sqlite_engine)) == before


def test_an_existing_file_is_kept_unless_forced(export: Export, tmp_path: Path) -> None:
    (tmp_path / "pack.zip").write_bytes(b"keep me")

    with pytest.raises(InputError, match="exists already"):
        export()
    assert (tmp_path / "pack.zip").read_bytes() == b"keep me"
    export(force=True)
    assert verify_pack(tmp_path / "pack.zip").deliveries > 0


def test_an_unwritable_folder_is_refused(export: Export, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        export("missing/pack.zip")
    with pytest.raises(InputError, match="is a folder"):
        export(".")


def test_an_interrupted_export_leaves_nothing(
    sqlite_engine: sa.Engine, export: Export, tmp_path: Path
) -> None:
    before = len(audit_entries(sqlite_engine))

    def interrupt(written: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export(progress=interrupt)
    assert not (tmp_path / "pack.zip").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".pack.zip")]
    assert len(audit_entries(sqlite_engine)) == before


@pytest.mark.postgres
def test_a_pack_from_postgresql_verifies(pg_engine: sa.Engine, settings: Settings, tmp_path: Path) -> None:
    world = build(pg_engine, settings, tmp_path)
    done = export_pack(
        engine=pg_engine,
        reference=REFERENCE,
        out=tmp_path / "pg.zip",
        names=Pseudonyms(),
        actor="auditor",
        playbooks_dir=PLAYBOOKS,
    )

    report = verify_pack(done.path)
    with Session(pg_engine) as session:
        count = len(session.exec(select(Delivery.id).where(Delivery.update_id == world.update_id)).all())
    assert report.deliveries == count + 2  # and the two notices to legal on call (email, Teams)
    assert report.audit_entries == done.counts["audit.jsonl"] > 0
