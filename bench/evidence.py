"""Benchmark: an evidence pack of a large incident (prints figures, asserts nothing).

    .venv/bin/python bench/evidence.py [--sizes 100000 1000000] [--quick]

Seeds, on SQLite in a temporary folder, an incident whose one update went to N recipients by email
(one delivery each, two provider events each: processed and delivered), written in bulk with
SQLAlchemy core, and a few hundred audit entries of it and of others. Then a child process exports
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BATCH = 20_000
REFERENCE = "INC-0042"


def seed(url: str, n: int) -> None:
    import sqlalchemy as sa
    from sqlmodel import Session

    from clarion import audit, store
    from clarion.kinds import Channel, DeliveryState, IncidentStatus, UpdateState
    from clarion.models import Delivery, IncidentCreate, ProviderEvent, Recipient, Rendition, UpdateCreate
    from clarion.models.columns import table_of
    from clarion.outbox.addresses import address_key

    engine = store.make_engine(url)
    store.migrate(engine)
    now = datetime.now(UTC)
    with Session(engine, expire_on_commit=False) as session:
        incident = store.create_incident(
            session=session,
            incident_in=IncidentCreate(
                reference=REFERENCE, playbook="outage", severity="sev1", title="Bench", aware_at=now
            ),
        )
        update = store.add_update(
            session=session,
            incident=incident,
            update_in=UpdateCreate(
                status=IncidentStatus.IDENTIFIED,
                apology={"en": {"text": "Sorry.", "short": "Sorry."}},
                facts={"contact": {"email": "help@acme.example"}},
                next_update_by=now + timedelta(hours=1),
            ),
        )
        update.state, update.published_at = UpdateState.PUBLISHED, now
        rendition = Rendition(
            update_id=update.id or 0,
            channel=Channel.EMAIL,
            locale="en",
            time_zone="UTC",
            subject=f"{REFERENCE}: checkout is failing",
            body="Checkout failed for some of you. We are sorry. " * 8,
            length=400,
            measure="characters",
            carried={"reference": REFERENCE},
        )
        session.add_all([update, rendition])
        for i in range(300):  # the incident's entries, and another subject's in between
            subject = f"{REFERENCE}/update-1" if i % 3 else "INC-0041/update-1"
            audit.append(
                session=session, actor="clarion", action="bench.note", subject=subject, details={"i": i}
            )
        session.commit()
        update_id, rendition_id = update.id, rendition.id
    with engine.begin() as connection:
        for start in range(0, n, BATCH):
            ids = range(start + 1, min(n, start + BATCH) + 1)
            connection.execute(
                sa.insert(table_of(Recipient)),
                [
                    {
                        "id": i,
                        "external_id": f"c{i}",
                        "email": f"c{i}@acme.example",
                        "locale": "en",
                        "created_at": now,
                    }
                    for i in ids
                ],
            )
            connection.execute(
                sa.insert(table_of(Delivery)),
                [
                    {
                        "id": i,
                        "update_id": update_id,
                        "rendition_id": rendition_id,
                        "recipient_id": i,
                        "channel": Channel.EMAIL,
                        "audience": "affected-customers",
                        "idempotency_key": f"u{update_id}.{i}",
                        "address_key": address_key(Channel.EMAIL, f"c{i}@acme.example"),
                        "state": DeliveryState.DELIVERED,
                        "provider_id": f"sg-{i}",
                        "provider_status": "delivered",
                        "attempts": 1,
                        "first_attempt_at": now,
                        "accepted_at": now,
                        "in_doubt": False,
                        "uncertain_sends": 0,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in ids
                ],
            )
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
                    for i in ids
                    for status, state in (
                        ("processed", DeliveryState.ACCEPTED),
                        ("delivered", DeliveryState.DELIVERED),
                    )
                ],
            )
    engine.dispose()


def phase(url: str, out: str, traced: bool) -> None:
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
    done = export_pack(engine=engine, reference=REFERENCE, out=Path(out), names=Pseudonyms(), actor="bench")
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


def run(url: str, out: Path, *, traced: bool) -> dict[str, float]:
    command = [sys.executable, __file__, "--phase", url, str(out), *(["--traced"] if traced else [])]
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)  # noqa: S603
    out.unlink()
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--quick", action="store_true", help="2 000 and 20 000 deliveries (CI)")
    parser.add_argument("--phase", nargs=2, default=None, help=argparse.SUPPRESS)
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
            seed(url, n)
            seeded = time.perf_counter() - start
            plain = run(url, Path(folder) / "pack.zip", traced=False)
            traced = run(url, Path(folder) / "traced.zip", traced=True)
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
