"""Benchmark: an evidence pack of a large incident (prints figures, asserts nothing).

    .venv/bin/python bench/evidence.py [--sizes 100000 1000000] [--quick]

Seeds, on SQLite in a temporary folder, an incident whose one update went to N recipients by email
(``bench/survey_invites.py``'s seed: one delivery each, written in bulk with SQLAlchemy core), two
provider events per delivery (processed and delivered), and a few hundred audit entries of it and of
others. Then a child process exports
the pack (:func:`clarion.evidence.export.export_pack`) and verifies it
(:func:`clarion.evidence.verify.verify_pack`), so its peak RSS (``ru_maxrss``) is the export's own; a
second child repeats the export under ``tracemalloc`` for the peak of Python's own allocations (slower:
its time is not reported). The sizes print side by side, so "memory does not grow with N" can be read
off the table. ``--quick`` runs 2 000 and 20 000 (CI).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BATCH = 20_000


def seed(url: str, n: int) -> str:
    """The survey benchmark's incident (one update to N recipients by email, written in bulk), then
    what a pack reads besides: the email rendition every delivery names, two provider events per
    delivery, and audit entries of the incident among another subject's. Returns its reference."""
    import sqlalchemy as sa
    from sqlmodel import Session, select
    from survey_invites import seed as seed_deliveries  # bench/ is this script's folder

    from clarion import audit, store
    from clarion.kinds import Channel, DeliveryState
    from clarion.models import Delivery, Incident, ProviderEvent, Rendition, Update
    from clarion.models.columns import table_of

    seed_deliveries(url, n)
    engine = store.make_engine(url)
    now = datetime.now(UTC)
    with Session(engine, expire_on_commit=False) as session:
        update = session.exec(select(Update)).one()
        incident = session.get(Incident, update.incident_id)
        assert incident is not None and update.id is not None
        rendition = Rendition(
            update_id=update.id,
            channel=Channel.EMAIL,
            locale="en",
            time_zone="UTC",
            subject=f"{incident.reference}: checkout is failing",
            body="Checkout failed for some of you. We are sorry. " * 8,
            length=400,
            measure="characters",
            carried={"reference": incident.reference},
        )
        session.add(rendition)
        for i in range(300):  # the incident's entries, and another subject's in between
            subject = f"{incident.reference}/update-1" if i % 3 else "INC-9999/update-1"
            audit.append(
                session=session, actor="clarion", action="bench.note", subject=subject, details={"i": i}
            )
        session.commit()
    deliveries = table_of(Delivery)
    with engine.begin() as connection:
        connection.execute(
            sa.update(deliveries).values(
                rendition_id=rendition.id,
                state=DeliveryState.DELIVERED,
                provider_status="delivered",
                accepted_at=now,
            )
        )
        ids = [row.id for row in connection.execute(sa.select(deliveries.c.id).order_by(deliveries.c.id))]
        for start in range(0, n, BATCH):
            connection.execute(
                sa.insert(table_of(ProviderEvent)),
                [
                    {
                        "provider": "sendgrid",
                        "event_key": f"{status}-{i}",
                        "delivery_id": i,
                        "copy_id": f"copy-{i}",
                        "received_at": now,
                        "state": state,
                        "provider_status": status,
                        "occurred_at": now,
                    }
                    for i in ids[start : start + BATCH]
                    for status, state in (
                        ("processed", DeliveryState.ACCEPTED),
                        ("delivered", DeliveryState.DELIVERED),
                    )
                ],
            )
    engine.dispose()
    return incident.reference


def phase(url: str, reference: str, out: str, traced: bool) -> None:
    """One export (and, untraced, one verify) in this process; prints its figures as JSON."""
    import tracemalloc

    from clarion import store
    from clarion.evidence.export import export_pack
    from clarion.evidence.pseudonyms import Pseudonyms
    from clarion.evidence.verify import verify_pack

    engine = store.make_engine(url)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if traced:
        tracemalloc.start()
    start = time.perf_counter()
    done = export_pack(engine=engine, reference=reference, out=Path(out), names=Pseudonyms(), actor="bench")
    seconds = time.perf_counter() - start
    figures = {
        "seconds": seconds,
        "deliveries": done.counts["deliveries.jsonl"],
        "bytes": Path(out).stat().st_size,
    }
    if traced:
        figures["traced_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    else:
        start = time.perf_counter()
        verify_pack(Path(out), expected_manifest=done.manifest_sha256)
        figures["verify_seconds"] = time.perf_counter() - start
    figures["rss_before_mb"] = rss_before
    figures["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(figures))


def run(url: str, reference: str, out: Path, *, traced: bool) -> dict[str, float]:
    command = [
        sys.executable,
        __file__,
        "--phase",
        url,
        reference,
        str(out),
        *(["--traced"] if traced else []),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)  # noqa: S603
    out.unlink()
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--quick", action="store_true", help="2 000 and 20 000 deliveries (CI)")
    parser.add_argument("--phase", nargs=3, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        phase(*args.phase, traced=args.traced)
        return
    sizes = [2_000, 20_000] if args.quick else args.sizes
    columns = (
        "export s",
        "rows/s",
        "verify s",
        "pack MB",
        "RSS at start MB",
        "peak RSS MB",
        "traced peak MB",
    )
    print(f"{'deliveries':>10}  {'events':>10}  {'seed s':>7}  " + "  ".join(columns))
    for n in sizes:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{folder}/bench.db"
            start = time.perf_counter()
            reference = seed(url, n)
            seeded = time.perf_counter() - start
            plain = run(url, reference, Path(folder) / "pack.zip", traced=False)
            traced = run(url, reference, Path(folder) / "traced.zip", traced=True)
        figures = (
            f"{plain['seconds']:.1f}",
            f"{plain['deliveries'] / plain['seconds']:,.0f}",
            f"{plain['verify_seconds']:.1f}",
            f"{plain['bytes'] / 2**20:.1f}",
            f"{plain['rss_before_mb']:.0f}",
            f"{plain['rss_mb']:.0f}",
            f"{traced['traced_mb']:.1f}",
        )
        cells = "  ".join(figure.rjust(len(column)) for figure, column in zip(figures, columns, strict=True))
        print(f"{int(plain['deliveries']):>10,}  {2 * n:>10,}  {seeded:>7.1f}  {cells}", flush=True)


if __name__ == "__main__":
    main()
