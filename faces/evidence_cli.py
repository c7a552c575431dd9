"""``clarion evidence``: an incident's evidence pack, written from the store and checked offline.

``clarion evidence export INC-0042 --out INC-0042.zip [--pseudonymise [--key-file F]] [--force]``
writes the pack (:mod:`clarion.evidence.export`), with a progress bar over the deliveries on a
terminal, records the export in the audit log and prints the manifest's SHA-256 to keep.
``clarion evidence verify INC-0042.zip [--manifest-sha256 HEX]`` checks it with no store at all
(:mod:`clarion.evidence.verify`) and names the first thing that does not match. Both exit 2 when the
input is wrong: a malformed reference, an unknown incident, an ``--out`` that exists or cannot be
written, a pack that does not verify. Heavy modules are imported inside the commands.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from faces.console import EXIT_INPUT, err, errors_to_exit, fail, out
from faces.survey_cli import By, _login

evidence_app = typer.Typer(
    help="Evidence packs: whom an incident told, what, and when, in a ZIP that verifies offline.",
    no_args_is_help=True,
)


def spaced(number: int) -> str:
    """``8 412``: thousands apart, as a person reads a count aloud."""
    return f"{number:,}".replace(",", " ")


@evidence_app.command("export")
def export(
    reference: Annotated[str, typer.Argument(help='The incident, e.g. "INC-0042".')],
    pack: Annotated[Path, typer.Option("--out", "-o", help="The ZIP file to write.", dir_okay=False)],
    pseudonymise: Annotated[
        bool,
        typer.Option("--pseudonymise", help="People as keyed hashes (p:…): addresses, numbers, ids, names."),
    ] = False,
    key_file: Annotated[
        Path | None,
        typer.Option("--key-file", help="The pseudonyms' key (default: derived from the signing key)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace --out when it exists.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
    by: By = None,
) -> None:
    """Write an incident's evidence pack; print the manifest's SHA-256 to record."""
    if key_file is not None and not pseudonymise:
        raise fail("--key-file: only with --pseudonymise", EXIT_INPUT)
    with errors_to_exit():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from clarion import store
        from clarion.errors import NotFound
        from clarion.evidence.export import check_reference, export_pack
        from clarion.evidence.pseudonyms import Pseudonyms, key_from_file, key_from_settings
        from clarion.settings import get_settings

        check_reference(reference)
        engine = store.get_engine()
        if not store.exists(engine):
            raise NotFound("incident", reference)  # no store yet: nothing was declared here
        settings = get_settings()
        key = None
        if pseudonymise:
            key = key_from_file(key_file) if key_file is not None else key_from_settings(settings)
        bar = Progress(
            TextColumn("deliveries"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            disable=not (progress and err.is_terminal),
            transient=True,
        )
        task = bar.add_task("deliveries", total=None)
        with bar:
            done = export_pack(
                engine=store.require_current(engine),
                reference=reference,
                out=pack,
                names=Pseudonyms(key),
                actor=by or _login(),
                force=force,
                playbooks_dir=settings.playbooks_dir,
                progress=lambda written, total: bar.update(task, completed=written, total=total),
            )
    withheld = f" ({done.withheld} withheld: they name someone)" if pseudonymise else ""
    out.print(
        f"wrote {pack}: {spaced(done.counts['deliveries.jsonl'])} deliveries, "
        f"{spaced(done.counts['audit.jsonl'])} audit entries{withheld}",
        markup=False,
    )
    out.print(f"manifest sha256 {done.manifest_sha256}", markup=False)
    out.print(
        "record it: `clarion evidence verify FILE --manifest-sha256 <it>` shows a pack is this one",
        markup=False,
    )


@evidence_app.command("verify")
def verify(
    pack: Annotated[Path, typer.Argument(help="The evidence pack (ZIP).", dir_okay=False)],
    manifest_sha256: Annotated[
        str | None,
        typer.Option(
            "--manifest-sha256", help="The manifest's SHA-256 recorded at export: proves it is that pack."
        ),
    ] = None,
) -> None:
    """Check a pack offline: every sum, every rendition's text, every delivery, the audit chain."""
    from clarion.errors import EvidenceTampered, EvidenceUnreadable
    from clarion.evidence.verify import verify_pack

    if manifest_sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", manifest_sha256):
        raise fail("--manifest-sha256: 64 hex digits, as `clarion evidence export` prints them", EXIT_INPUT)
    try:
        report = verify_pack(pack, expected_manifest=manifest_sha256)
    except EvidenceTampered as exc:
        raise fail(f"evidence TAMPERED: {exc}", EXIT_INPUT) from exc
    except EvidenceUnreadable as exc:
        raise fail(f"evidence unreadable: {exc}", EXIT_INPUT) from exc
    out.print(
        f"evidence intact: {report.files} files, {spaced(report.deliveries)} deliveries, "
        f"{spaced(report.audit_entries)} audit entries; manifest sha256 {report.manifest_sha256}",
        markup=False,
    )
    if report.pseudonymised:
        out.print(
            f"pseudonymised: {spaced(report.withheld)} audit entries of {report.reference} withheld "
            "(they name someone; their hashes still link the chain)",
            markup=False,
        )
    if manifest_sha256 is None:
        out.print(
            "the sums prove the pack is whole, not that it is the one exported: "
            "compare the manifest sha256 with the one recorded at export",
            markup=False,
        )
