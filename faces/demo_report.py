"""What the demo prints of the post-incident report: its headline figures, and the PDF it writes.

The figures come from the store as the resolution left it (:mod:`clarion.review`), as of the
incident's clock; the PDF goes beside the demo's store, and its path is printed. Without Pango
the demo says so in one line and goes on.
"""

from __future__ import annotations

from typing import Any

from faces.console import console

out = console()


def print_report(engine: Any, reference: str) -> None:
    """The report's headline, then where its PDF is (or why there is none)."""
    from sqlmodel import Session

    from clarion.errors import PdfUnavailable
    from clarion.incidents.clock import IncidentClock
    from clarion.review.figures import review
    from clarion.review.headline import headline
    from clarion.review.pdf import review_pdf
    from clarion.settings import get_settings
    from clarion.store import get_incident

    settings = get_settings()
    with Session(engine) as session:
        incident = get_incident(session=session, reference=reference)
        now = IncidentClock(incident.declared_at, settings.time_scale).now()
        found = review(session=session, incident=incident, now=now, time_scale=settings.time_scale)
    out.print("")
    out.print(f"post-incident report of {reference} (`clarion report {reference}`):", markup=False)
    for label, text in headline(found):
        out.print(f"  {label.lower():<19} {text}", markup=False)
    path = settings.home / f"{reference}-report.pdf"
    try:
        path.write_bytes(review_pdf(found))
    except PdfUnavailable as exc:
        out.print(f"  no PDF: {exc}", markup=False)
        return
    out.print(f"  PDF                 {path}", markup=False)


def print_evidence(engine: Any, reference: str) -> None:
    """Export the incident's evidence pack beside the store, verify it offline, and say both."""
    from clarion.errors import ClarionError
    from clarion.evidence.export import export_pack
    from clarion.evidence.pseudonyms import Pseudonyms
    from clarion.evidence.verify import verify_pack
    from clarion.settings import get_settings

    settings = get_settings()
    path = settings.home / f"{reference}-evidence.zip"
    try:
        made = export_pack(
            engine=engine,
            reference=reference,
            out=path,
            names=Pseudonyms(),
            actor="demo",
            force=True,
            playbooks_dir=settings.playbooks_dir,
        )
        checked = verify_pack(path, expected_manifest=made.manifest_sha256)
    except ClarionError as exc:
        out.print(f"  evidence pack failed: {exc}", markup=False)
        raise
    out.print(f"  evidence pack       {path} (`clarion evidence export {reference} --out …`)", markup=False)
    out.print(
        f"  verified offline    {checked.files} files, {checked.deliveries} deliveries, "
        f"{checked.audit_entries} audit entries; manifest sha256 {checked.manifest_sha256[:16]}…",
        markup=False,
    )
