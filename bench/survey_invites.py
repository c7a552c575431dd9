"""Benchmark: staging a survey's invitations for a large incident (prints figures, asserts nothing).

    .venv/bin/python bench/survey_invites.py [--recipients 100000] [--database postgresql://…]

Seeds a resolved incident whose update reached N recipients by email (one delivery each, written
in bulk), then times :func:`clarion.surveys.invites.open_survey` (who is asked, one invitation and
its outbox notice per person, chunks of 500 per transaction) and a second run that finds everyone
invited. Each phase runs in a process of its own, so its peak RSS is its own; N/10 runs beside N, to
show how memory grows with N. SQLite by default (a file in a temporary folder); ``--database`` names
an empty PostgreSQL database instead, seeded once, so only N runs there.
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
KEY = "Zq3-vF8_kP2wLx9RtB7nYc4HmJ6sDa1E"


def seed(url: str, n: int) -> None:
    import sqlalchemy as sa
    from sqlmodel import Session

    from clarion import store
    from clarion.kinds import Channel, DeliveryState, IncidentStatus, UpdateState
    from clarion.models import Delivery, IncidentCreate, Recipient, UpdateCreate
    from clarion.models.columns import table_of

    engine = store.make_engine(url)
    store.migrate(engine)
    now = datetime.now(UTC)
    with Session(engine, expire_on_commit=False) as session:
        incident = store.create_incident(
            session=session,
            incident_in=IncidentCreate(playbook="outage", severity="major", title="Bench", aware_at=now),
        )
        update = store.add_update(
            session=session,
            incident=incident,
            update_in=UpdateCreate(
                status=IncidentStatus.RESOLVED,
                apology={"en": {"text": "Sorry.", "short": "Sorry."}},
                facts={"contact": {"email": "help@acme.example"}},
                next_update_by=now + timedelta(hours=1),
            ),
        )
        update.state, update.published_at = UpdateState.PUBLISHED, now
        session.add(update)
        session.commit()
        update_id = update.id
    with engine.begin() as connection:
        for start in range(0, n, 10_000):
            rows = range(start, min(n, start + 10_000))
            connection.execute(
                sa.insert(table_of(Recipient)),
                [{"external_id": f"c{i}", "email": f"c{i}@acme.example", "locale": "en"} for i in rows],
            )
        ids = [row[0] for row in connection.execute(sa.select(table_of(Recipient).c.id))]
        for start in range(0, n, 10_000):
            connection.execute(
                sa.insert(table_of(Delivery)),
                [
                    {
                        "update_id": update_id,
                        "recipient_id": rid,
                        "channel": Channel.EMAIL,
                        "idempotency_key": f"u{update_id}.{rid}",
                        "state": DeliveryState.ACCEPTED,
                        "attempts": 1,
                        "in_doubt": False,
                        "uncertain_sends": 0,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for rid in ids[start : start + 10_000]
                ],
            )
    engine.dispose()


def phase(url: str) -> None:
    """One open_survey run in this process; prints its figures as JSON."""
    from pydantic import SecretStr
    from sqlmodel import Session, select

    from clarion import store
    from clarion.models import Incident
    from clarion.playbook import load_playbook
    from clarion.settings import Settings
    from clarion.surveys import invites, notices

    settings = Settings(secret_key=SecretStr(KEY), templates_dir=ROOT / "templates")
    engine = store.make_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        incident = session.exec(select(Incident)).one()
    playbook = load_playbook(ROOT / "playbooks" / "outage.yaml")
    start = time.perf_counter()
    survey = invites.open_survey(
        engine=engine,
        incident=incident,
        playbook=playbook,
        resolution=1,
        key=KEY.encode(),
        check=notices.renderer(settings, KEY.encode()),
        now=datetime.now(UTC),
    )
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "invited": survey.invited, "rss_mb": rss}))


def run(url: str) -> dict[str, float]:
    command = [sys.executable, __file__, "--phase", url]  # this very script, with our own arguments
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)  # noqa: S603
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--database", default=None, help="a PostgreSQL URL (an empty database)")
    parser.add_argument("--phase", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        phase(args.phase)
        return
    print(f"{'recipients':>10}  {'run':6}  {'seconds':>8}  {'invites/s':>10}  {'peak RSS MB':>11}")
    sizes = (args.recipients,) if args.database else (args.recipients // 10, args.recipients)
    for n in sizes:
        with tempfile.TemporaryDirectory() as folder:
            url = args.database or f"sqlite:///{folder}/bench.db"
            seed(url, n)
            for name in ("first", "again"):
                figures = run(url)
                rate = figures["invited"] / figures["seconds"] if name == "first" else 0
                seconds, rss = figures["seconds"], figures["rss_mb"]
                print(f"{n:>10,}  {name:6}  {seconds:>8.1f}  {rate:>10,.0f}  {rss:>11.0f}")


if __name__ == "__main__":
    main()
