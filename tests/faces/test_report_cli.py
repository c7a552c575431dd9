"""``clarion report``: through the real command line (``faces.cli.app``) on a store seeded in this
test's own CLARION_HOME with the incident of known timings (:mod:`tests.clarion.review.review_world`)."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner, Result

from clarion import store
from clarion.models import utcnow
from clarion.review import pdf
from clarion.review.figures import Review
from clarion.review.jsonform import from_json
from faces.cli import app
from tests.clarion.review.review_world import known_incident

runner = CliRunner()


@pytest.fixture
def seeded() -> str:
    engine = store.get_engine()
    store.migrate(engine)
    return known_incident(engine)


def run(*args: str) -> Result:
    return runner.invoke(app, list(args))


def test_the_report_is_markdown_by_default(seeded: str) -> None:
    done = run("report", seeded)
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith("# INC-0042 post-incident report: Checkout is failing\n")
    assert "- **Time to first word**: 0h 40m (first message accepted 2026-03-02 08:40 UTC)" in done.stdout
    assert "- **Promises kept**: 2 of 3 (67 %), worst lateness 0h 25m" in done.stdout


def test_json_reads_back_as_the_figures(seeded: str) -> None:
    done = run("report", seeded, "--format", "json")
    assert done.exit_code == 0, done.output
    found = from_json(Review, json.loads(done.stdout))
    assert (found.first_word.after, found.promises.worst_late_by) == (
        timedelta(minutes=40),
        timedelta(minutes=25),
    )
    assert (found.reach.audience, found.reach.reached) == (5, 2)


def test_html_to_a_file(seeded: str, tmp_path: Path) -> None:
    done = run("report", seeded, "--format", "html", "--out", str(tmp_path / "r.html"))
    assert done.exit_code == 0, done.output
    assert '<h1><span class="reference">INC-0042</span> · Checkout is failing</h1>' in (
        tmp_path / "r.html"
    ).read_text(encoding="utf-8")


def test_a_pdf_goes_to_the_current_folder_by_default(
    seeded: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    done = run("report", seeded, "--format", "pdf")
    assert done.exit_code == 0, done.output
    written = tmp_path / "INC-0042-report.pdf"
    assert done.stdout.strip() == str(written)
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(written.read_bytes())).pages)
    assert "Reach 2 of 5 affected recipients (40 %) received at least one message" in " ".join(text.split())


def test_without_pango_one_line_says_what_to_install(seeded: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf, "pango_missing", lambda: "libpangoft2-1.0.so.0")
    done = run("report", seeded, "--format", "pdf", "--out", "never.pdf")
    assert done.exit_code == 1
    assert done.stderr == (
        "error: PDF needs Pango (libpangoft2-1.0.so.0 is missing): apt-get install libpango-1.0-0 "
        "libpangoft2-1.0-0 fonts-dejavu-core\n"
    )
    assert not Path("never.pdf").exists()


@pytest.mark.parametrize("args", [("INC-9999",), ("INC-42",), ()])
def test_an_unknown_incident_is_one_line_and_exit_2(seeded: str, args: tuple[str, ...]) -> None:
    done = run("report", *args)
    assert done.exit_code == 2
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.output


def test_the_trend_since_a_window(seeded: str) -> None:
    engine = store.get_engine()
    known_incident(engine, reference="INC-0100", title="Logins failed", start=utcnow() - timedelta(days=20))
    known_incident(engine, reference="INC-0101", title="Exports slow", start=utcnow() - timedelta(days=5))

    done = run("report", "--since", "30d")
    assert done.exit_code == 0, done.output
    assert "| INC-0100 | Logins failed |" in done.stdout and "| INC-0101 | Exports slow |" in done.stdout
    assert "INC-0042" not in done.stdout  # declared in March
    assert "Medians over 2 incidents: first word 0h 40m, promises kept 67 %, reach 40 %." in done.stdout
    data = json.loads(run("report", "--since", "30d", "--format", "json").stdout)
    assert [row["reference"] for row in data["rows"]] == ["INC-0100", "INC-0101"]
    assert data["median_first_word"] == 2400.0
    refused = run("report", "--since", "a while")
    assert refused.exit_code == 2 and "not a duration" in refused.stderr
