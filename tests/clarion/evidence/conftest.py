"""An incident with everything a pack holds (:mod:`tests.clarion.evidence.world`), exported once per
test, and the tools of someone who edits a pack: rewrite a member, and fix the manifest up after."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
import sqlalchemy as sa

from clarion.evidence.export import Exported, export_pack
from clarion.evidence.manifest import MANIFEST, own_digest, sha256_hex
from clarion.evidence.pseudonyms import Pseudonyms
from clarion.settings import Settings
from tests.clarion.evidence.world import REFERENCE, World, build
from tests.helpers import PLAYBOOKS


@pytest.fixture
def world(sqlite_engine: sa.Engine, settings: Settings, tmp_path: Path) -> World:
    return build(sqlite_engine, settings, tmp_path)


Export = Callable[..., Exported]


@pytest.fixture
def export(sqlite_engine: sa.Engine, world: World, tmp_path: Path) -> Export:
    """Export INC-0042 of the world to ``name`` in the test's folder."""

    def _export(name: str = "pack.zip", *, key: bytes | None = None, **options: object) -> Exported:
        return export_pack(
            engine=sqlite_engine,
            reference=REFERENCE,
            out=tmp_path / name,
            names=Pseudonyms(key),
            actor="auditor",
            playbooks_dir=PLAYBOOKS,
            **options,  # type: ignore[arg-type]
        )

    return _export


def members(pack: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(pack) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def rewrite(pack: Path, target: Path, contents: Mapping[str, bytes]) -> Path:
    """A copy of ``pack`` whose members are ``contents`` (in that order), stored as a ZIP should be."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in contents.items():
            archive.writestr(name, data)
    return target


def resealed(contents: Mapping[str, bytes], name: str, data: bytes) -> dict[str, bytes]:
    """``contents`` with member ``name`` replaced and the manifest fixed up to match it: its sum,
    size and count, and the manifest's own digest, as someone who knows the format would."""
    changed = dict(contents)
    changed[name] = data
    manifest = json.loads(contents[MANIFEST])
    manifest["files"][name] = {"sha256": sha256_hex(data), "bytes": len(data), "records": data.count(b"\n")}
    manifest["digest"] = own_digest(manifest)
    changed[MANIFEST] = json.dumps(manifest, indent=2).encode()
    return changed


def edit_line(data: bytes, index: int, change: Callable[[dict[str, object]], None]) -> bytes:
    """The member with line ``index`` (0-based) parsed, changed, and written back as canonical JSON."""
    lines = data.splitlines(keepends=True)
    record = json.loads(lines[index])
    change(record)
    lines[index] = (
        json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
    ).encode()
    return b"".join(lines)
