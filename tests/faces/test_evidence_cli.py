"""``clarion evidence export`` and ``clarion evidence verify`` through the real command line, on a
store seeded in this test's own CLARION_HOME: one line per outcome, exit 2 for what is wrong."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
from sqlmodel import Session, col, select
from typer.testing import CliRunner, Result

from clarion import store
from clarion.models import AuditEvent
from clarion.settings import get_settings
from faces.cli import app
from tests.clarion.evidence.world import REFERENCE, build

runner = CliRunner()


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    engine = store.get_engine()
    store.migrate(engine)
    build(engine, get_settings(), tmp_path)
    return tmp_path


def run(*args: str) -> Result:
    return runner.invoke(app, list(args))


def audit_count() -> int:
    with Session(store.get_engine()) as session:
        return len(session.exec(select(AuditEvent.id)).all())


def test_export_then_verify(seeded: Path) -> None:
    pack = seeded / "INC-0042.zip"

    done = run("evidence", "export", REFERENCE, "--out", str(pack), "--by", "auditor@acme.example")
    assert done.exit_code == 0, done.output
    digest = re.search(r"^manifest sha256 ([0-9a-f]{64})$", done.stdout, re.M)
    assert digest is not None
    assert re.match(rf"wrote {re.escape(str(pack))}: \d+ deliveries, \d+ audit entries\n", done.stdout)
    with Session(store.get_engine()) as session:
        last = session.exec(select(AuditEvent).order_by(col(AuditEvent.id).desc())).first()
    assert last is not None and last.details["manifest_sha256"] == digest.group(1)
    assert last.actor == "auditor@acme.example"

    checked = run("evidence", "verify", str(pack), "--manifest-sha256", digest.group(1))
    assert checked.exit_code == 0, checked.output
    assert re.fullmatch(
        rf"evidence intact: 9 files, \d+ deliveries, \d+ audit entries; manifest sha256 {digest.group(1)}\n",
        checked.stdout,
    )


def test_a_tampered_pack_is_named_and_exits_2(seeded: Path) -> None:
    pack = seeded / "pack.zip"
    assert run("evidence", "export", REFERENCE, "-o", str(pack)).exit_code == 0
    with zipfile.ZipFile(pack) as archive:
        contents = {name: archive.read(name) for name in archive.namelist()}
    contents["deliveries.jsonl"] = contents["deliveries.jsonl"].replace(b'"bounced"', b'"delivered"', 1)
    tampered = seeded / "tampered.zip"
    with zipfile.ZipFile(tampered, "w") as archive:
        for name, data in contents.items():
            archive.writestr(name, data)

    done = run("evidence", "verify", str(tampered))
    assert done.exit_code == 2
    assert done.output == "evidence TAMPERED: deliveries.jsonl: SHA-256 differs from the manifest\n"


def test_the_wrong_recorded_sum_is_named(seeded: Path) -> None:
    pack = seeded / "pack.zip"
    assert run("evidence", "export", REFERENCE, "-o", str(pack)).exit_code == 0

    done = run("evidence", "verify", str(pack), "--manifest-sha256", "ab" * 32)
    assert done.exit_code == 2 and done.output.startswith("evidence TAMPERED: manifest.json: its SHA-256 is")
    assert run("evidence", "verify", str(pack), "--manifest-sha256", "nope").exit_code == 2


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("INC-0099", "no incident 'INC-0099'\n"),
        ("INC42", "reference: 'INC42' is not INC- and four digits (INC-0042)\n"),
    ],
)
def test_what_cannot_be_exported_writes_nothing(seeded: Path, reference: str, message: str) -> None:
    folder = seeded / "out"
    folder.mkdir()
    before = audit_count()

    done = run("evidence", "export", reference, "--out", str(folder / "x.zip"))
    assert (done.exit_code, done.output) == (2, message)
    assert list(folder.iterdir()) == [] and audit_count() == before


def test_an_existing_or_unwritable_out_is_refused(seeded: Path) -> None:
    existing = seeded / "there.zip"
    existing.write_bytes(b"mine")

    done = run("evidence", "export", REFERENCE, "--out", str(existing))
    assert done.exit_code == 2 and "exists already" in done.output and len(done.output.splitlines()) == 1
    assert existing.read_bytes() == b"mine"
    done = run("evidence", "export", REFERENCE, "--out", str(seeded / "no" / "such" / "x.zip"))
    assert done.exit_code == 2 and "does not exist" in done.output
    assert run("evidence", "export", REFERENCE, "--out", str(existing), "--force").exit_code == 0


def test_an_unknown_incident_without_a_store_is_still_exit_2(tmp_path: Path) -> None:
    done = run("evidence", "export", REFERENCE, "--out", str(tmp_path / "x.zip"))
    assert (done.exit_code, done.output) == (2, f"no incident {REFERENCE!r}\n")
    assert not (tmp_path / "x.zip").exists()


def test_a_pseudonymised_export_says_what_it_withheld(seeded: Path) -> None:
    pack = seeded / "pseudo.zip"

    done = run("evidence", "export", REFERENCE, "-o", str(pack), "--pseudonymise")
    assert done.exit_code == 0, done.output
    assert re.search(r"audit entries \(\d+ withheld: they name someone\)", done.stdout)
    checked = run("evidence", "verify", str(pack))
    assert checked.exit_code == 0
    assert re.search(rf"pseudonymised: \d+ audit entries of {REFERENCE} withheld", checked.stdout)
    assert run("evidence", "export", REFERENCE, "-o", str(pack), "--key-file", "k").exit_code == 2


def test_what_is_not_a_pack_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "x.zip").write_text("hello")
    done = run("evidence", "verify", str(tmp_path / "x.zip"))
    assert done.exit_code == 2
    assert done.output.startswith("evidence unreadable: ") and "not a ZIP file" in done.output
    assert len(done.output.splitlines()) == 1
