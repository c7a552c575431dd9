"""Benchmark: what must-reach fallback costs (prints figures, asserts nothing).

    .venv/bin/python bench/fallback.py [--sizes 2000 20000]

For each size N, on SQLite in a temporary folder: stage the data-breach update to N recipients of a
must-reach audience that hears by email only (``stage_update``, as a publish does), mark every email
accepted, then

* **events**: apply a SendGrid bounce for every one of them, 1000 events per post (as the Event
  Webhook batches), each staging its SMS fallback (one audit entry per post); and, as a baseline, the same
  number of ``delivered`` events, which stage nothing;
* **sweep**: on a second store staged the same way, with a ``processed`` event for each, find all N
  still undelivered ``fallback_after`` later and stage their fallbacks
  (:func:`clarion.outbox.fallback.sweep`), then sweep again (nothing left: the cost of an idle
  every-minute sweep).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

POST = 1000


def staged(folder: Path, n: int) -> sa.Engine:
    from clarion import store
    from clarion.audiences.sources import Source
    from clarion.facts import load_facts
    from clarion.kinds import Channel, DeliveryState
    from clarion.models import Delivery, utcnow
    from clarion.models.columns import table_of
    from clarion.playbook import load_playbook
    from clarion.settings import Settings
    from clarion.updates.publish import stage_update

    data = yaml.safe_load((ROOT / "playbooks" / "data-breach.yaml").read_text())
    data["audiences"]["affected-customers"]["channels"] = ["email"]
    book = folder / "books" / "data-breach.yaml"
    book.parent.mkdir(parents=True)
    book.write_text(yaml.safe_dump(data))
    people = folder / "affected.csv"
    rows = [f"c{i},user{i}@example.com,+4915{i:09d},en," for i in range(n)]
    people.write_text("id,email,phone,locale,time_zone\n" + "\n".join(rows) + "\n")
    engine = store.make_engine(f"sqlite:///{folder / 'clarion.db'}")
    store.migrate(engine)
    playbook = load_playbook(book)
    stage_update(
        engine=engine,
        playbook=playbook,
        facts=load_facts(ROOT / "examples" / "facts" / "data-breach.yaml", playbook),
        settings=Settings(home=folder / "home", playbooks_dir=ROOT / "playbooks"),
        sources={"affected-customers": Source(csv=people)},
    )
    d = table_of(Delivery)
    with engine.begin() as connection:
        connection.execute(
            d.update()
            .where(d.c.channel == Channel.EMAIL)
            .values(state=DeliveryState.ACCEPTED, accepted_at=utcnow(), provider_id=sa.literal("msg"))
        )
    return engine


def email_ids(engine: sa.Engine) -> list[int]:
    from sqlmodel import Session, select

    from clarion.kinds import Channel
    from clarion.models import Delivery

    with Session(engine) as session:
        return [i for i in session.exec(select(Delivery.id).where(Delivery.channel == Channel.EMAIL)) if i]


def apply_events(engine: sa.Engine, ids: list[int], event: str) -> tuple[float, int]:
    from channels.email_events import apply_sendgrid_events
    from clarion import store

    started, staged = time.perf_counter(), 0
    for start in range(0, len(ids), POST):
        posted = [
            {"event": event, "sg_event_id": f"{event}-{i}", "delivery_id": str(i), "timestamp": 1_772_000_000}
            for i in ids[start : start + POST]
        ]
        with store.session_scope(engine) as session:
            staged += apply_sendgrid_events(session=session, events=posted).fallbacks
    return time.perf_counter() - started, staged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    args = parser.parse_args()
    from clarion.models import utcnow
    from clarion.outbox.fallback import sweep

    print(
        f"{'recipients':>10}  {'delivered ev/s':>14}  {'bounce ev/s':>11}  {'fallbacks':>9}  "
        f"{'sweep s':>8}  {'swept':>6}  {'idle sweep ms':>13}"
    )
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
            engine = staged(Path(one), n)
            ids = email_ids(engine)
            delivered_s, _ = apply_events(engine, ids[: n // 2], "delivered")
            bounce_s, fallbacks = apply_events(engine, ids[n // 2 :], "bounce")
            engine = staged(Path(two), n)
            apply_events(engine, email_ids(engine), "processed")  # the provider reports on each
            later = utcnow() + timedelta(hours=2, minutes=1)
            started = time.perf_counter()
            swept = sweep(engine=engine, now=later).staged
            sweep_s = time.perf_counter() - started
            started = time.perf_counter()
            sweep(engine=engine, now=later)
            idle_ms = (time.perf_counter() - started) * 1000
        half = n // 2
        print(
            f"{n:>10}  {half / delivered_s:>14,.0f}  {(n - half) / bounce_s:>11,.0f}  {fallbacks:>9}  "
            f"{sweep_s:>8.2f}  {swept:>6}  {idle_ms:>13.1f}"
        )


if __name__ == "__main__":
    main()
