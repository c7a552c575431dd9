"""``clarion demo``, the README's first command, end to end: the whole incident runs against the provider
sandbox, the report's headline is printed and its PDF written, a commitment is shipped and told, and
the incident's evidence pack is exported and verifies offline (and fails once a byte is changed).

The one slow test of its kind (a few minutes: a Prefect server, the runner, the web app and the
sandbox start in the demo's own home under the test's folder)."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from clarion.errors import EvidenceTampered
from clarion.evidence.verify import verify_pack

CLARION = str(Path(sys.executable).with_name("clarion"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    folder = tmp_path_factory.mktemp("demo")
    done = subprocess.run(
        [CLARION, "demo"], cwd=folder, capture_output=True, text=True, timeout=1200, check=False
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return done.stdout, folder / ".clarion" / "demo"


def test_the_demo_prints_the_reports_headline_and_writes_its_pdf(demo: tuple[str, Path]) -> None:
    said, home = demo
    assert "post-incident report of INC-0001" in said
    for label in ("time to first word", "promises kept", "reach", "deadlines", "commitments", "survey"):
        assert re.search(rf"^  {label} +\S", said, re.M), label
    assert re.search(r"^  commitments +2: 1 shipped on time", said, re.M)
    pdf = home / "INC-0001-report.pdf"
    text = " ".join(page.extract_text() for page in PdfReader(pdf).pages)
    assert "INC-0001" in text and "Promises kept" in text and "Commitments" in text


def test_the_demo_ships_a_commitment_and_tells_it(demo: tuple[str, Path]) -> None:
    said, _ = demo
    told = re.search(r'"you asked, we built it" went out as an update of its own: (.*)$', said, re.M)
    assert told is not None and "email: " in told.group(1) and "sms: " in told.group(1)


def test_the_demos_evidence_pack_verifies_and_a_changed_byte_does_not(
    demo: tuple[str, Path], tmp_path: Path
) -> None:
    said, home = demo
    pack = home / "INC-0001-evidence.zip"
    assert "verified offline" in said
    checked = verify_pack(pack)
    assert checked.reference == "INC-0001" and checked.deliveries > 0 and checked.audit_entries > 0
    changed = tmp_path / "changed.zip"
    with zipfile.ZipFile(pack) as source, zipfile.ZipFile(changed, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "deliveries.jsonl":
                state = next(s for s in (b'"delivered"', b'"accepted"') if s in data)
                data = data.replace(state, b'"bounced"', 1)
            target.writestr(item, data)
    with pytest.raises(EvidenceTampered, match=r"deliveries\.jsonl"):
        verify_pack(changed)


def test_the_sandbox_reports_deliveries_to_the_web_app_signed(demo: tuple[str, Path]) -> None:
    """Under the demo's stack the sandbox posts SendGrid's Event Webhook (signed with its key, which
    the web app is given) and Twilio's status callbacks: messages end delivered, not just accepted."""
    _, home = demo
    engine = sa.create_engine(f"sqlite:///{home / 'clarion.db'}")
    with engine.connect() as connection:
        delivered = dict(
            connection.execute(
                sa.text("select channel, count(*) from delivery where state = 'delivered' group by channel")
            ).all()
        )
    engine.dispose()
    assert delivered.get("email", 0) > 0 and delivered.get("sms", 0) > 0, delivered
